"""Console page times on a large log: how long each console page takes to answer with N records in the log.

    python benchmarks/review.py [--records 100000] [--rounds 20]

Initialises a data directory, fills its audit log with `--records` records through the store's own
append path (request/outcome pairs with findings and rules from a handful of actors and models, with
policy blocks, refused routes and auth failures in between), starts the real appliance (`appliance serve`),
signs in to the console as the auditor and times each page over HTTP on loopback: the first timeline
view (which builds the review index from the log), then `--rounds` views of every page (median, p95,
max). Each page view also appends an `audit_access` record, as in production. Also times one full
log check (`audit.reader.check_stored_log`, what every report and "verify now" runs) and one report.
Target: every console page under 300 ms at 100,000 records.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: this file must not shadow the `audit` package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx

from audit.reader import check_stored_log
from audit.log import AuditLog

REPO = Path(__file__).resolve().parents[1]
APPLIANCE = [sys.executable, "-m", "appliance.cli.main"]
ACTORS = [("k%02d" % i, f"clinician-{i}", ("treatment", "operations", "billing")[i % 3]) for i in range(12)]
MODELS = ("smollm2-135m-instruct", "gemma-3-270m", "fleet-llama")
FINDINGS = ({"PERSON": 1, "MEDICAL_RECORD_NUMBER": 1}, {}, {"US_SSN": 1}, {"PERSON": 2, "DATE_TIME": 1}, {})
RULES = (["hipaa:local-tpo"], [], ["gdpr:local-care"], ["hipaa:local-tpo", "gdpr:local-care"], [])


def records(count: int) -> list[tuple[str, dict]]:
    """`count` records shaped like the appliance's own: mostly request/outcome pairs."""
    items: list[tuple[str, dict]] = []
    i = 0
    while len(items) < count:
        key, name, purpose = ACTORS[i % len(ACTORS)]
        actor = {"actor": key, "actor_name": name, "actor_role": "clinical", "purpose": purpose}
        request_id = f"req_bench{i:010d}"
        if i % 50 == 7:
            items.append(("policy_block", {"request_id": request_id, **actor, "client": "127.0.0.1", "decision": "block",
                                           "zone": "local", "model": MODELS[0], "rules": ["pci:sad-never"],
                                           "findings": {"CREDIT_CARD": 1, "CARD_CVV": 1}}))
        elif i % 97 == 3:
            items.append(("auth_failure", {"request_id": request_id, "endpoint": "/v1/chat/completions",
                                           "client": "127.0.0.1", "reason": "invalid_key"}))
        elif i % 89 == 5:
            items.append(("route_refused", {"request_id": request_id, **actor, "model": "cloud-model", "mode": "air-gapped"}))
        else:
            model = MODELS[i % len(MODELS)]
            items.append(("request", {"request_id": request_id, **actor, "client": "127.0.0.1", "model": model,
                                      "zone": "local" if model != "fleet-llama" else "internal", "backend": "local",
                                      "decision": "allow", "rules": RULES[i % 5], "findings": FINDINGS[i % 5],
                                      "prompt_hmac": "ab" * 32, "subject_digest": f"{i % 1000:064x}"}))
            items.append(("outcome", {"request_id": request_id, "request_seq": -1, "status": 200, "latency_ms": 12.5,
                                      "prompt_tokens": 40 + i % 60, "completion_tokens": 10 + i % 30}))
        i += 1
    return items[:count]


def fill(data_dir: Path, count: int) -> float:
    """Append `count` records to the data directory's log; returns the seconds it took."""
    started = time.perf_counter()
    with AuditLog.open(f"sqlite:///{data_dir / 'audit.db'}", data_dir / "keys", checkpoint_every=10_000) as store:
        base = store.reader.size()
        items = records(count)
        for start in range(0, count, 2000):
            chunk = items[start:start + 2000]
            for offset, (kind, fields) in enumerate(chunk):
                if kind == "outcome":  # chain the outcome to its request, which precedes it
                    fields["request_seq"] = base + start + offset - 1
            store.append_many(chunk)
    return time.perf_counter() - started


def timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    reply = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    if reply.status_code != 200 or "/console/login" in str(reply.url):
        raise SystemExit(f"{path}: {reply.status_code} {reply.text[:300]}")
    return elapsed


def sign_in(client: httpx.Client, key: str) -> None:
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    reply = client.post("/console/login", data={"csrf": csrf, "key": key})
    if reply.status_code != 303:
        raise SystemExit(f"sign-in refused: {reply.status_code}")


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([*APPLIANCE, "serve", "--data-dir", str(data_dir), "--port", str(port)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the appliance did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--port", type=int, default=18_931)
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    with tempfile.TemporaryDirectory(prefix="review-bench-") as work:
        data_dir = Path(work) / "data"
        init = subprocess.run([*APPLIANCE, "init", "--data-dir", str(data_dir)], cwd=REPO, capture_output=True, text=True, check=True)
        auditor = re.search(r"auditor\s+(apl_\S+)", init.stdout).group(1)
        print(f"filled the log with {args.records:,} records in {fill(data_dir, args.records):.1f} s")
        process = serve(data_dir, args.port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=600) as client:
                sign_in(client, auditor)
                print(f"first timeline view (builds the review index from the log): {timed(client, '/console/'):,.0f} ms")
                started = time.perf_counter()
                while "not checked yet" in client.get("/console/verify").text:  # the start-up check of the whole log
                    time.sleep(0.2)
                print(f"start-up log check finished {time.perf_counter() - started:.1f} s later; timing pages")
                measure_pages(client, args.rounds, args.records // 2)
        finally:
            process.terminate()
            process.wait(timeout=60)
        with AuditLog.open(f"sqlite:///{data_dir / 'audit.db'}", data_dir / "keys") as store:
            started = time.perf_counter()
            check = check_stored_log(store)
            print(f"full log check: {check.size:,} records in {time.perf_counter() - started:.2f} s ({check.verdict})")
        started = time.perf_counter()
        subprocess.run([*APPLIANCE, "report", "pci-events", "--data-dir", str(data_dir), "--format", "csv", "--out",
                        str(Path(work) / "pci.csv")], cwd=REPO, check=True, capture_output=True)
        print(f"appliance report pci-events --format csv (one row per record, process start included): "
              f"{time.perf_counter() - started:.1f} s")


def measure_pages(client: httpx.Client, rounds: int, record: int) -> None:
    pages = {
        "timeline": "/console/",
        "timeline, filtered (kind + actor)": "/console/?kind=request&actor=k03",
        "timeline, filtered (rule + finding)": "/console/?rule=hipaa:local-tpo&finding=PERSON",
        "timeline, time range, page 40": "/console/?since=2000-01-01&until=2100-01-01&page=40",
        "record with inclusion proof": f"/console/records/{record}",
        "overview (charts)": "/console/overview",
        "verification": "/console/verify",
        "reports": "/console/reports",
    }
    worst = 0.0
    for name, path in pages.items():
        times = sorted(timed(client, path) for _ in range(rounds))
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        worst = max(worst, p95)
        print(f"{name:38s} median {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  max {times[-1]:7.1f} ms")
    print(f"slowest page p95: {worst:.1f} ms (target: under 300 ms)")


if __name__ == "__main__":
    main()
