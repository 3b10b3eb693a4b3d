"""POST /v1/embeddings: inputs detected, decided and recorded ahead like chat; vectors from a model
imported as an embedding model (`appliance models import --kind embedding`)."""
from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request

from appliance.api.deps import PipelineDep, ServicesDep, require
from appliance.api.errors import ApiError
from appliance.api.routes_inference import inference_call
from appliance.api.schemas import EmbeddingRequest
from appliance.auth import Principal

router = APIRouter()


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request, services: ServicesDep, pipeline: PipelineDep,
                     principal: Principal = Depends(require("inference"))) -> dict[str, Any]:
    call = inference_call(request, services, principal, "/v1/embeddings", body.model, body.texts, [])
    if body.user is not None:
        call.audit_extra = {"user": body.user}
    await pipeline.screen(call)
    await pipeline.write_ahead(call, stream=False)
    assert call.decision is not None
    vectors, tokens = await pipeline.embed(call, call.decision.texts)
    width = len(vectors[0])
    if body.dimensions is not None and body.dimensions != width:
        await pipeline.record_outcome(call, 400, error="unsupported_option", prompt_tokens=tokens)
        raise ApiError(400, f"model {body.model!r} produces {width}-dimensional embeddings; dimensions={body.dimensions} "
                       "would need a model trained for shortened embeddings", param="dimensions",
                       code="unsupported_option")
    await pipeline.record_outcome(call, 200, prompt_tokens=tokens)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
                 for i, v in enumerate(vectors)],
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    """float: the numbers; base64: little-endian float32 bytes, as the OpenAI SDK decodes them."""
    if encoding == "float":
        return vector
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
