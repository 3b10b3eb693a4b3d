"""Single-stream decode tokens/s: the appliance API against bare llama-cpp-python, same model and threads.

Run:  .venv/bin/python benchmarks/serving.py [--threads N] [--max-tokens N] [--repeats N]

Decode rate = completion tokens / (time of the whole request - time of a 1-token request with the
same prompt), so prompt processing (and, for the API, prompt detection, policy and the audit write)
is taken out; the scan of the answer stays in, as a client pays for it. Bare and API runs take turns
in rounds, never overlap, and use temperature 0 on the same prompt, so they decode the same tokens.
The ratio is the median over rounds of API/bare within a round (this VM's speed drifts between
rounds). Target ratio: >= 0.95.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.engine.default_model import DEFAULT_MODEL_ID, locate_default_model  # noqa: E402
from tests.appliance_server import ApplianceServer, init_data_dir  # noqa: E402

PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]
CONTEXT = 2048


def timed(run: Callable[[int], int], max_tokens: int) -> tuple[float, int]:
    started = time.perf_counter()
    tokens = run(max_tokens)
    return time.perf_counter() - started, tokens


def decode_rate(run: Callable[[int], int], max_tokens: int) -> float:
    """Tokens/s of decoding alone: a full request minus a 1-token request on the same prompt."""
    prefill, _ = timed(run, 1)
    total, tokens = timed(run, max_tokens)
    return (tokens - 1) / max(total - prefill, 1e-9)


def bare_runner(threads: int) -> Callable[[int], int]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(locate_default_model()), n_ctx=CONTEXT, n_threads=threads,
                n_threads_batch=threads, n_batch=512, verbose=False)

    def run(max_tokens: int) -> int:
        reply = llm.create_chat_completion(messages=PROMPT, max_tokens=max_tokens, temperature=0, seed=1)
        return reply["usage"]["completion_tokens"]

    return run


def api_runner(server: ApplianceServer, http: httpx.Client, stream: bool) -> Callable[[int], int]:
    """One API call; streamed calls read every event up to [DONE] and take the usage chunk."""
    body = {"model": DEFAULT_MODEL_ID, "messages": PROMPT, "temperature": 0, "seed": 1, "stream": stream,
            "stream_options": {"include_usage": True} if stream else None}

    def run(max_tokens: int) -> int:
        if not stream:
            reply = http.post(server.base_url + "/chat/completions", headers=server.headers(),
                              json={**body, "max_tokens": max_tokens})
            reply.raise_for_status()
            return reply.json()["usage"]["completion_tokens"]
        usage = 0
        with http.stream("POST", server.base_url + "/chat/completions", headers=server.headers(),
                         json={**body, "max_tokens": max_tokens}) as reply:
            reply.raise_for_status()
            for line in reply.iter_lines():
                if line.startswith("data: {") and '"usage":{' in line:
                    usage = json.loads(line[6:])["usage"]["completion_tokens"]
        return usage

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    bare = bare_runner(args.threads)
    config = f"[engine]\nthreads = {args.threads}\ncontext_length = {CONTEXT}\ndefault_max_tokens = {args.max_tokens}\n"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        server = ApplianceServer(data_dir, init_data_dir(data_dir, config))
        with server, httpx.Client(timeout=600) as http:
            runners = {"bare llama-cpp-python": bare, "API, non-streamed": api_runner(server, http, False),
                       "API, streamed (SSE)": api_runner(server, http, True)}
            rates: dict[str, list[float]] = {name: [] for name in runners}
            for run in runners.values():
                run(8)  # warm up
            for _ in range(args.repeats):  # interleaved, so drift in machine load hits every path alike
                for name, run in runners.items():
                    rates[name].append(decode_rate(run, args.max_tokens))
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model {DEFAULT_MODEL_ID}, threads {args.threads}, max_tokens {args.max_tokens}, repeats {args.repeats}")
    bare_runs = rates["bare llama-cpp-python"]
    for name, runs in rates.items():
        paired = [r / b for r, b in zip(runs, bare_runs)]  # same round: same machine conditions
        print(f"{name:24s} decode {statistics.median(runs):8.1f} tok/s (median)  ratio to bare, median of "
              f"paired rounds: {statistics.median(paired):.3f}  (runs: {', '.join(f'{r:.1f}' for r in runs)})")
    print("target: API/bare >= 0.95")


if __name__ == "__main__":
    main()
