"""Closed-loop streaming load against one OpenAI-compatible server, and the figures it yields.

Each of N clients sends a streamed chat completion, reads it to `data: [DONE]`, then sends its next
one. Time to first token is taken at the first chunk carrying answer text; latency at [DONE].
Completion tokens come from the stream's `usage` chunk (asked for with `stream_options`); a server
that sends none is credited `max_tokens` for an answer cut by length and its text chunks otherwise.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Target:
    """Where to send the load: an OpenAI-style base URL (ending in /v1), headers and model name."""

    name: str
    base_url: str
    model: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it; `error` is empty for a complete answer."""

    ttft: float
    latency: float
    tokens: int
    error: str = ""


@dataclass
class Run:
    """All outcomes of one closed-loop run and its wall time (first send to last [DONE])."""

    clients: int
    wall: float
    outcomes: list[Outcome]

    @property
    def completed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.error]

    @property
    def errors(self) -> list[str]:
        return [outcome.error for outcome in self.outcomes if outcome.error]

    @property
    def tokens_per_second(self) -> float:
        return sum(outcome.tokens for outcome in self.completed) / self.wall

    @property
    def tokens_per_request(self) -> float:
        done = self.completed
        return sum(outcome.tokens for outcome in done) / len(done) if done else 0.0

    def ttft(self, quantile: float) -> float:
        return percentile([outcome.ttft for outcome in self.completed], quantile)

    def latency(self, quantile: float) -> float:
        return percentile([outcome.latency for outcome in self.completed], quantile)


def percentile(values: list[float], quantile: float) -> float:
    """Linear-interpolated percentile (`quantile` in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * quantile
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def request_body(target: Target, prompt: str, max_tokens: int) -> dict[str, object]:
    """The same request for every server: greedy, fixed seed and length, streamed with usage."""
    return {"model": target.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0, "seed": 1, "stream": True, "stream_options": {"include_usage": True}}


async def stream_once(http: httpx.AsyncClient, target: Target, prompt: str, max_tokens: int) -> Outcome:
    """Send one streamed request and read it to the end."""
    started = time.perf_counter()
    first: float | None = None
    usage, chunks, finish = None, 0, None
    async with http.stream("POST", target.base_url + "/chat/completions", headers=target.headers,
                           json=request_body(target, prompt, max_tokens)) as reply:
        if reply.status_code != 200:
            await reply.aread()
            return Outcome(0.0, time.perf_counter() - started, 0, f"HTTP {reply.status_code}")
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                finish = choice.get("finish_reason") or finish
                if (choice.get("delta") or {}).get("content"):
                    chunks += 1
                    first = first if first is not None else time.perf_counter()
    ended = time.perf_counter()
    if first is None:
        return Outcome(0.0, ended - started, 0, "no answer text")
    tokens = usage["completion_tokens"] if usage else (max_tokens if finish == "length" else chunks)
    return Outcome(first - started, ended - started, tokens)


async def _client(http: httpx.AsyncClient, target: Target, prompts: list[str], offset: int, max_tokens: int,
                  requests: float, deadline: float) -> list[Outcome]:
    """One closed-loop client: the next request leaves when the previous answer has ended."""
    outcomes: list[Outcome] = []
    while len(outcomes) < requests and time.perf_counter() < deadline:
        prompt = prompts[(offset + len(outcomes)) % len(prompts)]
        try:
            outcomes.append(await stream_once(http, target, prompt, max_tokens))
        except httpx.HTTPError as error:
            outcomes.append(Outcome(0.0, 0.0, 0, type(error).__name__))
    return outcomes


async def closed_loop(target: Target, clients: int, prompts: list[str], max_tokens: int,
                      requests: float = math.inf, duration: float = math.inf) -> Run:
    """Run `clients` closed-loop clients until each sent `requests` or `duration` seconds passed
    (answers under way then are waited for); client i starts at prompt i, so runs are comparable."""
    limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=clients + 1)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0), limits=limits) as http:
        started = time.perf_counter()
        deadline = started + duration
        per_client = await asyncio.gather(*(_client(http, target, prompts, index, max_tokens, requests, deadline)
                                            for index in range(clients)))
        wall = time.perf_counter() - started
    return Run(clients, wall, [outcome for outcomes in per_client for outcome in outcomes])
