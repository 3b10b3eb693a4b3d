"""Serving under closed-loop load: the appliance against llama-server and llama-cpp-python's server.

Run:  .venv/bin/python benchmarks/serving.py [--clients 1,2,4,8,16] [--requests 4 | --duration S]
          [--rounds 3] [--threads 2] [--max-tokens 128]
          [--targets appliance,llama-server,llama-cpp-python-server,bare]

For each client count N, the targets are started side by side (same GGUF, same threads), each warmed
up with one short request per client, then loaded in turns, one target at a time, by N closed-loop
streaming clients (benchmarks/serving_load.py), for `--rounds` rounds, and stopped: (a) the
appliance with detection, policy and audit on, (b) llama.cpp's `llama-server --parallel N` built
from the llama.cpp llama-cpp-python vendors (benchmarks/llama_server_build.py; built once, then
cached), (c) `python -m llama_cpp.server`. Every target gets the same prompts (client i starts at
prompt i), temperature 0, seed 1 and max_tokens. Reported per run: aggregate completion tok/s, time
to first token and latency p50/p99, requests, tokens per request, errors (and, under the appliance's
line, its own mean per call of each step before the first text, from its /metrics:
benchmarks/serving_stages.py); then the appliance's
ratios to the other two, each the median over rounds of that round's ratio (a round's runs are back
to back, so the machine's drift between minutes cancels out). The target `bare` adds, when 1 is
among the client counts, the single-stream decode rate of the API against bare llama-cpp-python
in-process and the cost of grammar-constrained decoding (benchmarks/serving_single.py).
Acceptance (issue 15): 8 clients appliance/llama-server tok/s >= 1.0, appliance/llama-cpp-python-server
>= 2.5, TTFT p99 appliance/llama-server <= 1.5; 1 client >= 0.9x llama-server and API/bare >= 0.95.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.engine.default_model import DEFAULT_MODEL_ID, locate_default_model  # noqa: E402
from benchmarks import serving_stages, serving_targets  # noqa: E402
from benchmarks.llama_server_build import ensure_llama_server  # noqa: E402
from benchmarks.serving_load import Run, closed_loop  # noqa: E402
from benchmarks.serving_single import single_stream  # noqa: E402

PROMPTS = [f"Write a long story about {subject}." for subject in (
    "a lighthouse keeper and the sea", "a baker who opens a shop in a mountain village",
    "a river that changes its course", "a clockmaker and a broken tower clock",
    "two friends crossing a desert", "a library that is open only at night",
    "a ship caught in a storm", "a gardener who grows a giant pumpkin")]
ALL_TARGETS = (*serving_targets.TARGETS, "bare")
COLUMNS = (f"{'clients':>7}  {'target':24s} {'tok/s':>7} {'TTFT p50':>9} {'TTFT p99':>9} {'lat p50':>8} "
           f"{'lat p99':>8} {'requests':>8} {'tok/req':>7} errors")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,2,4,8,16", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=4, help="requests per client per run")
    parser.add_argument("--duration", type=float, help="seconds per run instead of --requests")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of runs per client count, targets taking turns")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the single-stream (bare) measurement")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS), help=f"comma-separated, of {', '.join(ALL_TARGETS)}")
    args = parser.parse_args()
    args.clients = [int(count) for count in args.clients.split(",")]
    args.targets = args.targets.split(",")
    unknown = set(args.targets) - set(ALL_TARGETS)
    if unknown:
        parser.error(f"unknown targets {', '.join(sorted(unknown))} (known: {', '.join(ALL_TARGETS)})")
    return args


def machine() -> str:
    """CPU model, CPU count and the load average now."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; load average {load_average()}"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


def run_line(name: str, run: Run) -> str:
    errors = ", ".join(sorted(set(run.errors))) or "0"
    return (f"{run.clients:7d}  {name:24s} {run.tokens_per_second:7.1f} {ms(run.ttft(0.5)):>9} "
            f"{ms(run.ttft(0.99)):>9} {ms(run.latency(0.5)):>8} {ms(run.latency(0.99)):>8} "
            f"{len(run.outcomes):8d} {run.tokens_per_request:7.1f} {errors}")


def ratio_line(clients: int, rounds: list[dict[str, Run]]) -> str | None:
    """The appliance's tok/s and TTFT p99 over each other target's, for one client count: the median over
    rounds of each round's ratio (the targets of a round ran back to back, so slow drift of the machine
    cancels out of the ratio)."""
    names = [name for name in rounds[0] if name != "appliance"]
    if "appliance" not in rounds[0] or not names:
        return None
    parts = []
    for name in names:
        rate = statistics.median(r["appliance"].tokens_per_second / r[name].tokens_per_second for r in rounds)
        ttft = statistics.median(r["appliance"].ttft(0.99) / r[name].ttft(0.99) for r in rounds)
        parts.append(f"appliance/{name} tok/s {rate:.2f}, TTFT p99 {ttft:.2f}")
    median = f" (median of {len(rounds)} rounds)" if len(rounds) > 1 else ""
    return f"ratio {clients:2d} clients{median}: " + "; ".join(parts)


def load_runs(args: argparse.Namespace, workdir: Path) -> None:
    """Every (client count, round, server target) run, printed as it ends; the ratios after each client
    count. The servers of a client count run side by side (idle but for the one loaded) and take turns."""
    servers = [name for name in args.targets if name in serving_targets.TARGETS]
    binary = ensure_llama_server() if "llama-server" in servers else None
    if binary:
        print(f"llama-server: {binary}")
    print(COLUMNS, flush=True)
    for clients in args.clients:
        rounds: list[dict[str, Run]] = []
        with contextlib.ExitStack() as stack:
            targets = {name: stack.enter_context(serving_targets.starter(
                name, workdir, args.threads, args.max_tokens, binary)(clients)) for name in servers}
            for target in targets.values():
                asyncio.run(closed_loop(target, clients, PROMPTS, 8, requests=1))  # warm up every slot
            for number in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"round {number} of {args.rounds}", flush=True)
                runs: dict[str, Run] = {}
                for name, target in targets.items():
                    stages = serving_stages.read_totals(target) if name == "appliance" else None
                    runs[name] = asyncio.run(closed_loop(target, clients, PROMPTS, args.max_tokens,
                                                         requests=math.inf if args.duration else args.requests,
                                                         duration=args.duration or math.inf))
                    print(run_line(name, runs[name]), flush=True)
                    if stages is not None:
                        print(serving_stages.stage_line(stages, serving_stages.read_totals(target)), flush=True)
                rounds.append(runs)
        line = ratio_line(clients, rounds)
        if line:
            print(line, flush=True)


def main() -> None:
    args = parse_args()
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {machine()}")
    length = f"{args.duration:g} s per run" if args.duration else f"{args.requests} requests per client"
    print(f"model {DEFAULT_MODEL_ID} ({locate_default_model().name}), threads {args.threads}, "
          f"max_tokens {args.max_tokens}, temperature 0, {len(PROMPTS)} prompts, {length}", flush=True)
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        load_runs(args, Path(tmp))
    if "bare" in args.targets and 1 in args.clients:
        for line in single_stream(args.threads, args.max_tokens, args.repeats):
            print(line)
    print("targets: 8 clients appliance/llama-server tok/s >= 1.0, appliance/llama-cpp-python-server >= 2.5, "
          "TTFT p99 appliance/llama-server <= 1.5; 1 client appliance/llama-server >= 0.9, API/bare >= 0.95")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
