"""Writer-side serialisation of audit records: canonical JSON once per record, with holes for seq, ts, prev.

The store serialises a record on the appender's thread, before it knows the record's place in the log;
the committer then fills in seq, ts and prev. The bytes are exactly `audit.format.canonical_json` of the
whole record (the verifier's standard-library definition). Most records are plain JSON data (str, int,
float, bool, None, lists and dicts with str keys): for those, orjson writes the same bytes as the standard
library about ten times faster, within the domain `_orjson_agrees` checks (it differs in float notation
outside 1e-4 <= |x| < 1e16, accepts NaN, datetimes, UUIDs and enums the standard library refuses, and sorts
str-subclass keys by their own rules). Everything else takes the standard library's path.
"""
from __future__ import annotations

from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson

from audit.format import STORE_FIELDS, canonical_json, canonical_text

_HOLE = "\x00"  # stands in for seq, ts and prev while the rest of a record is serialised
_HOLE_JSON = b'"\\u0000"'  # how both encoders write it: control characters are always escaped
_PLAIN_KEYS = frozenset({str})
_ALWAYS_SAME = frozenset({str, bool, type(None)})
_INT_RANGE = range(-(1 << 63), 1 << 64)  # what orjson writes as an integer (beyond it, it refuses)


def _orjson_agrees(value: Any) -> bool:
    """Whether orjson serialises `value` to the very bytes `canonical_json` would (a conservative check)."""
    kind = type(value)
    if kind in _ALWAYS_SAME:
        return True
    if kind is int:
        return value in _INT_RANGE
    if kind is float:  # both write the shortest round-trip digits, in the same notation only here (NaN fails)
        return value == 0.0 or 1e-4 <= abs(value) < 1e16
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _orjson_agrees(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if not _orjson_agrees(item):
                return False
        return True
    return False


def _fields_agree(record: dict[str, Any]) -> bool:
    """`_orjson_agrees(record)` for a record whose keys are known to be str (a loop: this is the hot path)."""
    for value in record.values():
        if type(value) is not str and not _orjson_agrees(value):
            return False
    return True


def _serialise_with_holes(record: dict[str, Any]) -> bytes:
    """canonical_json(record), through orjson where it provably writes the same bytes."""
    try:
        if _fields_agree(record):
            return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except (RecursionError, orjson.JSONEncodeError):  # cycles, very deep nesting, lone surrogates: let json judge
        pass
    try:
        return canonical_text(record).encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (lone surrogates) is a ValueError
        raise ValueError(f"audit record fields are not JSON-serialisable: {exc}") from None


class RecordSkeleton:
    """A record's canonical JSON, serialised once, with holes where the store later puts seq, ts and prev.

    `render(seq, ts, prev)` returns exactly `canonical_json({**fields, "seq": seq, "ts": ts, "kind": kind,
    "prev": prev})`: the encoders write the sorted top-level pairs one after another, each value
    independently of its neighbours, so filling the three holes in place yields the same bytes. The holes
    are found by splitting at the JSON text of a one-NUL string; when a field value also serialises to
    that text (the split is ambiguous) or a key is a str subclass (which may sort by its own rules),
    `render` serialises the whole record instead. The fields are copied: later changes do not reach it.
    Raises ValueError when a field name is not a string or is a store field, or a value is not JSON.
    """

    __slots__ = ("kind", "_record", "_parts")

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        key_types = {*map(type, fields)}
        if not key_types <= _PLAIN_KEYS:
            for key in fields:
                if not isinstance(key, str):
                    raise ValueError(f"audit record field names must be strings, not {type(key).__name__}")
        if not STORE_FIELDS.isdisjoint(fields):
            reserved = min(STORE_FIELDS.intersection(fields))
            raise ValueError(f"audit record field {reserved!r} is reserved (the store sets seq, ts, kind, prev)")
        self.kind = kind
        self._record = {**fields, "seq": _HOLE, "ts": _HOLE, "kind": kind, "prev": _HOLE}
        if key_types <= _PLAIN_KEYS:
            parts = _serialise_with_holes(self._record).split(_HOLE_JSON)
            self._parts = parts if len(parts) == 4 else None
        else:
            canonical_json(self._record)  # refuse what cannot be serialised now, not at commit time
            self._parts = None

    def field(self, name: str) -> Any:
        """The caller's field `name` (None when absent)."""
        return None if name in STORE_FIELDS else self._record.get(name)

    def render(self, seq: int, ts: str, prev: str) -> bytes:
        """The canonical JSON of the record numbered `seq`, stamped `ts`, chained to `prev`."""
        parts = self._parts
        if parts is None or type(seq) is not int:
            return canonical_json({**self._record, "seq": seq, "ts": ts, "prev": prev})
        return b"".join((  # sorted keys put the holes in the order prev, seq, ts
            parts[0], encode_basestring(prev).encode(), parts[1], str(seq).encode(), parts[2],
            encode_basestring(ts).encode(), parts[3],
        ))
