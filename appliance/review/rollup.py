"""Per-day totals kept beside the review index, so the overview's charts read a few rows per day
instead of every record: events per (day, kind, decision, model) with PHI-bearing events and tokens,
prompt findings per (day, type), and blocked events per (day, rule)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS daily (day TEXT NOT NULL, kind TEXT NOT NULL, decision TEXT NOT NULL, model TEXT NOT NULL, "
    "events INTEGER NOT NULL, phi INTEGER NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY (day, kind, decision, model))",
    "CREATE TABLE IF NOT EXISTS daily_findings (day TEXT NOT NULL, type TEXT NOT NULL, count INTEGER NOT NULL, "
    "PRIMARY KEY (day, type))",
    "CREATE TABLE IF NOT EXISTS daily_blocks (day TEXT NOT NULL, rule TEXT NOT NULL, blocks INTEGER NOT NULL, "
    "PRIMARY KEY (day, rule))",
]
TABLES = ("daily", "daily_findings", "daily_blocks")
_UPSERT = {
    "daily": "INSERT INTO daily VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, kind, decision, model) DO UPDATE SET "
             "events = events + excluded.events, phi = phi + excluded.phi, tokens = tokens + excluded.tokens",
    "daily_findings": "INSERT INTO daily_findings VALUES (?, ?, ?) ON CONFLICT (day, type) DO UPDATE SET "
                      "count = count + excluded.count",
    "daily_blocks": "INSERT INTO daily_blocks VALUES (?, ?, ?) ON CONFLICT (day, rule) DO UPDATE SET "
                    "blocks = blocks + excluded.blocks",
}


def add(db: Any, events: Iterable[dict[str, Any]], findings: list[tuple[int, str, int, str]],
        rules: list[tuple[int, str, str]]) -> None:
    """Add a batch of indexed events (and their finding and rule rows) to the per-day totals."""
    day_of: dict[int, str] = {}
    blocked: set[int] = set()
    daily: Counter[tuple[str, str, str, str]] = Counter()
    phi: Counter[tuple[str, str, str, str]] = Counter()
    tokens: Counter[tuple[str, str, str, str]] = Counter()
    for event in events:
        key = (event["day"], event["kind"], event.get("decision") or "", event.get("model") or "")
        day_of[event["seq"]] = event["day"]
        daily[key] += 1
        phi[key] += event["phi"]
        tokens[key] += event["prompt_tokens"] + event["completion_tokens"]
        if event.get("decision") == "block":
            blocked.add(event["seq"])
    found: Counter[tuple[str, str]] = Counter()
    for seq, kind, count, direction in findings:
        if direction == "prompt":
            found[(day_of[seq], kind)] += count
    blocks = Counter((day_of[seq], rule) for seq, rule in {(seq, rule) for seq, rule, _ in rules if seq in blocked})
    db.executemany(_UPSERT["daily"], [(*key, count, phi[key], tokens[key]) for key, count in daily.items()])
    db.executemany(_UPSERT["daily_findings"], [(*key, count) for key, count in found.items()])
    db.executemany(_UPSERT["daily_blocks"], [(*key, count) for key, count in blocks.items()])


def day_range(since: str | None, until: str | None) -> tuple[str, list[str]]:
    """A condition on `day` covering the days of [since, until) (stored timestamps), and its parameters."""
    clauses, params = ["1 = 1"], []
    if since:
        clauses.append("day >= ?")
        params.append(since[:10])
    if until:
        clauses.append("day <= ?" if until[10:] > "T00:00:00.000000Z" else "day < ?")
        params.append(until[:10])
    return " AND ".join(clauses), params
