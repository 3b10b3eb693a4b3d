"""Text transformations for the `redact` action: consistent placeholders, masks, and restoring.

Placeholders look like `[PERSON_1]`. The same value always gets the same placeholder within one call
(all messages, and the answer when the prompt's mapping is passed on), numbered per entity type.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*_\d+\]")
_PARTIAL_PLACEHOLDER = re.compile(r"\[[A-Z0-9_]{0,40}$")
_NUMBERED = re.compile(r"^\[([A-Z][A-Z0-9_]*)_(\d+)\]$")
PAN_KEEP_FIRST, PAN_KEEP_LAST = 6, 4


@dataclass(frozen=True)
class Redaction:
    """Replace `text[start:end]` (an `entity_type`) by a placeholder, or mask it."""

    start: int
    end: int
    entity_type: str
    style: str  # "placeholder" | "mask"
    restore: bool = False


class PlaceholderBook:
    """Hands out placeholders: one per distinct value, numbered per entity type, across messages."""

    def __init__(self, existing: Mapping[str, str] | None = None) -> None:
        self.mapping: dict[str, str] = dict(existing or {})
        self._by_value = {value: token for token, value in self.mapping.items()}
        self._next: dict[str, int] = {}
        for token in self.mapping:
            if numbered := _NUMBERED.match(token):
                kind, number = numbered.group(1), int(numbered.group(2))
                self._next[kind] = max(self._next.get(kind, 1), number + 1)
        self.restorable: set[str] = set()
        self._not_restorable: set[str] = set()

    def placeholder(self, entity_type: str, value: str, restore: bool) -> str:
        """The placeholder for `value`; restorable only if every use of it in this call allows it."""
        token = self._by_value.get(value)
        if token is None:
            number = self._next.get(entity_type, 1)
            self._next[entity_type] = number + 1
            token = f"[{entity_type}_{number}]"
            self.mapping[token], self._by_value[value] = value, token
        if restore and token not in self._not_restorable:
            self.restorable.add(token)
        elif not restore:
            self._not_restorable.add(token)
            self.restorable.discard(token)
        return token


def mask(entity_type: str, value: str) -> str:
    """Replace letters and digits by '*', keeping separators; a PAN keeps its first six and last four digits."""
    digits = sum(ch.isdigit() for ch in value)
    keep_first, keep_last = (PAN_KEEP_FIRST, PAN_KEEP_LAST) if entity_type == "CREDIT_CARD" and digits >= 13 else (0, 0)
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= keep_first or seen > digits - keep_last else "*")
        else:
            out.append("*" if ch.isalpha() else ch)
    return "".join(out)


def merge_overlapping(redactions: list[Redaction]) -> list[Redaction]:
    """Union overlapping spans; the longest member names the type, placeholder beats mask, restore needs all."""
    merged: list[list[Redaction]] = []
    for r in sorted(redactions, key=lambda r: (r.start, -r.end)):
        if merged and r.start < max(m.end for m in merged[-1]):
            merged[-1].append(r)
        else:
            merged.append([r])
    result = []
    for group in merged:
        label = max(group, key=lambda r: (r.end - r.start, r.style == "placeholder"))
        style = "placeholder" if any(r.style == "placeholder" for r in group) else "mask"
        result.append(Redaction(group[0].start, max(r.end for r in group), label.entity_type, style,
                                all(r.restore for r in group)))
    return result


def apply_redactions(text: str, redactions: list[Redaction], book: PlaceholderBook) -> str:
    """`text` with each (merged) span replaced by its placeholder or mask."""
    pieces, position = [], 0
    for r in merge_overlapping(redactions):
        value = text[r.start:r.end]
        replacement = (book.placeholder(r.entity_type, value, r.restore) if r.style == "placeholder"
                       else mask(r.entity_type, value))
        pieces += [text[position:r.start], replacement]
        position = r.end
    pieces.append(text[position:])
    return "".join(pieces)


def restore(text: str, placeholders: Mapping[str, str]) -> str:
    """Put original values back for the placeholders in `placeholders`; other text is untouched."""
    if not placeholders:
        return text
    return PLACEHOLDER.sub(lambda m: placeholders.get(m.group(0), m.group(0)), text)


def split_partial_placeholder(text: str) -> tuple[str, str]:
    """Split `text` into (ready, tail) where `tail` may be the start of a placeholder cut by a chunk boundary."""
    match = _PARTIAL_PLACEHOLDER.search(text)
    return (text, "") if match is None else (text[: match.start()], text[match.start():])
