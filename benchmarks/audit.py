"""Audit store throughput: durable signed appends/s with concurrent writers, and verified records/s.

    python benchmarks/audit.py [--writers 64] [--tasks 256] [--processes 2] [--records 20000] [--prefill 100000]
                               [--no-postgres]

First it re-measures the reference figures the audit issue quotes (plain SQLite commits, Ed25519 on one
core), so runs on different machines can be compared. Records carry time-ordered request ids as the API
issues them; each writer's records are built before the clock starts, so the store is timed, not the
making of its load. For SQLite (WAL, synchronous=FULL) and
PostgreSQL it measures, on a log already holding `--prefill` records:
- signed: `AuditLog.append` from writer threads, `append_async` from asyncio tasks on one event loop,
  and `append_async` from asyncio tasks in several processes, each with its own store on the same log
  (group commit: chained, hashed, head-signed, fsynced before the call returns);
- unsigned: the same rows (canonical JSON serialised on the writers' side, same table, indexes and
  one autocommit INSERT per group, on SQLite under the same file lock) from the same writers through
  the same group committer, without reading the tail, chaining, hashing, signing or the Merkle tree
  (processes number their rows from disjoint seq ranges). Records per group are printed for both:
  same batching;
and the offline verifier (`audit.verify.verify_export`) over a full export of the signed log.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import platform
import secrets
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: this file must not shadow the `audit` package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import SQLModel

from appliance.api.framing import new_request_id
from audit.chain import record_skeleton
from audit.export import export_audit
from audit.format import GENESIS_PREV, utc_timestamp
from audit.group_commit import GroupCommitter
from audit.keys import init_keys
from audit.log import AuditLog
from audit.models import AuditRecord
from audit.skeleton import RecordSkeleton
from audit.sql import GroupStatements, make_engine, sqlite_write_lock
from audit.verify import verify_export

PG_SERVER = "postgres@127.0.0.1:5432/test"
SIGNATURE_SIZED = "A" * 88  # as long as a base64 Ed25519 signature


def request_fields(worker: int) -> dict[str, Any]:
    """A realistic inference record (what the API writes per request)."""
    return {
        "request_id": new_request_id(), "actor": f"key-{worker % 8}", "role": "clinical", "purpose": "treatment",
        "endpoint": "/v1/chat/completions", "model": "smollm2-135m-instruct", "model_sha256": "b1" * 32,
        "backend": "local", "zone": "local", "packs": {"hipaa": "aa" * 32, "gdpr": "bb" * 32, "pci": "cc" * 32},
        "decision": "redact", "rule_ids": ["hipaa.safe_harbor.names", "hipaa.safe_harbor.mrn"],
        "findings": {"PERSON": 2, "MEDICAL_RECORD_NUMBER": 1}, "prompt_hmac": "dd" * 32, "tokens_in": 412,
        "latency_ms": 1234.567,
    }


Workload = list[list[dict[str, Any]]]  # each writer's records, in order


def workload(writers: int, records: int) -> Workload:
    """`records` distinct records split over `writers`, built before the clock starts: the benchmark times
    the store, not the making of its load."""
    return [[request_fields(worker) for _ in range(records // writers)] for worker in range(writers)]


def run_writers(load: Workload, append: Callable[[str, dict[str, Any]], object]) -> float:
    """Each writer's records appended from its own thread; returns the wall time in seconds."""
    start = threading.Barrier(len(load) + 1)

    def work(records: list[dict[str, Any]]) -> None:
        start.wait()
        for fields in records:
            append("request", fields)

    threads = [threading.Thread(target=work, args=(records,)) for records in load]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def run_tasks(load: Workload, append_async: Callable[[str, dict[str, Any]], Any]) -> float:
    """Each writer's records appended from its own asyncio task, all on one event loop; returns the wall time."""

    async def work(records: list[dict[str, Any]]) -> None:
        for fields in records:
            await append_async("request", fields)

    async def all_tasks() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(work(records) for records in load))
        return time.perf_counter() - began

    return asyncio.run(all_tasks())


