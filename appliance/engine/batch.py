"""The batched llama.cpp context of one chat model: one KV stream per slot, one decode per call.

Each slot is a llama.cpp sequence id with its own KV stream (`kv_unified = false`): `n_ctx` is slots x
the per-sequence window, and a sequence's cells are always 0, 1, 2, ... of its own stream. Attention
is llama.cpp's flash attention over a Q8_0 KV cache: about a third faster per decode step here than
plain attention over F16, with half the KV memory. With a quantized cache the CPU kernel always takes
its plain path (each query row computed whole by one thread, keys in order, masked cells skipped;
the split-KV and tiled paths, which change with the batch's shape, only run on F16/F32 caches), so
every number computed for one sequence's token is the same whatever else is in the batch, which is
what makes a temperature-0 answer byte-identical batched or alone.
"""
from __future__ import annotations

import llama_cpp
from llama_cpp._internals import LlamaContext, LlamaModel

from appliance.routing.base import BackendError

KV_TYPE = llama_cpp.GGML_TYPE_Q8_0
Q8_0_BLOCK_VALUES, Q8_0_BLOCK_BYTES = 32, 34  # 32 int8 values and one f16 scale


class DecodeFailed(BackendError):
    """llama.cpp could not evaluate a batch (the requests in it get a 502 with their outcome record)."""


class BatchContext:
    """The context, its reusable `llama_batch`, and per-slot KV removal."""

    def __init__(self, model: LlamaModel, *, slots: int, n_ctx_seq: int, n_threads: int, max_tokens: int) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * n_ctx_seq
        params.n_seq_max = slots
        params.n_batch = params.n_ubatch = max(max_tokens, slots)
        params.n_threads = params.n_threads_batch = n_threads
        params.kv_unified = False
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.type_k = params.type_v = KV_TYPE
        params.embeddings = False
        self._context = LlamaContext(model=model, params=params, verbose=False)
        self.ctx = self._context.ctx
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self.capacity = int(params.n_batch)
        self._batch = llama_cpp.llama_batch_init(self.capacity, 0, 1)
        self.kv_bytes = kv_cache_bytes(model, int(llama_cpp.llama_n_ctx(self.ctx)))

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Evaluate (token, position, slot, wants logits) entries in one `llama_decode`."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for i, (token, position, slot, wants_logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot
            batch.logits[i] = wants_logits
        status = llama_cpp.llama_decode(self.ctx, batch)
        if status != 0:
            raise DecodeFailed(f"llama_decode returned {status}")

    def release(self, slot: int, start: int = 0) -> None:
        """Free the KV cells of `slot` from position `start` on (all of them by default)."""
        llama_cpp.llama_memory_seq_rm(self._memory, slot, start, -1)

    def close(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._context.close()


def kv_cache_bytes(model: LlamaModel, n_ctx: int) -> int:
    """Memory of a Q8_0 K and V cache of `n_ctx` cells over all layers."""
    handle = model.model
    per_head = llama_cpp.llama_model_n_embd(handle) // max(llama_cpp.llama_model_n_head(handle), 1)
    values_per_cell = 2 * llama_cpp.llama_model_n_head_kv(handle) * per_head
    bytes_per_cell = values_per_cell * Q8_0_BLOCK_BYTES // Q8_0_BLOCK_VALUES
    return n_ctx * llama_cpp.llama_model_n_layer(handle) * bytes_per_cell
