"""Backends outside the facility (zone `external`, e.g. a cloud API), in the OpenAI or the Anthropic
Messages dialect. Reached only in `connected` egress mode and only where the policy decision for the
external zone allows it; the pipeline decides that, this module only picks the wire."""
from __future__ import annotations

from typing import Literal

from appliance.routing.anthropic_wire import AnthropicWire
from appliance.routing.http import DEFAULT_TIMEOUT_S, HttpBackend, Wire
from appliance.routing.openai_wire import OpenAIWire
from policies.vocabulary import Zone

Style = Literal["openai", "anthropic"]


class ExternalBackend(HttpBackend):
    """A model API outside the facility. `style` picks the dialect: "openai" (POST
    /v1/chat/completions, Bearer key) or "anthropic" (POST /v1/messages, x-api-key)."""

    def __init__(self, name: str, base_url: str, style: Style = "openai", api_key: str | None = None,
                 model: str | None = None, zone: Zone = "external", timeout: float = DEFAULT_TIMEOUT_S,
                 verify: bool | str = True) -> None:
        super().__init__(name, zone, base_url, _wire(name, style, api_key), api_key, model, timeout, verify)
        self.style = style


def _wire(name: str, style: str, api_key: str | None) -> Wire:
    if style == "openai":
        return OpenAIWire()
    if style == "anthropic":
        if not api_key:
            raise ValueError(f"backend {name!r}: the anthropic style needs an api_key")
        return AnthropicWire()
    raise ValueError(f"backend {name!r}: style {style!r} is not 'openai' or 'anthropic'")
