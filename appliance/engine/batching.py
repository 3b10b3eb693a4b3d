"""Continuous batching: the generations of one chat model decode together, one token each per step.

One thread owns the model's batched context. Each loop iteration:
1. ends the sequences whose client left and starts waiting jobs in the free slots (fair turns between
   clients, `admission.py`; when nothing is running, after up to GATHER_SECONDS for jobs whose checks
   are still running, so a burst of requests starts in one prompt evaluation); a slot keeps the KV
   cells of its last prompt, so a newcomer whose prompt starts the same way (the chat template and
   system prompt, an earlier turn of the conversation) evaluates only the rest, and takes the free
   slot that shares the most with it (the lowest on a tie);
2. evaluates up to `engine.prefill_chunk` prompt tokens of the newcomers, oldest first, in one
   `llama_decode` of their own, so long prompts hold the running streams for one chunk per step at
   most (all of them go in when nothing is decoding), and samples a newcomer's first token once its
   prompt is in, and hands those first tokens over at once (the answer guard scans a first word
   while the next token, which shows the word is complete, is decoded);
3. decodes one token for every running sequence (a newcomer whose prompt just went in included) in one
   `llama_decode`, and samples each one's next token with its own sampler chain;
4. hands the deltas to the event loop (`outbox.py`).
Detection, policy and audit run on the event loop and its threads, never here.
"""
from __future__ import annotations

import itertools
import logging
import threading

from appliance.engine.admission import Admission
from appliance.engine.batch import BatchContext, DecodeFailed
from appliance.engine.outbox import Outbox
from appliance.engine.runtime import LlamaRuntime
from appliance.engine.scheduler import Job, QueuedWork
from appliance.engine.sequence import Sequence
from appliance.routing.base import BackendError

log = logging.getLogger(__name__)
GATHER_SECONDS = 0.1  # at most, and only while idle with announced jobs still being checked


