"""One answer's text as its tokens arrive: UTF-8 decoded across token boundaries, cut at the first stop
string, and released token by token so each token's log probability travels with its own text."""
from __future__ import annotations

import codecs
from dataclasses import dataclass, replace

from appliance.routing.base import TokenLogprob


@dataclass
class Piece:
    """The text one token added (possibly empty: part of a character) and its log probability entry."""

    text: str
    logprob: TokenLogprob | None = None

    def cut(self, length: int) -> Piece:
        return Piece(self.text[:length], replace(self.logprob, token=self.text[:length]) if self.logprob else None)


class TextStream:
    """Holds back only what could still become a stop string; `stopped` once one appeared."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[Piece] = []
        self.stopped = False

    def add(self, data: bytes, logprob: TokenLogprob | None = None) -> list[Piece]:
        """Take one token's bytes; return the pieces now safe to send (cut at a stop string)."""
        text = self._decoder.decode(data)
        self._pending.append(Piece(text, replace(logprob, token=text) if logprob else None))
        return self._release(final=False)

    def finish(self) -> list[Piece]:
        """Everything still held (the answer ended without a stop string completing)."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._pending.append(Piece(tail))
        return self._release(final=True)

    def _release(self, *, final: bool) -> list[Piece]:
        held = "".join(p.text for p in self._pending)
        stop_at = min((i for i in (held.find(s) for s in self._stops) if i >= 0), default=-1)
        if stop_at >= 0:
            self.stopped = True
            return self._take(stop_at, cut=True)
        return self._take(len(held) if final else len(held) - self._partial_stop(held), cut=False)

    def _partial_stop(self, held: str) -> int:
        """Length of the longest end of `held` that begins some stop string."""
        return max((n for s in self._stops for n in range(min(len(s) - 1, len(held)), 0, -1)
                    if s.startswith(held[-n:])), default=0)

    def _take(self, limit: int, *, cut: bool) -> list[Piece]:
        """Whole pieces within the first `limit` characters (with `cut`, the piece across it too, trimmed)."""
        released: list[Piece] = []
        used = 0
        while self._pending and used + len(self._pending[0].text) <= limit:
            piece = self._pending.pop(0)
            used += len(piece.text)
            released.append(piece)
        if cut:
            if self._pending and limit > used:
                released.append(self._pending[0].cut(limit - used))
            self._pending = []
        return released
