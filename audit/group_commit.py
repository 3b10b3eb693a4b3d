"""Group commit: many threads submit, one committer thread commits whatever is waiting as one batch.

Each submitter blocks until the batch holding its payload has been committed (or has failed), so
the cost of a transaction, its fsync and its signature is shared by everyone who arrived meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

CommitBatch = Callable[[list[Any]], Sequence[Any]]


class CommitterClosed(RuntimeError):
    """The committer has been closed; nothing more is accepted."""


class _Pending:
    """One submission: a blocked thread (lock released when settled) or an asyncio future."""

    __slots__ = ("payload", "exclusive", "future", "result", "error", "_settled")

    def __init__(
        self, payload: Any, exclusive: Callable[[], Any] | None = None, future: asyncio.Future[Any] | None = None
    ) -> None:
        self.payload = payload
        self.exclusive = exclusive
        self.future = future
        self.result: Any = None
        self.error: BaseException | None = None
        if future is None:
            self._settled = threading.Lock()
            self._settled.acquire()

    def wait(self) -> Any:
        self._settled.acquire()
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommitter:
    """Batches submissions into calls of `commit_batch(payloads) -> results` on one thread.

    `commit_batch` returns one result per payload; a result that is an exception is raised in that
    payload's submitter only. If `commit_batch` itself raises, every submitter of the batch gets the
    error. `tick` runs on the committer thread after every batch and after `tick_seconds` idle.
    """

    def __init__(
        self,
        commit_batch: CommitBatch,
        *,
        name: str,
        max_batch: int = 256,
        tick: Callable[[], None] | None = None,
        tick_seconds: float = 1.0,
    ) -> None:
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._idle = True  # whether the committer waits for work (only then is it worth waking)
        self._tick = tick
        self._tick_seconds = tick_seconds
        self._queue: deque[_Pending] = deque()
        self._wakeup = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, payload: Any) -> Any:
        """Queue `payload` for the next batch and block until that batch is committed."""
        return self._enqueue(_Pending(payload)).wait()

    def submit_future(self, payload: Any) -> asyncio.Future[Any]:
        """Like `submit`, for asyncio code: queue now, await the returned future for the result.

        Call it on the running event loop; one wakeup of that loop settles a whole batch.
        """
        future = asyncio.get_running_loop().create_future()
        self._enqueue(_Pending(payload, future=future))
        return future

    def run_exclusive(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the committer thread between batches (nothing else commits meanwhile)."""
        return self._enqueue(_Pending(None, fn)).wait()

    def close(self) -> None:
        """Commit what is queued, then stop the committer thread."""
        with self._wakeup:
            self._closing = True
            self._wakeup.notify()
        self._thread.join()

    def _enqueue(self, pending: _Pending) -> _Pending:
        with self._wakeup:
            if self._closing:
                raise CommitterClosed("the committer is closed")
            self._queue.append(pending)
            if self._idle:  # a busy committer looks at the queue again when it is done
                self._wakeup.notify()
        return pending

    def _next_batch(self) -> list[_Pending] | None:
        """Wait for work; None when closed and drained, [] after an idle timeout.

        Whatever is queued goes at once, up to `max_batch`: appenders settled by one batch resubmit while
        the next is being written, so the database's work (outside the GIL) overlaps theirs in Python.
        """
        with self._wakeup:
            if not self._queue and not self._closing:
                self._idle = True
                self._wakeup.wait(self._tick_seconds)
                self._idle = False
            if not self._queue:
                return None if self._closing else []
            if self._queue[0].exclusive is not None:
                return [self._queue.popleft()]
            batch: list[_Pending] = []
            while self._queue and len(batch) < self._max_batch and self._queue[0].exclusive is None:
                batch.append(self._queue.popleft())
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if batch:
                self._settle(batch)
            if self._tick is not None:
                try:
                    self._tick()
                except Exception:
                    logger.exception("group committer tick failed")

    def _settle(self, batch: list[_Pending]) -> None:
        try:
            if batch[0].exclusive is not None:
                results: Sequence[Any] = [batch[0].exclusive()]
            else:
                results = self._commit_batch([pending.payload for pending in batch])
        except BaseException as exc:  # every submitter of the batch must learn that it failed
            results = [exc] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for pending, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                pending.error = result
            else:
                pending.result = result
            if pending.future is None:
                pending._settled.release()
            else:
                by_loop.setdefault(pending.future.get_loop(), []).append(pending)
        for loop, pendings in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_futures, pendings)
            except RuntimeError:  # that event loop is closed: nobody is waiting any more
                pass


def _resolve_futures(pendings: list[_Pending]) -> None:
    """Runs on the submitters' event loop."""
    for pending in pendings:
        future = pending.future
        if future is None or future.cancelled():
            continue
        if pending.error is not None:
            future.set_exception(pending.error)
        else:
            future.set_result(pending.result)
