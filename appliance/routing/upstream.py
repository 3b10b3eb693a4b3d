"""An OpenAI-compatible server inside the facility (vLLM, llama-server): zone `internal`."""
from __future__ import annotations

from appliance.routing.http import DEFAULT_TIMEOUT_S, HttpBackend
from appliance.routing.openai_wire import OpenAIWire
from policies.vocabulary import Zone


class UpstreamBackend(HttpBackend):
    """An OpenAI-compatible server inside the facility, reached over HTTP(S) in the OpenAI wire format."""

    def __init__(self, name: str, base_url: str, api_key: str | None = None, model: str | None = None,
                 zone: Zone = "internal", timeout: float = DEFAULT_TIMEOUT_S, verify: bool | str = True) -> None:
        super().__init__(name, zone, base_url, OpenAIWire(), api_key, model, timeout, verify)
