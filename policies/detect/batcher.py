"""One detector shared by a whole serving process: every scan on one thread, the waiting ones together.

Scans are asked for from many places at once (each request's prompt screen, each stream's answer
guard). Run one by one in worker threads, they contend for the interpreter lock and each pays spaCy's
fixed cost per call. Here they queue; one thread takes every scan waiting (up to `max_batch`) and runs
them as one `Detector.scan_batch`, so under load a batch forms by itself while the previous one runs,
as the engine's continuous batching does for tokens. The first scan of a batch waits GATHER_SECONDS
for the others asked at about the same time: streams fed in one turn of the event loop reach this
thread a few milliseconds apart through the worker threads, and without the pause a burst's
first-word scans ran as two or three batches (8 clients, alternating runs: time to first token p99
248-377 -> 190-223 ms, tok/s 179-184 -> 184-195). A batch
that raises is run again scan by scan, so a text the detector fails on fails its own caller only.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from ..findings import Finding
from .detector import Detector, DetectorUnavailable, Scan

log = logging.getLogger(__name__)
MAX_BATCH = 32
GATHER_SECONDS = 0.002


@dataclass(frozen=True)
class _Ask:
    texts: Sequence[str]
    zone: str
    answer: Future[list[Scan]] = field(default_factory=Future)


class ScanBatcher:
    """`Detector`'s scanning methods for many threads and tasks at once; `close()` stops the thread."""

    def __init__(self, detector: Detector, *, max_batch: int = MAX_BATCH) -> None:
        self.detector = detector
        self._max_batch = max_batch
        self._asks: queue.SimpleQueue[_Ask | None] = queue.SimpleQueue()
        self._closed = False
        self._closing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="detector", daemon=True)
        self._thread.start()

    def submit(self, texts: Sequence[str], zone: str) -> Future[list[Scan]]:
        """`Detector.scan_messages(texts, zone)`, answered in a future (await it with `asyncio.wrap_future`)."""
        ask = _Ask(list(texts), zone)
        with self._closing:  # nothing is queued behind the stop mark, where nobody would answer it
            if self._closed:
                ask.answer.set_exception(DetectorUnavailable("the detector has been shut down"))
            else:
                self._asks.put(ask)
        return ask.answer

    def scan_messages(self, texts: Sequence[str], zone: str) -> list[Scan]:
        """`Detector.scan_messages`, waiting for the batch it runs in (never call it on an event loop)."""
        return self.submit(texts, zone).result()

    def analyze(self, text: str) -> list[Finding]:
        """`Detector.analyze`, batched likewise."""
        return self.scan_messages([text], "local")[0].original_findings

    def inert_prefix(self, text: str, *, after: str = "") -> int:
        """`Detector.inert_prefix` (word lookups, no scan: run in the caller's thread)."""
        return self.detector.inert_prefix(text, after=after)

    @property
    def running(self) -> bool:
        """Whether scans are being answered: not closed, and the detector thread alive."""
        return not self._closed and self._thread.is_alive()

    def close(self) -> None:
        """Answer what is queued, then stop; later scans fail with DetectorUnavailable."""
        with self._closing:
            self._closed = True
            self._asks.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (first := self._asks.get()) is not None:
            time.sleep(GATHER_SECONDS)
            batch, stop = [first], False
            while len(batch) < self._max_batch and not stop:
                try:
                    ask = self._asks.get_nowait()
                except queue.Empty:
                    break
                stop = ask is None
                batch += [ask] if ask is not None else []
            # an ask whose caller went away (its awaiting task cancelled) is dropped unscanned
            started = [ask for ask in batch if ask.answer.set_running_or_notify_cancel()]
            if started:
                self._answer(started)
            if stop:
                return

    def _answer(self, batch: list[_Ask]) -> None:
        """Run `batch` as one scan; if it raises, each ask alone, so only the failing one gets the error."""
        try:
            results = self.detector.scan_batch([(ask.texts, ask.zone) for ask in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].answer.set_exception(exc)
                return
            log.warning("a batch of %d scans raised %s; scanning them one by one", len(batch), type(exc).__name__)
            for ask in batch:
                self._answer([ask])
            return
        for ask, result in zip(batch, results):
            ask.answer.set_result(result)
