"""Prometheus metrics of one appliance process (own registry, so several apps can live in tests)."""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# The steps an inference call passes before its client sees text, in order (label values of `stage_latency`).
STAGES = ("prompt_check", "write_ahead", "first_token", "first_text")


class Metrics:
    """Requests, tokens, queue depth, latencies, policy and egress outcomes.

    `first_token_latency` is a stream's time from the call's start to the first answer text its client
    receives; `stage_latency` splits that time by step (STAGES): the prompt's detection and policy
    decision, the write-ahead audit record, waiting and prompt evaluation until the engine's first
    token, and the answer check until the first text is released (streams only).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("appliance_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=r)
        self.tokens = Counter("appliance_tokens", "Tokens processed", ["model", "kind"], registry=r)
        self.request_latency = Histogram(
            "appliance_request_latency_seconds", "Request latency", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.first_token_latency = Histogram(
            "appliance_time_to_first_token_seconds", "Time from a streamed call's start to its first answer text",
            ["model"], buckets=STAGE_BUCKETS, registry=r
        )
        self.stage_latency = Histogram(
            "appliance_stage_seconds", "Time an inference call spends in each step before its first text",
            ["stage"], buckets=STAGE_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("appliance_queue_depth", "Jobs waiting for a model", registry=r)
        self.active_jobs = Gauge("appliance_active_jobs", "Jobs admitted and not finished", registry=r)
        self.policy_actions = Counter("appliance_policy_decisions", "Policy decisions", ["direction", "action"], registry=r)
        self.egress_blocked = Gauge("appliance_egress_blocked", "Connections and lookups the egress guard refused",
                                    registry=r)
        self.audit_records = Counter("appliance_audit_records", "Audit records appended", ["kind"], registry=r)
        self.tls_expiry_days = Gauge("appliance_tls_cert_expiry_days", "Days until the served TLS certificate expires",
                                     registry=r)

    def track_engine(self, queue_depth: Callable[[], float], active_jobs: Callable[[], float]) -> None:
        self.queue_depth.set_function(queue_depth)
        self.active_jobs.set_function(active_jobs)

    def track_egress(self, blocked: Callable[[], float]) -> None:
        self.egress_blocked.set_function(blocked)

    def track_tls(self, days_to_expiry: Callable[[], float]) -> None:
        self.tls_expiry_days.set_function(days_to_expiry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
