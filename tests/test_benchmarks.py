"""The benchmarks run end to end (small sizes) and report every rate their issues ask for."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_benchmark(script: str, *args: str) -> list[str]:
    """Run `benchmarks/SCRIPT ARGS`; its output lines, the first naming the command."""
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True,
                         timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("command: ") and f"benchmarks/{script}" in lines[0]
    return lines


def test_audit_benchmark_reports_signed_unsigned_and_verify_rates_for_both_databases() -> None:
    lines = run_benchmark("audit.py", "--records", "600", "--prefill", "600", "--tasks", "20", "--writers", "6",
                          "--processes", "2")
    for database in ("sqlite", "postgresql"):
        for mode in ("threads", "asyncio", "processes"):
            line = next((ln for ln in lines if re.match(rf"{database}\s+{mode}\s", ln)), None)
            assert line is not None, f"no {database} {mode} line in:\n" + "\n".join(lines)
            signed, unsigned, ratio, appended = re.search(
                r"signed\s+([\d,]+) appends/s, unsigned\s+([\d,]+)/s, ratio ([\d.]+)\s+\((\d+) records", line).groups()
            assert int(appended) == 600 and int(signed.replace(",", "")) > 0 and int(unsigned.replace(",", "")) > 0
        verify = next(ln for ln in lines if re.match(rf"{database}\s+verify\s", ln))
        # prefill + three measured runs, and the export's own record
        assert re.search(r"verify\s+[\d,]+ records/s\s+\((\d+) records", verify).group(1) == str(600 * 4 + 1)


def test_tls_benchmark_reports_tls_against_plain_for_1_and_8_clients() -> None:
    lines = run_benchmark("tls.py", "--threads", "1", "--max-tokens", "4", "--requests", "8", "--http-requests", "16",
                          "--rounds", "1")
    for label, unit in (("chat", "tok/s"), ("/v1/models", "req/s")):
        for clients in ("1 client ", "8 clients"):
            for name in ("plain HTTP", "TLS"):
                line = next(ln for ln in lines if ln.startswith(f"{label:10s} {clients}  {name} "))
                assert float(re.search(rf"([\d.]+) {unit}", line).group(1)) > 0
            ratio = next(ln for ln in lines if ln.startswith(f"{label:10s} {clients}  TLS/plain"))
            assert float(ratio.rsplit(": ", 1)[1]) > 0


def test_serving_benchmark_reports_closed_loop_figures_and_ratios_for_1_and_2_clients() -> None:
    # The smoke leaves out llama-server (built from source: too long for CI) and the single-stream part;
    # the full run is `benchmarks/serving.py` with its defaults (docs/evidence.md).
    lines = run_benchmark("serving.py", "--clients", "1,2", "--requests", "2", "--max-tokens", "12", "--threads", "1",
                          "--rounds", "1", "--targets", "appliance,llama-cpp-python-server")
    for clients in (1, 2):
        for name in ("appliance", "llama-cpp-python-server"):
            line = next(ln for ln in lines if re.match(rf"\s+{clients}\s+{name}\s", ln))
            rate, ttft, requests, per_request, errors = re.search(
                r"\s([\d.]+)\s+(\d+) ms\s+\d+ ms\s+\d+ ms\s+\d+ ms\s+(\d+)\s+([\d.]+) (.+)$", line).groups()
            assert float(rate) > 0 and int(ttft) > 0 and errors == "0", line
            # every answer to a "write a long story" prompt runs to max_tokens, as `usage` counts it
            assert int(requests) == 2 * clients and float(per_request) == 12.0, line
        steps = lines[lines.index(next(ln for ln in lines if re.match(rf"\s+{clients}\s+appliance\s", ln))) + 1]
        means = dict(re.findall(r"(\w[\w ]*?) (\d+)(?:,|$)", steps.split("(server side): ")[1]))
        assert set(means) == {"prompt_check", "write_ahead", "first_token", "first_text", "time to first text"}, steps
        assert sum(int(means[s]) for s in ("prompt_check", "write_ahead", "first_token", "first_text")) <= \
            int(means["time to first text"]) + 4, steps  # four means rounded to whole milliseconds
        ratio = next(ln for ln in lines if re.match(rf"ratio\s+{clients} clients: ", ln))
        assert float(re.search(r"appliance/llama-cpp-python-server tok/s ([\d.]+)", ratio).group(1)) > 0
    assert lines[-1].startswith("load average at end: ")
