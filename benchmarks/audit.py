"""Audit store throughput: durable signed appends/s with concurrent writers, and verified records/s.

    python benchmarks/audit.py [--writers 64] [--tasks 256] [--records 20000] [--prefill 100000] [--no-postgres]

The process runs as `appliance serve` does (its GIL switch interval, its time-ordered request ids). For SQLite
(WAL, synchronous=FULL) and PostgreSQL it measures, on a log already holding `--prefill` records:
- signed: `AuditStore.append` from writer threads, and `append_async` from asyncio tasks on one event
  loop (group commit: chained, hashed, head-signed, fsynced before the call returns);
- unsigned: the same rows (canonical JSON serialised on the writers' side, same table, indexes and
  INSERT statements) from the same writers through the same group committer, without chaining,
  hashing, signing or the Merkle tree. Records per group are printed for both: same batching;
and the offline verifier (`audit.verify.verify_export`) over an export of the signed log.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import secrets
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: this file must not shadow the `audit` package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg
from sqlmodel import SQLModel

from appliance.api.framing import new_request_id
from audit.export import export_audit
from audit.group_commit import COMMITTER_SWITCH_INTERVAL_S, GroupCommitter
from audit.keys import init_keys
from audit.models import AuditRecord
from audit.record import GENESIS_PREV, RecordSkeleton
from audit.store import AuditStore, GroupStatements, make_engine, record_skeleton, utc_timestamp
from audit.verify import verify_export

PG_SERVER = "postgres@127.0.0.1:5432/test"


def request_fields(worker: int, i: int) -> dict[str, Any]:
    """A realistic inference record (what the API writes per request)."""
    return {
        "request_id": new_request_id(), "actor": f"key-{worker % 8}", "role": "clinical", "purpose": "treatment",
        "endpoint": "/v1/chat/completions", "model": "smollm2-135m-instruct", "model_sha256": "b1" * 32,
        "backend": "local", "zone": "local", "packs": {"hipaa": "aa" * 32, "gdpr": "bb" * 32, "pci": "cc" * 32},
        "decision": "redact", "rule_ids": ["hipaa.safe_harbor.names", "hipaa.safe_harbor.mrn"],
        "findings": {"PERSON": 2, "MEDICAL_RECORD_NUMBER": 1}, "prompt_hmac": "dd" * 32, "tokens_in": 412,
    }


def run_writers(writers: int, records: int, append: Callable[[str, dict[str, Any]], object]) -> float:
    """`records` appends spread over `writers` threads; returns the wall time in seconds."""
    per_writer = records // writers
    start = threading.Barrier(writers + 1)

    def work(worker: int) -> None:
        start.wait()
        for i in range(per_writer):
            append("request", request_fields(worker, i))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def run_tasks(writers: int, records: int, append_async: Callable[[str, dict[str, Any]], Any]) -> float:
    """`records` appends spread over `writers` asyncio tasks on one event loop; returns the wall time."""
    per_writer = records // writers

    async def work(worker: int) -> None:
        for i in range(per_writer):
            await append_async("request", request_fields(worker, i))

    async def all_tasks() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(work(w) for w in range(writers)))
        return time.perf_counter() - began

    return asyncio.run(all_tasks())


RUNNERS = {"threads": run_writers, "asyncio": run_tasks}


class UnsignedLog:
    """The baseline: the same rows into the same table through the same group committer and the same
    statement, serialised the same way on the appenders' threads; no chaining, hashing, signing or tree."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        SQLModel.metadata.create_all(self.engine, tables=[AuditRecord.__table__])  # type: ignore[attr-defined]
        self._writer = self.engine.execution_options(audit_write=True)
        self._statements = GroupStatements(self.engine.dialect.paramstyle)
        self._seq = itertools.count()
        self.groups = 0
        self._committer = GroupCommitter(self._commit, name="unsigned-committer")

    def append(self, kind: str, fields: dict[str, Any]) -> None:
        self._committer.submit(record_skeleton(kind, fields))

    async def append_async(self, kind: str, fields: dict[str, Any]) -> None:
        await self._committer.submit_future(record_skeleton(kind, fields))

    def _commit(self, batch: list[RecordSkeleton]) -> list[None]:
        ts, rows = utc_timestamp(), []
        for skeleton in batch:  # a row of the same size as the signed one: prev and leaf hold zeros
            seq = next(self._seq)
            rows.append((seq, ts, skeleton.kind, skeleton.field("request_id"), skeleton.field("actor"),
                         skeleton.render(seq, ts, GENESIS_PREV).decode(), GENESIS_PREV))
        with self._writer.begin() as conn:
            self._statements.insert_records(conn.connection.cursor(), rows)
        self.groups += 1
        return [None] * len(batch)

    def close(self) -> None:
        self._committer.close()
        self.engine.dispose()


