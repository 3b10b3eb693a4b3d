"""Single-stream decode tokens/s: the appliance API against bare llama-cpp-python, same model and threads.

Part of benchmarks/serving.py (the target `bare`, with 1 client in the client counts).
Decode rate = completion tokens / (time of the whole request - time of a 1-token request with the
same prompt), so prompt processing (and, for the API, prompt detection, policy and the audit write)
is taken out; the scan of the answer stays in, as a client pays for it. Bare and API runs take turns
in rounds, never overlap, and use temperature 0 on the same prompt, so they decode the same tokens.
The ratio is the median over rounds of API/bare within a round (this VM's speed drifts between
rounds). Target ratio: >= 0.95.

Grammar-constrained decoding (`response_format` json_schema, enforced by a llama.cpp grammar) is
measured the same way, bare and through the API, and reported as ms per token next to free decoding.
Its 1-token reference request is sent unconstrained (a 1-token JSON answer cannot complete; the
grammar does not change prompt processing).
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from appliance.engine.default_model import DEFAULT_MODEL_ID, locate_default_model
from tests.appliance_server import ApplianceServer, init_data_dir

PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]
CONTEXT = 2048
STORY_SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 60},
                                                 "story": {"type": "string", "maxLength": 600}},
                "required": ["title", "story"], "additionalProperties": False}
STORY_FORMAT = {"type": "json_schema", "json_schema": {"name": "story", "strict": True, "schema": STORY_SCHEMA}}


def timed(run: Callable[[int], int], max_tokens: int) -> tuple[float, int]:
    started = time.perf_counter()
    tokens = run(max_tokens)
    return time.perf_counter() - started, tokens


def decode_rate(run: Callable[[int], int], max_tokens: int) -> float:
    """Tokens/s of decoding alone: a full request minus a 1-token request on the same prompt."""
    prefill, _ = timed(run, 1)
    total, tokens = timed(run, max_tokens)
    return (tokens - 1) / max(total - prefill, 1e-9)


def bare_runners(threads: int) -> tuple[Callable[[int], int], Callable[[int], int]]:
    """Bare llama-cpp-python, free and constrained by the JSON schema's grammar."""
    from llama_cpp import Llama, LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    llm = Llama(model_path=str(locate_default_model()), n_ctx=CONTEXT, n_threads=threads,
                n_threads_batch=threads, n_batch=512, verbose=False)
    grammar = json_schema_to_gbnf(json.dumps(STORY_SCHEMA))

    def run(max_tokens: int, constrained: bool = False) -> int:
        extra = {"grammar": LlamaGrammar.from_string(grammar, verbose=False)} if constrained and max_tokens > 1 else {}
        reply = llm.create_chat_completion(messages=PROMPT, max_tokens=max_tokens, temperature=0, seed=1, **extra)
        return reply["usage"]["completion_tokens"]

    return run, lambda max_tokens: run(max_tokens, constrained=True)


def api_runner(server: ApplianceServer, http: httpx.Client, stream: bool,
               constrained: bool = False) -> Callable[[int], int]:
    """One API call; streamed calls read every event up to [DONE] and take the usage chunk."""
    body = {"model": DEFAULT_MODEL_ID, "messages": PROMPT, "temperature": 0, "seed": 1, "stream": stream,
            "stream_options": {"include_usage": True} if stream else None}

    def run(max_tokens: int) -> int:
        shape = {"response_format": STORY_FORMAT} if constrained and max_tokens > 1 else {}
        if not stream:
            reply = http.post(server.base_url + "/chat/completions", headers=server.headers(),
                              json={**body, "max_tokens": max_tokens, **shape})
            if shape and reply.status_code == 400 and reply.json()["error"]["code"] == "structured_output_incomplete":
                return max_tokens  # the JSON did not close within max_tokens: all of them were decoded
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


def single_stream(threads: int, max_tokens: int, repeats: int) -> list[str]:
    """Decode rates of bare llama-cpp-python and the API (free and grammar-constrained), as report lines."""
    bare, bare_grammar = bare_runners(threads)
    config = f"[engine]\nthreads = {threads}\ncontext_length = {CONTEXT}\ndefault_max_tokens = {max_tokens}\n"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        server = ApplianceServer(data_dir, init_data_dir(data_dir, config))
        with server, httpx.Client(timeout=600) as http:
            runners = {"bare llama-cpp-python": bare, "API, non-streamed": api_runner(server, http, False),
                       "API, streamed (SSE)": api_runner(server, http, True),
                       "bare, json_schema grammar": bare_grammar,
                       "API, json_schema grammar": api_runner(server, http, False, constrained=True)}
            rates: dict[str, list[float]] = {name: [] for name in runners}
            for run in runners.values():
                run(8)  # warm up
            for _ in range(repeats):  # interleaved, so drift in machine load hits every path alike
                for name, run in runners.items():
                    rates[name].append(decode_rate(run, max_tokens))
    return report_lines(rates, threads, max_tokens, repeats)


def report_lines(rates: dict[str, list[float]], threads: int, max_tokens: int, repeats: int) -> list[str]:
    lines = [f"single stream: model {DEFAULT_MODEL_ID}, threads {threads}, max_tokens {max_tokens}, repeats {repeats}"]
    bare_runs = rates["bare llama-cpp-python"]
    for name, runs in rates.items():
        paired = [r / b for r, b in zip(runs, bare_runs)]  # same round: same machine conditions
        lines.append(f"{name:24s} decode {statistics.median(runs):8.1f} tok/s (median)  ratio to bare, median of "
                     f"paired rounds: {statistics.median(paired):.3f}  (runs: {', '.join(f'{r:.1f}' for r in runs)})")
    lines.append("target: API/bare >= 0.95")
    free, bare_constrained = statistics.median(bare_runs), statistics.median(rates["bare, json_schema grammar"])
    api_free, api_constrained = (statistics.median(rates["API, non-streamed"]),
                                 statistics.median(rates["API, json_schema grammar"]))
    lines.append(f"grammar cost per token: bare {1000 / free:.1f} ms free vs {1000 / bare_constrained:.1f} ms "
                 f"constrained; API {1000 / api_free:.1f} ms free vs {1000 / api_constrained:.1f} ms constrained")
    return lines
