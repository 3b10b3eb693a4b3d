"""Serving throughput over TLS against plain HTTP on loopback, 1 and 8 concurrent clients.

Run:  .venv/bin/python benchmarks/tls.py [--threads N] [--max-tokens N] [--requests N] [--rounds N]

Two appliances run side by side on the same model and settings, one plain HTTP and one on
`[server.tls]` (certificate from `appliance tls selfsigned`); only one is driven at a time. Each
client keeps one connection open (as the openai SDK does) and sends chat completions
(temperature 0, same prompt) until the round's requests are done. Throughput = completion tokens /
wall time of the round. Plain and TLS rounds alternate (order flipped every round), and the ratio
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

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.engine.default_model import DEFAULT_MODEL_ID  # noqa: E402
from tests.appliance_server import ApplianceServer, init_data_dir  # noqa: E402
from tests.tls_helpers import start_tls_server, tls_data_dir  # noqa: E402

PROMPT = [{"role": "user", "content": "Describe a calm morning on a hospital ward."}]


def config(threads: int, max_tokens: int, clients: int) -> str:
    return (f"[engine]\nthreads = {threads}\ncontext_length = 1024\ndefault_max_tokens = {max_tokens}\n"
            f"max_queue = {clients * 2}\n")


def run_client(server: ApplianceServer, requests: int, max_tokens: int) -> int:
    """One client on one kept-alive connection; returns the completion tokens it received."""
    tokens = 0
    with httpx.Client(verify=server.tls or True, timeout=600) as http:
        for _ in range(requests):
            reply = http.post(server.base_url + "/chat/completions", headers=server.headers(),
                              json={"model": DEFAULT_MODEL_ID, "messages": PROMPT, "max_tokens": max_tokens,
                                    "temperature": 0, "seed": 1})
            reply.raise_for_status()
            tokens += reply.json()["usage"]["completion_tokens"]
    return tokens


def throughput(server: ApplianceServer, clients: int, requests: int, max_tokens: int) -> float:
    """Completion tokens/s of `clients` concurrent clients sending `requests` requests in all."""
    per_client = max(1, requests // clients)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(lambda _: run_client(server, per_client, max_tokens), range(clients)))
    return tokens / (time.perf_counter() - started)


def compare(servers: dict[str, ApplianceServer], clients: int, args: argparse.Namespace) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in servers}
    for name, server in servers.items():
        throughput(server, clients, clients, 4)  # warm up: connections, caches
    for round_no in range(args.rounds):
        order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
        for name in order:
            rates[name].append(throughput(servers[name], clients, args.requests, args.max_tokens))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--requests", type=int, default=16, help="requests per round, shared by the clients")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = config(args.threads, args.max_tokens, 8)
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir, tls_dir = Path(tmp) / "plain", Path(tmp) / "tls"
        plain = ApplianceServer(plain_dir, init_data_dir(plain_dir, settings)).start()
        try:
            tls = start_tls_server(tls_dir, tls_data_dir(tls_dir, engine_config=settings))
            try:
                results = {clients: compare({"plain HTTP": plain, "TLS": tls}, clients, args) for clients in (1, 8)}
            finally:
                tls.stop()
        finally:
            plain.stop()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {DEFAULT_MODEL_ID}, threads {args.threads}, max_tokens {args.max_tokens}, "
          f"{args.requests} requests per round, {args.rounds} rounds, loopback, kept-alive connections")
    for clients, rates in results.items():
        paired = [t / p for t, p in zip(rates["TLS"], rates["plain HTTP"])]
        for name, runs in rates.items():
            print(f"{clients} client{'s' if clients > 1 else ' '}  {name:10s} {statistics.median(runs):7.1f} tok/s "
                  f"(median; runs: {', '.join(f'{r:.1f}' for r in runs)})")
        print(f"{clients} client{'s' if clients > 1 else ' '}  TLS/plain, median of paired rounds: "
              f"{statistics.median(paired):.3f}")
    print("target: TLS/plain >= 0.95")


if __name__ == "__main__":
    main()
