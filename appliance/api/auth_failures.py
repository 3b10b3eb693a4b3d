"""Which refused requests become `auth_failure` records, so a flood of bad keys cannot monopolise the
audit committer: per client, reason and route, the first refusal in a window is recorded in full and
the rest of that window as one count when the window closes.

Records carry the route template (`/v1/audit/records/{seq}`), never the raw path a caller typed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FailureKey = tuple[str, str, str, str, str]  # client, reason, method, route template, key id
OVERFLOW_CLIENT = "(other clients)"
MAX_TRACKED = 1024


@dataclass
class _Window:
    opened: float
    opened_at: str
    fields: dict[str, Any]
    repeats: int = field(default=0)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class AuthFailureWindows:
    """Counts refusals per key and window; `admit` and `close_expired` return the records to write."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic,
                 max_tracked: int = MAX_TRACKED) -> None:
        self.window_seconds = window_seconds
        self.clock = clock
        self.max_tracked = max_tracked
        self._windows: dict[FailureKey, _Window] = {}

    def admit(self, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """Note one refusal (its audit fields); returns the records due now: summaries of windows that
        closed, then this refusal when it opens a new window."""
        due = self.close_expired()
        key = self._key(fields)
        if key not in self._windows and len(self._windows) >= self.max_tracked:
            fields = {**fields, "client": OVERFLOW_CLIENT}
            key = self._key(fields)
        window = self._windows.get(key)
        if window is not None:
            window.repeats += 1
            return due
        self._windows[key] = _Window(self.clock(), _now_iso(), fields)
        return [*due, {**fields, "count": 1}]

    def close_expired(self, everything: bool = False) -> list[dict[str, Any]]:
        """Close windows older than the window length (all of them with `everything`); returns one
        summary record per closed window that saw repeats."""
        now = self.clock()
        closed = [k for k, w in self._windows.items() if everything or now - w.opened >= self.window_seconds]
        summaries = []
        for key in closed:
            window = self._windows.pop(key)
            if window.repeats:
                summaries.append(self._summary(window))
        return summaries

    def _summary(self, window: _Window) -> dict[str, Any]:
        kept = {k: v for k, v in window.fields.items() if k != "request_id"}
        return {**kept, "count": window.repeats, "aggregated": True, "window_start": window.opened_at,
                "window_end": _now_iso()}

    @staticmethod
    def _key(fields: dict[str, Any]) -> FailureKey:
        return (str(fields.get("client")), str(fields.get("reason")), str(fields.get("method")),
                str(fields.get("endpoint")), str(fields.get("actor", "")))
