"""Serving throughput over TLS against plain HTTP on loopback, 1 and 8 concurrent clients.

Run:  .venv/bin/python benchmarks/tls.py [--threads N] [--max-tokens N] [--requests N] [--rounds N]

Two appliances run side by side on the same model and settings, one plain HTTP and one on
`[server.tls]` (certificate from `appliance tls selfsigned`); only one is driven at a time. Each
client keeps one connection open (as the openai SDK does) and sends chat completions
(temperature 0, same prompt) until the round's requests are done. Throughput = completion tokens /
wall time of the round. The same runs with GET /v1/models (no model work) show what TLS costs per
request when nothing else hides it. Plain and TLS rounds alternate (order flipped every round), and the ratio
is the median over rounds of TLS/plain within a round, since this VM's speed drifts. Target: >= 0.95.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.engine.default_model import DEFAULT_MODEL_ID  # noqa: E402
from tests.appliance_server import ApplianceServer, init_data_dir  # noqa: E402
from tests.tls_helpers import start_tls_server, tls_data_dir  # noqa: E402

PROMPT = [{"role": "user", "content": "Describe a calm morning on a hospital ward."}]


def config(threads: int, max_tokens: int, clients: int) -> str:
    return (f"[engine]\nthreads = {threads}\ncontext_length = 1024\ndefault_max_tokens = {max_tokens}\n"
            f"max_queue = {clients * 2}\n")


Work = Callable[[httpx.Client, ApplianceServer], int]


def chat(max_tokens: int) -> Work:
    """One chat completion; counts its completion tokens."""
    def run(http: httpx.Client, server: ApplianceServer) -> int:
        reply = http.post(server.base_url + "/chat/completions", headers=server.headers(),
                          json={"model": DEFAULT_MODEL_ID, "messages": PROMPT, "max_tokens": max_tokens,
                                "temperature": 0, "seed": 1})
        reply.raise_for_status()
        return reply.json()["usage"]["completion_tokens"]

    return run


def list_models(http: httpx.Client, server: ApplianceServer) -> int:
    """GET /v1/models: no model work, so what is left is mostly HTTP and TLS; counts requests."""
    http.get(server.base_url + "/models", headers=server.headers()).raise_for_status()
    return 1


def run_client(server: ApplianceServer, requests: int, work: Work) -> int:
    """One client on one kept-alive connection (as the openai SDK keeps one)."""
    with httpx.Client(verify=server.tls or True, timeout=600) as http:
        return sum(work(http, server) for _ in range(requests))


def throughput(server: ApplianceServer, clients: int, requests: int, work: Work) -> float:
    """Units of `work` per second for `clients` concurrent clients sending `requests` requests in all."""
    per_client = max(1, requests // clients)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = sum(pool.map(lambda _: run_client(server, per_client, work), range(clients)))
    return done / (time.perf_counter() - started)


def compare(servers: dict[str, ApplianceServer], clients: int, requests: int, work: Work,
            rounds: int) -> dict[str, list[float]]:
    """Rates per server, rounds alternating which server goes first."""
    rates: dict[str, list[float]] = {name: [] for name in servers}
    for server in servers.values():
        throughput(server, clients, clients, work)  # warm up: connections, caches
    for round_no in range(rounds):
        order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
        for name in order:
            rates[name].append(throughput(servers[name], clients, requests, work))
    return rates


def report(label: str, unit: str, clients: int, rates: dict[str, list[float]]) -> None:
    paired = [t / p for t, p in zip(rates["TLS"], rates["plain HTTP"])]
    who = f"{clients} client{'s' if clients > 1 else ' '}"
    for name, runs in rates.items():
        print(f"{label:10s} {who}  {name:10s} {statistics.median(runs):8.1f} {unit} "
              f"(median; runs: {', '.join(f'{r:.1f}' for r in runs)})")
    print(f"{label:10s} {who}  TLS/plain, median of paired rounds: {statistics.median(paired):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--requests", type=int, default=16, help="requests per round, shared by the clients")
    parser.add_argument("--http-requests", type=int, default=400, help="/v1/models requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = config(args.threads, args.max_tokens, 8)
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir, tls_dir = Path(tmp) / "plain", Path(tmp) / "tls"
        plain = ApplianceServer(plain_dir, init_data_dir(plain_dir, settings)).start()
        try:
            tls = start_tls_server(tls_dir, tls_data_dir(tls_dir, engine_config=settings))
            try:
                servers = {"plain HTTP": plain, "TLS": tls}
                chats = {n: compare(servers, n, args.requests, chat(args.max_tokens), args.rounds) for n in (1, 8)}
                lists = {n: compare(servers, n, args.http_requests, list_models, args.rounds) for n in (1, 8)}
            finally:
                tls.stop()
        finally:
            plain.stop()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {DEFAULT_MODEL_ID}, threads {args.threads}, max_tokens {args.max_tokens}, {args.requests} chat "
          f"and {args.http_requests} /v1/models requests per round, {args.rounds} rounds, loopback, kept-alive "
          "connections")
    for clients, rates in chats.items():
        report("chat", "tok/s", clients, rates)
    for clients, rates in lists.items():
        report("/v1/models", "req/s", clients, rates)
    print("target: TLS/plain >= 0.95")


if __name__ == "__main__":
    main()