def measure(name: str, signed_url: str, unsigned_url: str, key_dir: Path, args: argparse.Namespace, work: Path) -> None:
    store, unsigned = AuditStore.open(signed_url, key_dir), UnsignedLog(unsigned_url)
    run_tasks(args.tasks, args.prefill, store.append_async)
    run_tasks(args.tasks, args.prefill, unsigned.append_async)
    for mode, runner in RUNNERS.items():
        writers = args.writers if mode == "threads" else args.tasks
        heads_before, size_before = len(store.read_heads()), store.size()
        signed_s = runner(writers, args.records, store.append if mode == "threads" else store.append_async)
        appended = store.size() - size_before
        groups = len(store.read_heads()) - heads_before
        unsigned_groups = unsigned.groups
        unsigned_s = runner(writers, args.records, unsigned.append if mode == "threads" else unsigned.append_async)
        unsigned_groups = unsigned.groups - unsigned_groups
        signed_rate, unsigned_rate = appended / signed_s, appended / unsigned_s
        print(f"{name:10s} {mode:7s} signed {signed_rate:8,.0f} appends/s, unsigned {unsigned_rate:8,.0f}/s, "
              f"ratio {signed_rate / unsigned_rate:4.2f}  ({appended} records, {writers} {mode} writers, records "
              f"per group: signed {appended / groups:.1f}, unsigned {appended / unsigned_groups:.1f})")
    unsigned.close()
    export_dir = work / f"export-{name}"
    export_audit(store, export_dir)
    store.close()
    began = time.perf_counter()
    report = verify_export(export_dir)
    verify_s = time.perf_counter() - began
    print(f"{name:10s} verify  {report.records / verify_s:8,.0f} records/s  ({report.records} records, full export)")


def pg_schema(create: bool, schema: str) -> None:
    with psycopg.connect(f"postgresql://{PG_SERVER}", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}" if create else f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=64, help="concurrent writer threads (default 64)")
    parser.add_argument("--tasks", type=int, default=256, help="concurrent asyncio writer tasks (default 256)")
    parser.add_argument("--records", type=int, default=20_000, help="measured appends per run (default 20000)")
    parser.add_argument("--prefill", type=int, default=100_000, help="records in each log before measuring (default 100000)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    sys.setswitchinterval(COMMITTER_SWITCH_INTERVAL_S)
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        work = Path(tmp)
        init_keys(work / "keys")
        measure("sqlite", f"sqlite:///{work / 'signed.db'}", f"sqlite:///{work / 'unsigned.db'}", work / "keys", args, work)
        if not args.no_postgres:
            schemas = [f"audit_bench_{secrets.token_hex(4)}" for _ in range(2)]
            for schema in schemas:
                pg_schema(True, schema)
            try:
                signed_url, unsigned_url = (
                    f"postgresql+psycopg://{PG_SERVER}?options=-csearch_path%3D{schema}" for schema in schemas
                )
                measure("postgresql", signed_url, unsigned_url, work / "keys", args, work)
            finally:
                for schema in schemas:
                    pg_schema(False, schema)


if __name__ == "__main__":
    main()
