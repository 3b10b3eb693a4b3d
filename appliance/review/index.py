"""The review index: the log's records as indexed rows (SQLite, `D/review.db`), for filters and aggregates.

The index is derived data, rebuilt from the log at any time: it is filled through the audit room's
reader (`audit.reader.AuditReader.rows`), a batch at a time, from the last seq it holds. It keeps one row per
record with the fields reviewers filter on, plus one row per (record, finding type) and per (record,
rule), each column indexed, so the console's filters, counts and charts stay cheap on large logs. An
outcome row inherits who/what/where from its request row. If the log's record at the index's last
seq no longer has the leaf the index saw, the index starts again from scratch. Whether the log
verifies is a separate question (`audit.log_check.check_stored_log`), shown next to everything built here.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

from appliance.review import rollup
from audit.reader import StoredRow
from audit.log import AuditLog

SCHEMA_VERSION = 2
EVENT_COLUMNS = (
    "seq", "ts", "day", "kind", "request_id", "actor", "actor_name", "role", "purpose", "model", "backend", "zone",
    "decision", "status", "prompt_tokens", "completion_tokens", "phi", "client", "endpoint", "resource", "detail",
    "subject", "request_seq", "leaf",
)
INDEXED = ("ts", "kind", "request_id", "actor", "role", "purpose", "model", "backend", "zone", "decision",
           "status", "subject", "request_seq")
_INHERITED = ("actor", "actor_name", "role", "purpose", "model", "backend", "zone", "client", "endpoint", "resource",
              "subject")
CHOICE_FIELDS = ("kind", "role", "purpose", "model", "backend", "zone", "decision", "rule", "finding")


def _loose_scan(table: str, column: str) -> str:
    """Distinct values of an indexed column by hopping from one value to the next (one index lookup per value)."""
    return (f"WITH RECURSIVE v(x) AS (SELECT MIN({column}) FROM {table} UNION ALL SELECT (SELECT MIN({column}) "
            f"FROM {table} WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL")


_DISTINCT = {
    **{name: _loose_scan("events", name) for name in CHOICE_FIELDS[:7]},
    "rule": _loose_scan("rules", "rule"), "finding": _loose_scan("findings", "type"),
}
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, day TEXT NOT NULL, kind TEXT NOT NULL, "
    "request_id TEXT, actor TEXT, actor_name TEXT, role TEXT, purpose TEXT, model TEXT, backend TEXT, zone TEXT, "
    "decision TEXT, status INTEGER, prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL "
    "DEFAULT 0, phi INTEGER NOT NULL DEFAULT 0, client TEXT, endpoint TEXT, resource TEXT, detail TEXT, subject TEXT, "
    "request_seq INTEGER, leaf TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS findings (seq INTEGER NOT NULL, type TEXT NOT NULL, count INTEGER NOT NULL, "
    "direction TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rules (seq INTEGER NOT NULL, rule TEXT NOT NULL, direction TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_findings_type ON findings (type, seq)",
    "CREATE INDEX IF NOT EXISTS ix_findings_seq ON findings (seq)",
    "CREATE INDEX IF NOT EXISTS ix_rules_rule ON rules (rule, seq)",
    "CREATE INDEX IF NOT EXISTS ix_rules_seq ON rules (seq)",
    "CREATE INDEX IF NOT EXISTS ix_events_kind ON events (kind, seq)",
    # (field, kind, seq): a filter on one field counts per kind and pages by seq from the index alone
    *(f"CREATE INDEX IF NOT EXISTS ix_events_{name} ON events ({name}, kind, seq)" for name in INDEXED if name != "kind"),
    *rollup.SCHEMA,
]


class ReviewIndex:
    """The indexed copy of the log's review fields; thread-safe (one SQLite connection under a lock)."""

    def __init__(self, path: Path | str, store: AuditLog) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:  # an older layout: rebuild
            for table in ("events", "findings", "rules", *rollup.TABLES):
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def choices(self) -> dict[str, list[str]]:
        """Values seen per filterable field (for the console's suggestions), from small lookups."""
        found: dict[str, list[str]] = {}
        with self._lock:
            for name in CHOICE_FIELDS:
                found[name] = [row[0] for row in self._db.execute(_DISTINCT[name]) if row[0] is not None]
        return found

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query on the index as it stands (call `sync` first to catch up with the log)."""
        with self._lock:
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def sync(self) -> int:
        """Index the records appended since the last sync; returns how many were added.

        Each batch is one IMMEDIATE transaction that re-reads where the index ends, so processes sharing
        the index file (the server and `appliance report`) never index a record twice."""
        added = 0
        with self._lock:
            while True:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    rows = next(self.store.reader.rows(self._resume_point()), [])
                    self._add(rows)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                if not rows:
                    return added
                added += len(rows)

    def _resume_point(self) -> int:
        last = self._db.execute("SELECT seq, leaf FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        if last is None:
            return 0
        stored = next(self.store.reader.rows(last[0], last[0]), [])
        if not stored or stored[0].leaf != last[1]:  # a different log (or one rewritten): index it again
            for table in ("events", "findings", "rules", *rollup.TABLES):
                self._db.execute(f"DELETE FROM {table}")
            return 0
        return last[0] + 1

    def _add(self, rows: list[StoredRow]) -> None:
        """Insert rows (inside the caller's transaction)."""
        batch: dict[int, dict[str, Any]] = {}
        findings, rules = [], []
        for row in rows:
            record = json.loads(row.body)
            event = _event(record, row.leaf)
            if record.get("kind") == "outcome":
                event.update(self._inherited(record.get("request_seq"), batch))
            batch[row.seq] = event
            findings += [(row.seq, kind, count, direction) for direction, kind, count in _finding_counts(record)]
            rules += [(row.seq, rule, direction) for direction, rule in _rules(record)]
        events = [tuple(event.get(name) for name in EVENT_COLUMNS) for event in batch.values()]
        self._db.executemany(f"INSERT INTO events VALUES ({', '.join('?' * len(EVENT_COLUMNS))})", events)
        self._db.executemany("INSERT INTO findings VALUES (?, ?, ?, ?)", findings)
        self._db.executemany("INSERT INTO rules VALUES (?, ?, ?)", rules)
        rollup.add(self._db, batch.values(), findings, rules)

    def _inherited(self, request_seq: Any, batch: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """Who/what/where of an outcome's request: from this batch or from the index."""
        if not isinstance(request_seq, int):
            return {}
        if request_seq in batch:
            return {name: batch[request_seq].get(name) for name in _INHERITED}
        row = self._db.execute(f"SELECT {', '.join(_INHERITED)} FROM events WHERE seq = ?", (request_seq,)).fetchone()
        return dict(zip(_INHERITED, row)) if row else {}


def _event(record: dict[str, Any], leaf: str) -> dict[str, Any]:
    """A record's review fields (missing ones stay NULL)."""
    ts = str(record.get("ts", ""))
    findings = record.get("findings")
    return {
        "seq": record.get("seq"), "ts": ts, "day": ts[:10], "kind": record.get("kind"),
        "request_id": record.get("request_id"), "actor": record.get("actor"), "actor_name": record.get("actor_name"),
        "role": record.get("actor_role"), "purpose": record.get("purpose"), "model": record.get("model"),
        "backend": record.get("backend"), "zone": record.get("zone"), "decision": record.get("decision"),
        "status": record.get("status"), "prompt_tokens": _int(record.get("prompt_tokens")),
        "completion_tokens": _int(record.get("completion_tokens")),
        "phi": int(isinstance(findings, dict) and any(findings.values())), "client": record.get("client"),
        "endpoint": record.get("endpoint"), "resource": _resource(record), "detail": _detail(record),
        "subject": record.get("subject_digest"), "request_seq": record.get("request_seq"), "leaf": leaf,
    }


def _resource(record: dict[str, Any]) -> str | None:
    """What the event touched: the endpoint called, else the model, key or export it concerned."""
    for name in ("endpoint", "model", "model_id", "key_id", "default_model"):
        value = record.get(name)
        if isinstance(value, str) and value:
            return value if name == "endpoint" else f"{name}: {value}"
    return "audit log" if record.get("kind") in ("audit_access", "export") else None


def _detail(record: dict[str, Any]) -> str | None:
    """A short description for the timeline: why something was refused, what was read or changed."""
    for name in ("target", "reason", "access", "action", "error", "mode", "captures"):
        value = record.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return f"{name}: {value}"
    return None


def _finding_counts(record: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    for direction, name in (("prompt", "findings"), ("response", "response_findings")):
        counts = record.get(name)
        if isinstance(counts, dict):
            yield from ((direction, kind, count) for kind, count in counts.items() if isinstance(count, int) and count)


def _rules(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for direction, name in (("prompt", "rules"), ("response", "response_rules")):
        rules = record.get(name)
        if isinstance(rules, list):
            yield from ((direction, rule) for rule in dict.fromkeys(rules) if isinstance(rule, str))


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
