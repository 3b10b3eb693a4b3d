"""Writer-side serialisation: the orjson fast path writes exactly the standard library's canonical JSON."""
from __future__ import annotations

import dataclasses
import enum
import math
import random
import struct
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from audit.format import canonical_json
from audit.skeleton import RecordSkeleton, _orjson_agrees

PLACES = [(0, "2025-01-31T12:00:00.000000Z", "0" * 64), (10**12, "ts", "ab" * 32)]


def _expected(fields: dict[str, Any], seq: int, ts: str, prev: str) -> bytes:
    return canonical_json({**fields, "seq": seq, "ts": ts, "kind": "request", "prev": prev})


def _random_text(rng: random.Random) -> str:
    alphabet = [chr(c) for c in range(0, 0x80)] + ["é", "ß", "日", "\u2028", "\u2029", "\ufeff", "\U0001F600", "\\", '"']
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def _random_float(rng: random.Random) -> float:
    while True:
        if rng.random() < 0.5:  # any finite double, most far outside the fast path's float domain
            value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        else:  # around the domain's edges and inside it
            value = rng.choice([-1, 1]) * 10 ** rng.uniform(-6, 18)
            if rng.random() < 0.3:
                value = round(value, rng.randrange(0, 7))
        if math.isfinite(value):
            return value


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(10 if depth < 4 else 7)
    if choice == 0:
        return _random_text(rng)
    if choice == 1:
        return rng.choice([0, 1, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30])
    if choice == 2:
        return rng.randrange(-10**6, 10**6)
    if choice == 3:
        return _random_float(rng)
    if choice == 4:
        return rng.choice([True, False, None])
    if choice == 5:
        return rng.choice([0.0, -0.0, 1e-4, 9.999e-5, 1e16, 9999999999999998.0, 1e-5, 5e-324, 1.7976931348623157e308])
    if choice == 6:
        return ""
    if choice == 7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if choice == 8:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 3)))
    return {_random_text(rng): _random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def test_random_records_render_exactly_the_canonical_json() -> None:
    rng = random.Random(6962)
    fast = 0
    for _ in range(4000):
        fields = {_random_text(rng) or "k": _random_value(rng) for _ in range(rng.randrange(1, 6))}
        fields = {key: value for key, value in fields.items() if key not in {"seq", "ts", "kind", "prev"}}
        try:
            expected = [_expected(fields, *place) for place in PLACES]
        except (TypeError, ValueError):  # the standard library refuses it (lone surrogate): so must we
            with pytest.raises(ValueError):
                RecordSkeleton("request", fields)
            continue
        skeleton = RecordSkeleton("request", fields)
        assert [skeleton.render(*place) for place in PLACES] == expected, fields
        fast += all(map(_orjson_agrees, fields.values()))
    assert fast > 1000, "the random records hardly ever took the fast path: the test would prove little"


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Purpose(str, enum.Enum):
    TREATMENT = "treatment"


@dataclasses.dataclass
class Point:
    x: int


class Shouty(str):
    """A str subclass that sorts by its own (reversed) rule."""

    def __lt__(self, other: object) -> bool:
        return str(other) < str(self)


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), -float("inf"), datetime.now(timezone.utc), date(2025, 1, 1), uuid.uuid4(),
    Colour.RED, Point(1), Decimal("1.5"), b"bytes", {1, 2}, {"a": [float("nan")]}, "\ud800",
])
def test_what_the_standard_library_refuses_is_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json({"v": value})
    with pytest.raises(ValueError, match="not JSON"):
        RecordSkeleton("request", {"v": value})


@pytest.mark.parametrize("value", [
    Level.HIGH, Purpose.TREATMENT, Shouty("x"), {Shouty("b"): 1, Shouty("a"): 2}, [1e16, 1e-5, 12.5],
    {1: "int key"}, 2**70, ("tuple", 1e20),
])
def test_values_outside_the_fast_path_match_the_standard_library(value: Any) -> None:
    assert not _orjson_agrees(value)
    skeleton = RecordSkeleton("request", {"v": value})
    for place in PLACES:
        assert skeleton.render(*place) == _expected({"v": value}, *place)


def test_nesting_beyond_orjson_depth_limit_falls_back() -> None:
    value: Any = "bottom"
    for _ in range(400):
        value = [value]
    skeleton = RecordSkeleton("request", {"deep": value})
    assert skeleton.render(*PLACES[0]) == _expected({"deep": value}, *PLACES[0])


def test_cyclic_fields_are_refused() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError, match="not JSON"):
        RecordSkeleton("request", {"cycle": cycle})


def test_an_inference_record_takes_the_fast_path() -> None:
    record = {
        "request_id": "req_0190a1b2c3d4e5f6a7b8c9d0e1f2", "actor": "key-1", "model_sha256": "b1" * 32,
        "packs": {"hipaa": {"version": "2025.1", "sha256": "aa" * 32}}, "rule_ids": ["hipaa.safe_harbor.names"],
        "findings": {"PERSON": 2}, "tokens_in": 412, "latency_ms": 1234.567, "status": 200, "stream": False,
        "client": None,
    }
    assert all(map(_orjson_agrees, record.values()))
