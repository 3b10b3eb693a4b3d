"""Deltas on their way from the decode thread to the event loop, all jobs in one wake-up.

Deltas are gathered per job and handed over at most once per FLUSH_SECONDS in a single
`call_soon_threadsafe` per event loop, so the serving thread does not compete with decoding token by
token; a job's first URGENT_DELTAS deltas and its end go at once (time to first token: the answer
guard scans a first word as it arrives and releases it once the token after it shows it is complete;
and the slot's next client).
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from appliance.engine.scheduler import DONE, QueuedWork
from appliance.routing.base import StreamDelta

FLUSH_SECONDS = 0.02
URGENT_DELTAS = 3


def merged(deltas: list[StreamDelta]) -> StreamDelta:
    """Consecutive deltas as one; the last one's finish reason and counts are kept."""
    last = deltas[-1]
    return StreamDelta("".join(d.text for d in deltas), last.finish_reason, last.prompt_tokens,
                       last.completion_tokens, last.tool_calls, [e for d in deltas for e in d.logprobs],
                       last.cached_prompt_tokens)


class Outbox:
    """Pending results per job; `flush` hands over what is due."""

    def __init__(self) -> None:
        self._deltas: dict[QueuedWork, list[StreamDelta]] = {}
        self._ends: dict[QueuedWork, BaseException | None] = {}
        self._added: dict[QueuedWork, int] = {}  # deltas handed in so far, per running job
        self._urgent = False
        self._last_flush = time.monotonic()

    def add(self, job: QueuedWork, deltas: list[StreamDelta]) -> None:
        if not deltas:
            return
        self._deltas.setdefault(job, []).extend(deltas)
        added = self._added[job] = self._added.get(job, 0) + 1
        if added <= URGENT_DELTAS:
            self._urgent = True

    def end(self, job: QueuedWork, error: BaseException | None = None) -> None:
        """The job is over (with `error` when it failed): its reader gets the rest, then the end."""
        self._ends[job] = error
        self._added.pop(job, None)
        self._urgent = True

    def flush(self) -> None:
        """Hand over everything pending if something is urgent or FLUSH_SECONDS have passed."""
        now = time.monotonic()
        if not (self._deltas or self._ends) or (not self._urgent and now - self._last_flush < FLUSH_SECONDS):
            return
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[QueuedWork, list[object]]]] = defaultdict(list)
        for job in {**self._deltas, **self._ends}:
            items: list[object] = [merged(self._deltas[job])] if job in self._deltas else []
            if job in self._ends:
                error = self._ends[job]
                items += [error, DONE] if error is not None else [DONE]
            per_loop[job.loop].append((job, items))
        self._deltas, self._ends, self._urgent, self._last_flush = {}, {}, False, now
        for loop, batch in per_loop.items():
            try:
                loop.call_soon_threadsafe(_put_all, batch)
            except RuntimeError:  # the event loop is gone (server shutting down): nobody is listening
                for job, _ in batch:
                    job.cancel()


def _put_all(batch: list[tuple[QueuedWork, list[object]]]) -> None:
    for job, items in batch:
        for item in items:
            job.items.put_nowait(item)
