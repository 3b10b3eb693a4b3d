"""Chat throughput over TLS against plain HTTP on loopback, with 1 client and with 8 clients at once.

Run:  .venv/bin/python benchmarks/tls.py [--requests N] [--max-tokens N] [--rounds N]

Two appliances on the same model and settings run side by side on 127.0.0.1, one plain, one serving
`[server.tls]` (certificate from `appliance tls selfsigned`, clients verifying with its CA). In every
round each client count is measured on both, the order alternating between rounds; a run is
`--requests` greedy chat completions spread over the clients, each client keeping one connection
(one handshake), and its throughput is completion tokens / wall time. The ratio TLS/plain is taken
within a round and the median over rounds is reported (the machine's speed drifts between rounds).
Target (issue 17): ratio >= 0.95 for 1 and 8 clients.
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.appliance_server import ApplianceServer, init_data_dir  # noqa: E402
from tests.tls_helpers import start_tls_server, tls_data_dir  # noqa: E402

CONFIG = "[engine]\ncontext_length = 1024\nmax_queue = 16\n"
PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]
CLIENTS = (1, 8)


def client_tokens(server: ApplianceServer, requests: int, max_tokens: int) -> int:
    """One client: `requests` chat completions over one connection; the completion tokens received."""
    body = {"model": "smollm2-135m-instruct", "messages": PROMPT, "max_tokens": max_tokens, "temperature": 0}
    tokens = 0
    with httpx.Client(verify=server.tls or True, timeout=600, headers=server.headers()) as http:
        for _ in range(requests):
            reply = http.post(server.base_url + "/chat/completions", json=body)
            reply.raise_for_status()
            tokens += reply.json()["usage"]["completion_tokens"]
    return tokens


def throughput(server: ApplianceServer, clients: int, requests: int, max_tokens: int) -> float:
    """Completion tokens per second with `clients` clients sharing `requests` requests."""
    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        tokens = sum(pool.map(lambda share: client_tokens(server, share, max_tokens), shares))
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="requests per run (shared by the clients)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as scratch:
        plain_dir, tls_dir = Path(scratch) / "plain", Path(scratch) / "tls"
        plain = ApplianceServer(plain_dir, init_data_dir(plain_dir, CONFIG)).start()
        secure = start_tls_server(tls_dir, tls_data_dir(tls_dir, engine_config=CONFIG))
        try:
            ratios = measure(plain, secure, args)
        finally:
            plain.stop()
            secure.stop()
    for clients in CLIENTS:
        median = statistics.median(ratios[clients])
        print(f"{clients} client(s): TLS/plain throughput median {median:.3f} over {args.rounds} rounds "
              f"({'meets' if median >= 0.95 else 'misses'} >= 0.95)")
    print(f"command: .venv/bin/python benchmarks/tls.py {shlex.join(sys.argv[1:])}")
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


def measure(plain: ApplianceServer, secure: ApplianceServer, args: argparse.Namespace) -> dict[int, list[float]]:
    """Per client count, the TLS/plain throughput ratio of each round (order alternating)."""
    throughput(plain, 1, 2, args.max_tokens), throughput(secure, 1, 2, args.max_tokens)  # warm both
    ratios: dict[int, list[float]] = {clients: [] for clients in CLIENTS}
    for round_number in range(args.rounds):
        for clients in CLIENTS:
            order = [plain, secure] if round_number % 2 == 0 else [secure, plain]
            rates = {server.url: throughput(server, clients, args.requests, args.max_tokens) for server in order}
            plain_rate, tls_rate = rates[plain.url], rates[secure.url]
            ratios[clients].append(tls_rate / plain_rate)
            print(f"round {round_number + 1}, {clients} client(s): plain {plain_rate:.1f} tok/s, "
                  f"TLS {tls_rate:.1f} tok/s, ratio {tls_rate / plain_rate:.3f}", flush=True)
    return ratios


if __name__ == "__main__":
    main()
