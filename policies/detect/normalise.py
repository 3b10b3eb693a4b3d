"""Normalise text before detection, keeping a map back to the original characters.

Character level: NFKC (full-width digits, ligatures), format characters (zero-width spaces and joiners,
soft hyphens, bidi marks) dropped, Unicode dashes, spaces, dots and line separators mapped to ASCII.
Run level: long base64, hex and percent-encoded runs that decode to readable text, and digits spelled
out as words ("two one nine ..."), are replaced by what they say, so the recognizers see it.
Every character of the normalised text knows the original span it came from; a decoded run maps to
the whole encoded run.
"""
from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

DOTS = frozenset("\u00b7\u2024\u2027\u2219\u22c5\u30fb\uff0e\u3002")
DASHES = frozenset("\u2212\u2010\u2011\u2012\u2013\u2014\u2015\ufe58\ufe63\uff0d\u2043")
NUMBER_WORDS = {"zero": "0", "oh": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9"}
MIN_SPELLED_DIGITS = 3
BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])")
PERCENT_RUN = re.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){3,}")
_NUMBER_WORD = "|".join(NUMBER_WORDS)
SPELLED_RUN = re.compile(rf"(?i)\b(?:(?:{_NUMBER_WORD})|\d+)(?:[\s,\-]+(?:(?:{_NUMBER_WORD})\b|\d+\b))+")
PRINTABLE_SHARE = 0.9


@dataclass(frozen=True)
class Normalised:
    """`text` and, for each of its characters, the original span [starts[i], ends[i])."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    decoded: tuple[tuple[int, int], ...]  # spans of `text` that were decoded from an encoded run

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that produced `text[start:end]` (start < end)."""
        return self.starts[start], self.ends[end - 1]

    @property
    def changed(self) -> bool:
        return self.text != self.original


Piece = tuple[str, int, int]  # normalised text, original start, original end


def normalise(text: str) -> Normalised:
    """The normalised form of `text` with its offset map."""
    pieces = [piece for index, char in enumerate(text) if (piece := _char(char, index))[0]]
    pieces, decoded_marks = _decode_runs(pieces)
    starts, ends, out, decoded, position = [], [], [], [], 0
    for (value, start, end), was_decoded in zip(pieces, decoded_marks):
        out.append(value)
        starts += [start] * len(value)
        ends += [end] * len(value)
        if was_decoded:
            decoded.append((position, position + len(value)))
        position += len(value)
    return Normalised(text, "".join(out), tuple(starts), tuple(ends), tuple(decoded))


def _char(char: str, index: int) -> Piece:
    category = unicodedata.category(char)
    if category == "Cf":
        return "", index, index + 1
    if category == "Zs" or char == "\t":
        return (char if char == "\t" else " "), index, index + 1
    if category in ("Zl", "Zp"):
        return "\n", index, index + 1
    if char in DASHES or category == "Pd":
        return "-", index, index + 1
    if char in DOTS:
        return ".", index, index + 1
    return unicodedata.normalize("NFKC", char), index, index + 1


def _decode_runs(pieces: list[Piece]) -> tuple[list[Piece], list[bool]]:
    """Replace encoded and spelled-out runs by their meaning; returns pieces and which were decoded."""
    text = "".join(p[0] for p in pieces)
    owner = [i for i, p in enumerate(pieces) for _ in p[0]]  # piece index of each character
    result: list[Piece] = []
    marks: list[bool] = []
    next_piece, position = 0, 0
    for start, end, value in sorted(_replacements(text)):
        if start < position:
            continue  # overlapping candidates: the first wins
        result += pieces[next_piece:owner[start]]
        marks += [False] * (owner[start] - next_piece)
        result.append((value, pieces[owner[start]][1], pieces[owner[end - 1]][2]))
        marks.append(True)
        next_piece, position = owner[end - 1] + 1, end
    result += pieces[next_piece:]
    marks += [False] * (len(pieces) - next_piece)
    return result, marks


def _replacements(text: str) -> list[tuple[int, int, str]]:
    found = []
    for pattern, decode in ((PERCENT_RUN, _percent), (HEX_RUN, _hex), (BASE64_RUN, _base64), (SPELLED_RUN, _spelled)):
        for match in pattern.finditer(text):
            value = decode(match.group(0))
            if value is not None and value != match.group(0):
                found.append((match.start(), match.end(), value))
    return found


def _readable(data: bytes) -> str | None:
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in value)
    return value if value and printable / len(value) >= PRINTABLE_SHARE and any(ch.isalnum() for ch in value) else None


def _base64(run: str) -> str | None:
    mixed = any(c.isdigit() or c in "+/=" for c in run) or (run != run.lower() and run != run.upper())
    if not (mixed and any(c.isalpha() for c in run)):
        return None
    try:
        return _readable(base64.b64decode(run + "=" * (-len(run) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


def _hex(run: str) -> str | None:
    if not any(c.isalpha() for c in run):
        return None  # digits only: a card or record number, not hex-encoded text
    return _readable(bytes.fromhex(run))


def _percent(run: str) -> str | None:
    try:
        return unquote(run, errors="strict")
    except UnicodeDecodeError:
        return None


def _spelled(run: str) -> str | None:
    """"two one nine zero 9" -> "21909"; digit groups keep a space between them."""
    items = re.findall(rf"(?i)(?:{_NUMBER_WORD})|\d+", run)
    if sum(item.lower() in NUMBER_WORDS for item in items) < MIN_SPELLED_DIGITS:
        return None
    out: list[str] = []
    previous_word = False
    for item in items:
        word = item.lower() in NUMBER_WORDS
        if out and not (word and previous_word):
            out.append(" ")
        out.append(NUMBER_WORDS.get(item.lower(), item))
        previous_word = word
    return "".join(out)
