"""A text progress bar on stderr for the long build steps (standard library only).

On a terminal the bar redraws in place; otherwise only the finished line is printed, so logs and
tests stay readable.
"""
from __future__ import annotations

import sys
import time

_WIDTH = 30


class Progress:
    """`set`/`advance` the amount done (steps or bytes); `close` prints the final line."""

    def __init__(self, label: str, total: int, unit: str = "B") -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._tty = sys.stderr.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0

    def advance(self, amount: int) -> None:
        self.set(self.done + amount)

    def set(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self._tty and now - self._drawn >= 0.1:
            self._drawn = now
            sys.stderr.write("\r" + self._line())
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write(("\r" if self._tty else "") + self._line() + f" {time.monotonic() - self._started:.1f}s\n")
        sys.stderr.flush()

    def _line(self) -> str:
        fraction = min(1.0, self.done / self.total) if self.total else 0.0
        filled = int(fraction * _WIDTH)
        return f"{self.label:32.32s} [{'#' * filled}{'.' * (_WIDTH - filled)}] {fraction:4.0%} {self._amount()}"

    def _amount(self) -> str:
        if self.unit == "B":
            return f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        return f"{self.done}/{self.total} {self.unit}"
