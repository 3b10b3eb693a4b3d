"""Continuous batching through the whole appliance: aggregate tok/s with N streaming clients, and whether
one request's slow detection holds up other requests' tokens.

    python benchmarks/batching.py [--clients 1,4,8] [--tokens 64] [--rounds 2] [--parallel 8]

Starts the real appliance (`appliance serve`: detection, policy and audit on) on loopback with
`engine.parallel` slots. Throughput: for each N, N clients each stream `--rounds` chat completions of up
to `--tokens` tokens back to back (temperature 0.7); aggregate completion tokens per second of wall time.
Detection stall: three clients stream long answers while a fourth sends a ~40,000-character prompt
(its detection alone takes seconds; the engine then refuses it as too long for the context). Printed:
the largest gap between stream events of the three while that request was being detected, next to
their median gap outside that window. Run it with another checkout's code (for a before/after) by
pointing PYTHONPATH at that checkout: the server is started from the checkout that holds `tests/`.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: benchmarks/audit.py must not shadow the `audit` package
    if os.environ.get("PYTHONPATH"):
        sys.path.pop(0)  # the checkout PYTHONPATH names provides `tests` and `appliance`
    else:
        sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx

from tests.appliance_server import REPO, ApplianceServer, init_data_dir

MODEL = "smollm2-135m-instruct"
TOPICS = ["the sea", "a hospital ward at night", "bread", "a mountain walk", "winter", "trains", "a garden",
          "the moon", "a library", "rain", "a market", "bridges", "music", "a harbour", "clocks", "birds"]


def stream(server: ApplianceServer, prompt: str, max_tokens: int, events: list[float] | None = None) -> int:
    """One streamed chat completion; returns its completion tokens (and records event times)."""
    request = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
               "temperature": 0.7, "stream": True, "stream_options": {"include_usage": True}}
    tokens = 0
    with httpx.stream("POST", server.base_url + "/chat/completions", json=request, headers=server.headers(),
                      timeout=600) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith("data: {"):
                continue
            if events is not None:
                events.append(time.perf_counter())
            usage = json.loads(line[6:]).get("usage")
            tokens = usage["completion_tokens"] if usage else tokens
    return tokens


def throughput(server: ApplianceServer, clients: int, max_tokens: int, rounds: int) -> tuple[float, int]:
    counts = [0] * clients

    def client(i: int) -> None:
        for r in range(rounds):
            counts[i] += stream(server, f"Write about {TOPICS[(i + r) % len(TOPICS)]}.", max_tokens)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return sum(counts) / wall, sum(counts)


def detection_stall(server: ApplianceServer) -> tuple[float, float, float]:
    """(slow request's seconds, largest stream gap during it, median stream gap outside it)."""
    events: list[list[float]] = [[], [], []]
    streams = [threading.Thread(target=stream, args=(server, f"Tell a long story about {TOPICS[i]}.", 300, events[i]))
               for i in range(3)]
    for thread in streams:
        thread.start()
    while min(len(e) for e in events) < 5:
        time.sleep(0.05)
    big = " ".join(f"Ward note {i}: the patient walked to the window, read the paper and slept well." for i in range(500))
    start = time.perf_counter()
    httpx.post(server.base_url + "/chat/completions", headers=server.headers(), timeout=600,
               json={"model": MODEL, "messages": [{"role": "user", "content": big}], "max_tokens": 1})
    end = time.perf_counter()
    for thread in streams:
        thread.join()
    inside, outside = [], []
    for times in events:
        for earlier, later in itertools.pairwise(times):
            (inside if start <= later and earlier <= end else outside).append(later - earlier)
    return end - start, max(inside, default=0.0), statistics.median(outside) if outside else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]), f"(code from {REPO})")
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        config = f"[engine]\nthreads = 2\ncontext_length = 1024\nparallel = {args.parallel}\nmax_queue = 64\n"
        with ApplianceServer(data_dir, init_data_dir(data_dir, config)) as server:
            stream(server, "Warm up.", 8)
            for clients in (int(c) for c in args.clients.split(",")):
                rate, tokens = throughput(server, clients, args.tokens, args.rounds)
                print(f"{clients:3d} clients x {args.rounds} streams of <= {args.tokens} tokens: {tokens} tokens, "
                      f"{rate:.1f} tok/s aggregate   (load average {os.getloadavg()[0]:.1f})")
            slow, gap_inside, gap_outside = detection_stall(server)
            print(f"detection stall: a {slow:.2f} s request (40k-character prompt) ran while 3 streams decoded; "
                  f"their largest gap during it {gap_inside * 1000:.0f} ms, median gap outside it "
                  f"{gap_outside * 1000:.0f} ms   (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