class BatchWorker(Admission[QueuedWork]):
    """Runs every generation of one chat model: `slots` at once, `max_queue` more waiting."""

    def __init__(self, model_id: str, runtime: LlamaRuntime, *, slots: int, max_queue: int, retry_after: int,
                 threads: int, prefill_chunk: int) -> None:
        super().__init__(model_id, capacity=slots + max_queue, retry_after=retry_after)
        self.runtime = runtime
        self._chunk = prefill_chunk
        self._context = BatchContext(runtime.model, slots=slots, n_ctx_seq=runtime.n_ctx, n_threads=threads,
                                     max_tokens=prefill_chunk)
        self._slots: list[Sequence | None] = [None] * slots
        self._kept: list[list[int]] = [[] for _ in range(slots)]  # prompt tokens whose KV each slot still holds
        self._started = itertools.count()
        self._outbox = Outbox()
        log.info("model %s: %s", model_id, self.describe())
        self._thread = threading.Thread(target=self._run, name=f"engine-{model_id}", daemon=True)
        self._thread.start()

    def describe(self) -> str:
        """Slots, context and the KV memory they take (printed at start)."""
        return (f"{len(self._slots)} slots x {self.runtime.n_ctx} tokens of context, "
                f"KV cache {self._context.kv_bytes / 2**20:.1f} MiB")

    def _running(self) -> list[Sequence]:
        return [s for s in self._slots if s is not None]

    def _run(self) -> None:
        try:
            while self._admit():
                self._step()
                self._outbox.flush()
        except Exception:
            log.exception("the batch worker of model %s failed", self.model_id)
            raise
        finally:
            self.stop_admitting()  # nothing runs jobs any more: refuse them rather than let them wait
            for job in self.take(self.capacity, wait=False) or []:
                self._finish_unstarted(job, BackendError("the engine stopped"))
            for sequence in self._running():
                self._end(sequence, BackendError("the engine stopped before the answer was complete"))
            self._outbox.flush()
            self._context.close()

    def _admit(self) -> bool:
        """Start waiting jobs in free slots; False once stopping with nothing left to run."""
        free = [slot for slot, s in enumerate(self._slots) if s is None]
        idle = len(free) == len(self._slots)
        jobs = self.take(len(free), wait=idle)
        if jobs is None and not self._running():
            return False
        if idle and jobs and len(jobs) < len(free):
            jobs += self.gather(len(free) - len(jobs), GATHER_SECONDS)
        for job in jobs or []:
            shared = {slot: self._shared(slot, job) for slot in free}
            slot = max(free, key=lambda slot: (shared[slot], -slot))
            free.remove(slot)
            self._start(slot, job, shared[slot])
        return True

    def _shared(self, slot: int, job: QueuedWork) -> int:
        """How many of `job`'s prompt tokens lead the prompt whose KV cells `slot` keeps."""
        if not isinstance(job, Job):
            return 0
        kept, prompt = self._kept[slot], job.prompt.tokens
        return next((i for i, (a, b) in enumerate(zip(kept, prompt)) if a != b), min(len(kept), len(prompt)))

    def _start(self, slot: int, job: QueuedWork, shared: int) -> None:
        """Start `job` in `slot`, whose kept prompt leads `job`'s by `shared` tokens."""
        if job.cancelled:
            self._finish_unstarted(job, None)
            return
        try:
            assert isinstance(job, Job), "a chat model runs generation jobs only"
            reused = self._reuse(slot, min(shared, len(job.prompt.tokens) - 1))
            self._slots[slot] = Sequence(job, slot, self.runtime, next(self._started), reused=reused)
        except Exception as exc:  # e.g. a grammar llama.cpp refuses: that request fails, the others go on
            log.exception("could not start a generation on model %s", self.model_id)
            self._finish_unstarted(job, BackendError(f"could not start the generation: {exc}"))

    def _reuse(self, slot: int, kept: int) -> int:
        """Keep the slot's KV cells for the first `kept` prompt tokens it already holds (the chat template
        and system prompt, an earlier turn; never the prompt's last token, evaluated again for its logits),
        drop the rest; how many prompt tokens need no evaluation."""
        self._context.release(slot, start=kept)
        self._kept[slot] = []
        return kept

    def _finish_unstarted(self, job: QueuedWork, error: BackendError | None) -> None:
        self._outbox.end(job, error)
        self.finished()

    def _step(self) -> None:
        for sequence in self._running():
            if sequence.job.cancelled:
                self._outbox.add(sequence.job, [sequence.ending("cancelled")])
                self._end(sequence)
        others_decoding = any(not s.prefilling for s in self._running())
        first_tokens = False
        while newcomers := sorted((s for s in self._running() if s.prefilling), key=lambda s: s.admitted):
            first_tokens |= self._prefill(newcomers)
            if others_decoding:
                break  # one budget of prompt tokens per step while others decode
        if first_tokens:
            self._outbox.flush()  # newcomers' first tokens: their first-word scans run while this step decodes
        decoding = [s for s in self._running() if not s.prefilling]
        if decoding:
            self._decode(decoding)

    def _decode(self, decoding: list[Sequence]) -> None:
        """One token for each running sequence (slot order, so consecutive ids share a micro-batch)."""
        entries = [(*s.next_token, s.slot, True) for s in decoding]
        try:
            self._context.decode(entries)
        except DecodeFailed as exc:
            log.error("decode failed on model %s: %s", self.model_id, exc)
            for sequence in decoding:
                self._end(sequence, exc)
            return
        for output, sequence in enumerate(decoding):
            self._take_output(sequence, output)

    def _prefill(self, newcomers: list[Sequence]) -> bool:
        """Up to `engine.prefill_chunk` prompt tokens in one `llama_decode`, oldest newcomer first (several
        newcomers share it: clients that finished together start together); a newcomer's first token
        is sampled once its whole prompt is in. Whether any newcomer got its first token."""
        entries: list[tuple[int, int, int, bool]] = []
        ready: list[tuple[Sequence, int]] = []
        included: list[Sequence] = []
        for sequence in newcomers:
            included.append(sequence)
            chunk, start = sequence.next_chunk(self._chunk - len(entries))
            entries += [(token, start + i, sequence.slot, False) for i, token in enumerate(chunk)]
            if not sequence.prefilling:
                entries[-1] = (*entries[-1][:3], True)
                ready.append((sequence, len(entries) - 1))
            if len(entries) >= self._chunk:
                break
        try:
            self._context.decode(entries)
        except DecodeFailed as exc:
            log.error("prompt evaluation failed on model %s: %s", self.model_id, exc)
            for sequence in included:
                self._end(sequence, exc)
            return False
        for sequence, output in ready:
            self._take_output(sequence, output)
        return bool(ready)

    def _take_output(self, sequence: Sequence, output: int) -> None:
        try:
            self._outbox.add(sequence.job, sequence.take_output(self._context.ctx, output))
        except Exception as exc:
            log.exception("sampling failed on model %s", self.model_id)
            self._end(sequence, BackendError(f"sampling failed: {exc}"))
            return
        if sequence.finish:
            self._end(sequence)

    def _end(self, sequence: Sequence, error: Exception | None = None) -> None:
        """The sequence leaves: its slot is free for the next job at once; the KV cells of its evaluated
        prompt stay for a next prompt that starts the same way (all of them go after a failed decode)."""
        if isinstance(error, DecodeFailed):
            self._context.release(sequence.slot)
        else:
            self._kept[sequence.slot] = sequence.evaluated_prompt
        sequence.close()
        self._slots[sequence.slot] = None
        self._outbox.end(sequence.job, error)
        self.finished()

    def stop(self) -> None:
        """Refuse new jobs, cancel the waiting ones, and give the running ones up to 30 s to finish."""
        self.stop_admitting()
        self._thread.join(timeout=30)
