"""Which backend should answer: model aliases name a backend, routing rules refine the choice by
alias, task hint and prompt size, and the default comes last.

The router only proposes. `candidates()` lists backends in preference order; the pipeline asks the
policy engine about each one's zone and takes the first it may use (so a refused external backend
falls back to the local default).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.routing.base import Backend

TASK_HINTS: tuple[str, ...] = ("simple", "complex")
_RULE_CONDITIONS = frozenset({"aliases", "task_hint", "min_prompt_chars", "max_prompt_chars"})


class UnknownModel(LookupError):
    """The requested model alias is not configured."""


def parse_task_hint(value: str | None) -> str | None:
    """The task hint from a request header/metadata value; None when absent, ValueError when unknown."""
    if value is None or not value.strip():
        return None
    hint = value.strip().lower()
    if hint not in TASK_HINTS:
        raise ValueError(f"task hint {value!r} is not one of {', '.join(TASK_HINTS)}")
    return hint


@dataclass(frozen=True)
class RouteRule:
    """Send matching requests to `backend`. Every condition given must hold; omitted ones match all.
    `min_prompt_chars` is inclusive, `max_prompt_chars` exclusive."""

    backend: str
    aliases: frozenset[str] | None = None
    task_hint: str | None = None
    min_prompt_chars: int | None = None
    max_prompt_chars: int | None = None

    def __post_init__(self) -> None:
        if self.aliases is not None:
            object.__setattr__(self, "aliases", frozenset(self.aliases))
        if self.task_hint is not None and self.task_hint not in TASK_HINTS:
            raise ValueError(f"route to {self.backend!r}: task hint {self.task_hint!r} is not one of {', '.join(TASK_HINTS)}")
        for bound in (self.min_prompt_chars, self.max_prompt_chars):
            if bound is not None and (not isinstance(bound, int) or bound < 0):
                raise ValueError(f"route to {self.backend!r}: prompt size bounds must be non-negative integers")
        if (self.min_prompt_chars is not None and self.max_prompt_chars is not None
                and self.min_prompt_chars >= self.max_prompt_chars):
            raise ValueError(f"route to {self.backend!r}: min_prompt_chars must be below max_prompt_chars")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteRule:
        """From config: `{"backend": "cloud", "when": {"task_hint": "complex", "min_prompt_chars": 4000}}`."""
        if not isinstance(data, Mapping) or not isinstance(data.get("backend"), str):
            raise ValueError("each route rule needs a 'backend' name")
        unknown = set(data) - {"backend", "when"}
        when = data.get("when") or {}
        if not isinstance(when, Mapping):
            raise ValueError(f"route to {data['backend']!r}: 'when' must be a table of conditions")
        unknown |= set(when) - _RULE_CONDITIONS
        if unknown:
            raise ValueError(f"route to {data['backend']!r}: unknown keys {', '.join(sorted(unknown))}")
        aliases = when.get("aliases")
        if aliases is not None and (isinstance(aliases, str) or not all(isinstance(a, str) for a in aliases)):
            raise ValueError(f"route to {data['backend']!r}: 'aliases' must be a list of model aliases")
        return cls(data["backend"], frozenset(aliases) if aliases is not None else None, when.get("task_hint"),
                   when.get("min_prompt_chars"), when.get("max_prompt_chars"))

    def matches(self, model_alias: str, prompt_chars: int, task_hint: str | None) -> bool:
        return ((self.aliases is None or model_alias in self.aliases)
                and (self.task_hint is None or self.task_hint == task_hint)
                and (self.min_prompt_chars is None or prompt_chars >= self.min_prompt_chars)
                and (self.max_prompt_chars is None or prompt_chars < self.max_prompt_chars))


class Router:
    """`aliases` map model aliases to backend names; `rules` (in order) can prefer other backends;
    `default` names the backend of last resort (normally the local one)."""

    def __init__(self, backends: Mapping[str, Backend], aliases: Mapping[str, str], rules: list[RouteRule],
                 default: str) -> None:
        self.backends = dict(backends)
        self.aliases = dict(aliases)
        self.rules = list(rules)
        self.default = default
        named = ([(f"alias {a!r}", b) for a, b in self.aliases.items()]
                 + [("a route rule", r.backend) for r in self.rules] + [("the default", default)])
        for where, backend in named:
            if backend not in self.backends:
                raise ValueError(f"{where} names backend {backend!r}, which is not configured"
                                 f" (configured: {', '.join(sorted(self.backends)) or 'none'})")
        for rule in self.rules:
            unknown = sorted((rule.aliases or frozenset()) - set(self.aliases))
            if unknown:
                raise ValueError(f"route to {rule.backend!r}: model aliases {', '.join(unknown)} are not configured")

    @classmethod
    def from_config(cls, backends: Mapping[str, Backend], config: Mapping[str, Any]) -> Router:
        """From config: `{"default": "local", "aliases": {alias: backend}, "rules": [rule, ...]}`."""
        unknown = set(config) - {"default", "aliases", "rules"}
        if unknown:
            raise ValueError(f"routing config: unknown keys {', '.join(sorted(unknown))}")
        if not isinstance(config.get("default"), str):
            raise ValueError("routing config: 'default' must name a backend")
        aliases = config.get("aliases") or {}
        if not isinstance(aliases, Mapping) or not all(isinstance(v, str) for v in aliases.values()):
            raise ValueError("routing config: 'aliases' must map model aliases to backend names")
        rules = config.get("rules") or []
        if not isinstance(rules, list):
            raise ValueError("routing config: 'rules' must be a list")
        return cls(backends, aliases, [RouteRule.from_dict(r) for r in rules], config["default"])

    def candidates(self, model_alias: str, prompt_chars: int, task_hint: str | None = None) -> list[Backend]:
        """Backends to try, best first: matching rules in order, the alias's backend, the default.
        Raises UnknownModel for an alias that is not configured."""
        if model_alias not in self.aliases:
            raise UnknownModel(f"model {model_alias!r} is not configured"
                               f" (available: {', '.join(sorted(self.aliases)) or 'none'})")
        names = [r.backend for r in self.rules if r.matches(model_alias, prompt_chars, task_hint)]
        names += [self.aliases[model_alias], self.default]
        return [self.backends[n] for n in dict.fromkeys(names)]

    def route(self, model_alias: str, prompt_chars: int, task_hint: str | None = None) -> Backend:
        """The preferred backend (the first candidate)."""
        return self.candidates(model_alias, prompt_chars, task_hint)[0]