class UnsignedLog:
    """The baseline: the same rows into the same table through the same group committer and the same
    statement (one autocommit INSERT per group; on SQLite under the same file lock as the signed log's
    writers), serialised the same way on the appenders' threads; no chaining, hashing, signing or tree.
    Rows are numbered `first_seq`, `first_seq + step`, ... (disjoint ranges for concurrent processes)."""

    def __init__(self, url: str, first_seq: int = 0, step: int = 1) -> None:
        self.engine = make_engine(url)
        SQLModel.metadata.create_all(self.engine, tables=[AuditRecord.__table__])  # type: ignore[attr-defined]
        self._statements = GroupStatements(self.engine.dialect.paramstyle)
        self._connection = self.engine.raw_connection()
        if self.engine.dialect.name == "postgresql":
            self._connection.driver_connection.autocommit = True
        self._lock = sqlite_write_lock(self.engine)
        self._seq = itertools.count(first_seq, step)
        self.groups = 0
        self._committer = GroupCommitter(self._commit, name="unsigned-committer")

    def append(self, kind: str, fields: dict[str, Any]) -> None:
        self._committer.submit(record_skeleton(kind, fields))

    async def append_async(self, kind: str, fields: dict[str, Any]) -> None:
        await self._committer.submit_future(record_skeleton(kind, fields))

    def _commit(self, batch: list[RecordSkeleton]) -> list[None]:
        ts, rows = utc_timestamp(), []
        for skeleton in batch:  # a row of the same size as the signed one: prev, leaf and signature hold zeros
            seq = next(self._seq)
            rows.append((seq, ts, skeleton.kind, skeleton.field("request_id"), skeleton.field("actor"),
                         skeleton.render(seq, ts, GENESIS_PREV).decode(), GENESIS_PREV, None, None, None))
        rows[-1] = (*rows[-1][:-3], rows[0][0], GENESIS_PREV, SIGNATURE_SIZED)
        with self._lock or contextlib.nullcontext():
            self._statements.insert_records(self._connection.cursor(), rows)
        self.groups += 1
        return [None] * len(batch)

    def size(self) -> int:
        """Rows in the table."""
        cursor = self._connection.cursor()
        cursor.execute(f"SELECT count(*) FROM {AuditRecord.__tablename__}")
        return cursor.fetchone()[0]

    def close(self) -> None:
        self._committer.close()
        if self._lock is not None:
            self._lock.close()
        self._connection.close()
        self.engine.dispose()


def writer_process(control: Any, url: str, key_dir: Path | None, tasks: int, records: int, first_seq: int, step: int) -> None:
    """One process of the `processes` run: its own store (signed when `key_dir` is given, else an
    UnsignedLog) on the shared log, `tasks` asyncio writers; reports (start, end, groups) over `control`."""
    log: Any = AuditLog.open(url, key_dir) if key_dir is not None else UnsignedLog(url, first_seq, step)
    load = workload(tasks, records)
    control.send("ready")
    control.recv()  # every process starts at once
    began = time.monotonic()
    run_tasks(load, log.append_async)
    ended = time.monotonic()
    control.send((began, ended, getattr(log, "groups", 0)))
    log.close()


