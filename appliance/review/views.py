"""What each console page shows, read from the review index and the audit reader (no HTTP here)."""
from __future__ import annotations

import json
import math
from typing import Any

from appliance.review import rollup
from appliance.review.charts import bar_chart
from appliance.review.filters import Filters
from appliance.review.index import ReviewIndex
from audit.log_check import RecordProof, prove_record

PAGE_SIZE = 50
TIMELINE_COLUMNS = "seq, ts, kind, actor, actor_name, role, purpose, model, zone, decision, status, detail"


def timeline(index: ReviewIndex, filters: Filters, page: int) -> dict[str, Any]:
    """One page of matching records (newest first), the total and the count per kind."""
    index.sync()
    where, params = filters.where()
    per_kind = [tuple(row) for row in index.query(
        f"SELECT kind, COUNT(*) FROM events e WHERE {where} GROUP BY kind ORDER BY kind", params)]
    total = sum(count for _, count in per_kind)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    paging, paging_params = filters.where(ts_index=False)
    seqs = [row[0] for row in index.query(f"SELECT seq FROM events e WHERE {paging} ORDER BY seq DESC LIMIT ? OFFSET ?",
                                          [*paging_params, PAGE_SIZE, (page - 1) * PAGE_SIZE])]
    events = index.query(f"SELECT {TIMELINE_COLUMNS} FROM events WHERE seq IN ({', '.join('?' * len(seqs))}) "
                         "ORDER BY seq DESC", seqs) if seqs else []
    return {"total": total, "per_kind": per_kind, "events": events, "page": page, "pages": pages,
            "choices": index.choices()}


def overview(index: ReviewIndex, filters: Filters) -> list[dict[str, Any]]:
    """The overview's charts for the whole days of the period of `filters` (its other fields are ignored)."""
    index.sync()
    days, params = rollup.day_range(*filters.bounds())

    def rows(sql: str) -> list[Any]:
        return index.query(sql, params)

    calls = f"{days} AND kind IN ('request', 'policy_block')"
    per_day = rows(f"SELECT day, SUM(events), SUM(phi) FROM daily WHERE {calls} GROUP BY day ORDER BY day")
    decisions = rows(f"SELECT decision, SUM(events) FROM daily WHERE {calls} GROUP BY decision ORDER BY decision")
    blocks = rows(f"SELECT rule, SUM(blocks) FROM daily_blocks WHERE {days} GROUP BY rule ORDER BY rule")
    findings = rows(f"SELECT type, SUM(count) FROM daily_findings WHERE {days} GROUP BY type ORDER BY type")
    tokens = rows(f"SELECT model, SUM(tokens) FROM daily WHERE {days} AND kind = 'outcome' GROUP BY model ORDER BY model")
    egress = rows(f"SELECT day, SUM(events) FROM daily WHERE {days} AND kind IN ('egress_block', 'route_refused') "
                  "GROUP BY day ORDER BY day")
    charts = [
        ("Decisions on calls", [(r[0] or "(none)", r[1]) for r in decisions]),
        ("Blocks per rule (rules that fired on blocked calls)", [(r[0], r[1]) for r in blocks]),
        ("Findings per type (prompts)", [(r[0], r[1]) for r in findings]),
        ("Tokens per model", [(r[0] or "(none)", r[1]) for r in tokens]),
        ("Egress blocks and refused routes per day", [(r[0], r[1]) for r in egress]),
    ]
    calls_chart = bar_chart("Calls per day", [(r[0], r[1]) for r in per_day], [r[2] for r in per_day],
                            ("calls", "PHI-bearing calls"))
    return [{"title": "Calls and PHI-bearing calls per day", "svg": calls_chart}] + [
        {"title": title, "svg": bar_chart(title, bars)} for title, bars in charts]


def record(index: ReviewIndex, seq: int) -> tuple[RecordProof, list[tuple[str, str]], dict[str, Any] | None]:
    """A record with its proof, its fields for display and its linked request/outcome (if any)."""
    proof = prove_record(index.store, seq)
    index.sync()
    fields = [(name, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
              for name, value in sorted(proof.record.items())]
    linked = None
    if proof.record.get("kind") == "outcome" and isinstance(proof.record.get("request_seq"), int):
        linked = {"relation": "request", "seq": proof.record["request_seq"], "kind": "request"}
    elif proof.record.get("kind") == "request":
        found = index.query("SELECT seq FROM events WHERE request_seq = ? AND kind = 'outcome'", (seq,))
        if found:
            linked = {"relation": "outcome", "seq": found[0][0], "kind": "outcome"}
    return proof, fields, linked
