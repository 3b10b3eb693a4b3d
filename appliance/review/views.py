"""What each console page shows, read from the review index and the audit reader (no HTTP here)."""
from __future__ import annotations

import json
import math
from typing import Any

from appliance.review.charts import bar_chart
from appliance.review.filters import Filters
from appliance.review.index import ReviewIndex
from audit.reader import RecordProof, prove_record

PAGE_SIZE = 50
TIMELINE_COLUMNS = "seq, ts, kind, actor, actor_name, role, purpose, model, zone, decision, status, detail"
CALLS = "e.kind IN ('request', 'policy_block')"


def timeline(index: ReviewIndex, filters: Filters, page: int) -> dict[str, Any]:
    """One page of matching records (newest first), the total and the count per kind."""
    where, params = filters.where()
    total = index.query(f"SELECT COUNT(*) FROM events e WHERE {where}", params)[0][0]
    per_kind = index.query(f"SELECT kind, COUNT(*) FROM events e WHERE {where} GROUP BY kind ORDER BY kind", params)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    events = index.query(f"SELECT {TIMELINE_COLUMNS} FROM events e WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                         [*params, PAGE_SIZE, (page - 1) * PAGE_SIZE])
    return {"total": total, "per_kind": [tuple(row) for row in per_kind], "events": events, "page": page,
            "pages": pages, "choices": index.choices()}


def overview(index: ReviewIndex, filters: Filters) -> list[dict[str, Any]]:
    """The overview's charts for the period of `filters` (its other fields are ignored)."""
    period, params = Filters(since=filters.since, until=filters.until).where()

    def rows(sql: str) -> list[Any]:
        return index.query(sql, params)

    per_day = rows(f"SELECT day, COUNT(*), SUM(phi) FROM events e WHERE {CALLS} AND {period} GROUP BY day ORDER BY day")
    decisions = rows(f"SELECT decision, COUNT(*) FROM events e WHERE {CALLS} AND {period} GROUP BY decision ORDER BY decision")
    in_period = f"SELECT seq FROM events e WHERE {period}"
    blocks = rows(f"SELECT r.rule, COUNT(DISTINCT r.seq) FROM rules r JOIN events e ON e.seq = r.seq WHERE "
                  f"e.decision = 'block' AND {period} GROUP BY r.rule ORDER BY r.rule")
    findings = rows(f"SELECT type, SUM(count) FROM findings WHERE direction = 'prompt' AND seq IN ({in_period}) "
                    "GROUP BY type ORDER BY type")
    tokens = rows(f"SELECT COALESCE(model, '(none)'), SUM(prompt_tokens) + SUM(completion_tokens) FROM events e "
                  f"WHERE e.kind = 'outcome' AND {period} GROUP BY model ORDER BY model")
    egress = rows(f"SELECT day, COUNT(*) FROM events e WHERE e.kind IN ('egress_block', 'route_refused') AND {period} "
                  "GROUP BY day ORDER BY day")
    charts = [
        ("Calls and PHI-bearing calls per day", bar_chart("Calls per day", [(r[0], r[1]) for r in per_day],
                                                           [r[2] or 0 for r in per_day], ("calls", "PHI-bearing calls"))),
        ("Decisions", [(r[0] or "(none)", r[1]) for r in decisions]),
        ("Blocks per rule", [(r[0], r[1]) for r in blocks]),
        ("Findings per type (prompts)", [(r[0], r[1]) for r in findings]),
        ("Tokens per model", [(r[0], r[1] or 0) for r in tokens]),
        ("Egress blocks and refused routes per day", [(r[0], r[1]) for r in egress]),
    ]
    return [{"title": title, "svg": bars if not isinstance(bars, list) else bar_chart(title, bars)}
            for title, bars in charts]


def record(index: ReviewIndex, seq: int) -> tuple[RecordProof, list[tuple[str, str]], dict[str, Any] | None]:
    """A record with its proof, its fields for display and its linked request/outcome (if any)."""
    proof = prove_record(index.store, seq)
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
