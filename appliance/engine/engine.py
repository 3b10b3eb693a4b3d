"""The engine: owns every llama.cpp context, loads models from sealed copies of the bytes it verified."""
from __future__ import annotations

import threading
from collections.abc import Callable

from appliance.config import EngineConfig
from appliance.engine.admission import no_announcement
from appliance.engine.batching import BatchWorker
from appliance.engine.registry import ModelEntry, ModelRegistry
from appliance.engine.runtime import LlamaRuntime
from appliance.engine.scheduler import ModelWorker, Worker


class Engine:
    """Loaded models by id, each behind its own scheduler worker."""

    def __init__(self, registry: ModelRegistry, config: EngineConfig) -> None:
        self.registry = registry
        self.config = config
        self._workers: dict[str, Worker] = {}
        self._entries: dict[str, ModelEntry] = {}
        self._lock = threading.Lock()

    def load(self, model_id: str) -> Worker:
        """The worker for `model_id`, loading it first (from a sealed in-memory copy whose hash and header
        were checked as it was made) if needed."""
        with self._lock:
            worker = self._workers.get(model_id)
            if worker is None:
                with self.registry.sealed_copy(model_id) as (entry, verified_bytes):
                    runtime = LlamaRuntime(
                        verified_bytes,
                        n_ctx=self.config.context_length,
                        n_threads=self.config.threads,
                        n_batch=self.config.batch_size,
                        embedding=entry.kind == "embedding",
                    )
                worker = self._worker(model_id, runtime)
                self._workers[model_id] = worker
                self._entries[model_id] = entry
            return worker

    def _worker(self, model_id: str, runtime: LlamaRuntime) -> Worker:
        """Chat models batch their generations; embedding models run one job at a time."""
        config = self.config
        if runtime.embedding:
            return ModelWorker(model_id, runtime, max_queue=config.max_queue, retry_after=config.retry_after_seconds)
        return BatchWorker(model_id, runtime, slots=config.parallel, max_queue=config.max_queue,
                           retry_after=config.retry_after_seconds, threads=config.threads,
                           prefill_chunk=config.prefill_chunk)

    def expect(self, model_id: str) -> Callable[[], None]:
        """Announce a generation for `model_id` whose checks are running (`Admission.expect`); a no-op
        unless that chat model is loaded."""
        worker = self._workers.get(model_id)
        return worker.expect() if isinstance(worker, BatchWorker) else no_announcement

    def entry(self, model_id: str) -> ModelEntry:
        """The registry entry a loaded model was verified against."""
        return self._entries[model_id]

    @property
    def loaded(self) -> list[str]:
        return list(self._workers)

    def running(self) -> bool:
        """A model is loaded and no loaded model's worker has stopped (stopped, or its thread failed)."""
        return bool(self._workers) and not any(w.stopping for w in self._workers.values())

    def queue_depth(self) -> int:
        """Jobs admitted and waiting to start, over all models."""
        return sum(w.waiting for w in self._workers.values())

    def active_jobs(self) -> int:
        """Jobs admitted and not finished (running or waiting), over all models."""
        return sum(w.active for w in self._workers.values())

    def close(self) -> None:
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()