def run_processes(url: str, key_dir: Path | None, processes: int, tasks: int, records: int, first_seq: int) -> tuple[float, int]:
    """`processes` writer processes appending `records` in all; returns (wall seconds, unsigned groups)."""
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(processes)]
    workers = [
        context.Process(target=writer_process, args=(child, url, key_dir, tasks, records // processes, first_seq + i, processes))
        for i, (_, child) in enumerate(pipes)
    ]
    for worker in workers:
        worker.start()
    for parent, _ in pipes:
        if parent.recv() != "ready":
            raise RuntimeError("a writer process failed to start")
    for parent, _ in pipes:
        parent.send("go")
    reports = [parent.recv() for parent, _ in pipes]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"a writer process exited with {worker.exitcode}")
    return max(end for _, end, _ in reports) - min(start for start, _, _ in reports), sum(groups for _, _, groups in reports)


def print_rates(name: str, mode: str, appended: int, signed_s: float, unsigned_s: float, writers: str, groups: int, unsigned_groups: int) -> None:
    signed_rate, unsigned_rate = appended / signed_s, appended / unsigned_s
    print(f"{name:10s} {mode:9s} signed {signed_rate:8,.0f} appends/s, unsigned {unsigned_rate:8,.0f}/s, "
          f"ratio {signed_rate / unsigned_rate:4.2f}  ({appended} records, {writers}, records per group: "
          f"signed {appended / groups:.1f}, unsigned {appended / unsigned_groups:.1f})")


def measure(name: str, signed_url: str, unsigned_url: str, key_dir: Path, args: argparse.Namespace, work: Path) -> None:
    store, unsigned = AuditLog.open(signed_url, key_dir), UnsignedLog(unsigned_url)
    prefill = workload(args.tasks, args.prefill)
    run_tasks(prefill, store.append_async)
    run_tasks(prefill, unsigned.append_async)
    for mode, runner in {"threads": run_writers, "asyncio": run_tasks}.items():
        writers = args.writers if mode == "threads" else args.tasks
        load = workload(writers, args.records)
        heads_before, size_before = len(store.reader.read_heads()), store.reader.size()
        signed_s = runner(load, store.append if mode == "threads" else store.append_async)
        appended, groups = store.reader.size() - size_before, len(store.reader.read_heads()) - heads_before
        unsigned_groups = unsigned.groups
        unsigned_s = runner(load, unsigned.append if mode == "threads" else unsigned.append_async)
        print_rates(name, mode, appended, signed_s, unsigned_s, f"{writers} {mode} writers", groups, unsigned.groups - unsigned_groups)
    unsigned_first = unsigned.size()
    unsigned.close()
    heads_before, size_before = len(store.reader.read_heads()), store.reader.size()
    signed_s, _ = run_processes(signed_url, key_dir, args.processes, args.tasks, args.records, 0)
    appended, groups = store.reader.size() - size_before, len(store.reader.read_heads()) - heads_before
    unsigned_s, unsigned_groups = run_processes(unsigned_url, None, args.processes, args.tasks, args.records, unsigned_first)
    print_rates(name, "processes", appended, signed_s, unsigned_s,
                f"{args.processes} processes x {args.tasks} asyncio writers", groups, unsigned_groups)
    export_dir = work / f"export-{name}"
    export_audit(store, export_dir)
    store.close()
    began = time.perf_counter()
    report = verify_export(export_dir)
    verify_s = time.perf_counter() - began
    print(f"{name:10s} verify  {report.records / verify_s:8,.0f} records/s  ({report.records} records, full export)")


def calibrate(work: Path) -> None:
    """Re-measure on this machine the reference figures the audit issue quotes, so runs on different
    machines can be compared: plain SQLite (WAL, synchronous=FULL) commits and Ed25519 on one core."""
    connection = sqlite3.connect(work / "calibration.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE rows (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    body, seq = "x" * 800, itertools.count()

    def rows_per_second(rows_per_commit: int, commits: int) -> float:
        began = time.perf_counter()
        for _ in range(commits):
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO rows VALUES (?, ?)", [(next(seq), body) for _ in range(rows_per_commit)])
            connection.execute("COMMIT")
        return rows_per_commit * commits / (time.perf_counter() - began)

    one, hundred = rows_per_second(1, 2000), rows_per_second(100, 1000)
    connection.close()
    key, message = Ed25519PrivateKey.generate(), b"\x00" * 100
    signature = key.sign(message)
    began = time.perf_counter()
    for _ in range(5000):
        key.sign(message)
    signs = 5000 / (time.perf_counter() - began)
    public, began = key.public_key(), time.perf_counter()
    for _ in range(2000):
        public.verify(signature, message)
    verifies = 2000 / (time.perf_counter() - began)
    print(f"this machine (issue's reference machine): SQLite WAL synchronous=FULL {one:,.0f} rows/s one per commit "
          f"(5,800), {hundred:,.0f} rows/s in commits of 100 (171,000); Ed25519 {signs:,.0f} signs/s (30,000), "
          f"{verifies:,.0f} verifies/s (9,500)")


def pg_schema(create: bool, schema: str) -> None:
    with psycopg.connect(f"postgresql://{PG_SERVER}", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}" if create else f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=64, help="concurrent writer threads (default 64)")
    parser.add_argument("--tasks", type=int, default=256, help="concurrent asyncio writer tasks (default 256)")
    parser.add_argument("--processes", type=int, default=2, help="writer processes on one log, --tasks each (default 2)")
    parser.add_argument("--records", type=int, default=20_000, help="measured appends per run (default 20000)")
    parser.add_argument("--prefill", type=int, default=100_000, help="records in each log before measuring (default 100000)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        work = Path(tmp)
        init_keys(work / "keys")
        calibrate(work)
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
