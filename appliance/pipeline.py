"""One inference call, as the named steps of the design (DESIGN section 3).

    authenticate -> validate -> detect -> decide -> write ahead -> route and generate
    -> check the answer -> record the outcome

The HTTP layer (api/routes_inference.py) frames requests and responses; every decision about data
happens here. Each step fails closed: no detector, no decision, no audit record -> no inference.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from appliance.api.errors import ApiError
from appliance.api.translate import detection_view, is_tool_text, output_options, rebuilt_messages
from appliance.auditing import call_fields
from appliance.auth import Principal
from appliance.engine.admission import EngineStopped, QueueFull, no_announcement
from appliance.engine.gguf import ModelFileError
from appliance.engine.runtime import ContextLengthExceeded
from appliance.routing.base import Backend, BackendError, DeltaStream, GenerationRequest, StreamDelta, UnsupportedOption
from appliance.routing.table import RouteRefused
from appliance.services import Services
from audit.errors import AuditUnavailable
from policies.decision import Decision, FiredRule
from policies.detect import Scan
from policies.findings import Finding
from policies.stream import StreamGuard

# Streamed answers are re-scanned every this many new characters (plus the guard's hold-back window):
# larger steps cost less detection CPU, which competes with decoding, at the price of burstier output.
ANSWER_SCAN_STEP_CHARS = 128
P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Call:
    """The state of one call as it moves through the steps."""

    request_id: str
    endpoint: str
    principal: Principal
    client: dict[str, str]  # address, and client certificate fingerprint under mutual TLS
    requested_model: str
    texts: list[str]  # the messages (or the prompt), then the stop sequences: everything forwarded
    roles: list[str]
    task_hint: str | None = None
    stops: int = 0  # how many of `texts` (at the end) are stop sequences
    seed: int | None = None  # forwarded as a number: a number can carry an identifier too
    subject: str = ""
    audit_extra: dict[str, Any] = field(default_factory=dict)  # tools offered, output format, end user
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None  # when the engine's first delta had reached the call
    backend: Backend | None = None
    decision: Decision | None = None
    request_seq: int | None = None
    arrived: Callable[[], None] = no_announcement  # its generation was submitted (or never will be)

    @property
    def identity(self) -> dict[str, Any]:
        """The call's id, endpoint, actor and client as audit fields (`auditing.call_fields`)."""
        return call_fields(self.request_id, self.principal, endpoint=self.endpoint, client=self.client)

    @property
    def is_chat(self) -> bool:
        return bool(self.roles)

    @property
    def message_count(self) -> int:
        """How many of `texts` come before the stop sequences (messages, tool arguments, tools)."""
        return len(self.texts) - self.stops

    @property
    def detection_texts(self) -> list[str]:
        """What the detector reads: the texts, tool arguments in their detection view (same offsets)."""
        if not self.roles:
            return self.texts
        views = [detection_view(text, role) for text, role in zip(self.texts, self.roles)]
        return views + self.texts[len(views):]

    def sendable(self, scans: list[Scan]) -> tuple[list[str], list[list[Finding]]]:
        """(texts, findings) the policy transforms: each scan's text, except that tool arguments and
        definitions keep their original JSON (their detection view blanked only punctuation, so the
        findings' original offsets point into it)."""
        texts, findings = [], []
        for index, scan in enumerate(scans):
            if index < len(self.roles) and is_tool_text(self.roles[index]):
                texts.append(self.texts[index])
                findings.append(scan.original_findings)
            else:
                texts.append(scan.text)
                findings.append(scan.findings)
        return texts, findings


def audit_unavailable(exc: AuditUnavailable) -> ApiError:
    """No audit record, no inference."""
    return ApiError(503, f"Audit store unavailable, request refused: {exc}", type="server_error",
                    code="audit_unavailable")


def detector_failed(exc: Exception, consequence: str) -> ApiError:
    """The detector raised: fail closed, naming only the exception's type (its message may quote the text)."""
    return ApiError(503, f"PII/PHI detector failed ({type(exc).__name__}); {consequence} (fail closed)",
                    type="server_error", code="detector_unavailable")


def failing_closed(detector_call: Callable[P, R]) -> Callable[P, R]:
    """A detector function (`analyze`, `inert_prefix`) for the answer guard: a failure withholds the answer as a
    503 error."""

    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return detector_call(*args, **kwargs)
        except Exception as exc:
            raise detector_failed(exc, "answer withheld") from None

    return checked


def blocked_error(fired: list[FiredRule], direction: str) -> ApiError:
    """A refusal naming the blocking rules and their citations, never the sensitive value."""
    deciding = [r for r in fired if r.action == "block"] or fired
    rules = ", ".join(dict.fromkeys(r.pack_id + ":" + r.rule_id for r in deciding))
    cites = "; ".join(sorted({r.citation for r in deciding}))
    return ApiError(
        400,
        f"Request blocked by policy: the {direction} contains data that may not go to this destination "
        f"(rule {rules}; {cites}).",
        type="policy_violation",
        code="policy_blocked",
    )


class InferencePipeline:
    """The request path; one instance per app."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # -- audit helpers -----------------------------------------------------------------------
    async def audit(self, kind: str, fields: dict[str, Any]) -> int:
        """Append a record and wait until it is durable; 503 when the store cannot write."""
        try:
            appended = await self.services.audit.append_async(kind, fields)
        except AuditUnavailable as exc:
            raise audit_unavailable(exc) from None
        self.services.metrics.audit_records.labels(kind).inc()
        return appended.seq

    # -- steps 2-4: validate, detect, decide --------------------------------------------------
    def check_bounds(self, max_tokens: int | None) -> None:
        """Integers forwarded to a backend stay within what the model can do (a number hides nothing)."""
        context = self.services.settings.engine.context_length
        if max_tokens is not None and max_tokens > context:
            raise ApiError(400, f"max_tokens {max_tokens} exceeds the maximum context length of {context} tokens",
                           param="max_tokens", code="context_length_exceeded")

    async def check_seed(self, call: Call, zone: str) -> None:
        """A seed going to a non-local zone is scanned as text (a card number fits in an int64)."""
        if zone == "local" or call.seed is None:
            return
        [scanned] = await self.scan([str(call.seed)], zone)
        if scanned.findings:
            raise ApiError(400, f"seed refused for the {zone} zone: its digits read as an identifier "
                           f"({scanned.findings[0].entity_type}); use a shorter seed", param="seed", code="invalid_value")

    async def scan(self, texts: list[str], zone: str) -> list[Scan]:
        """Every text, and the texts joined, scanned for `zone`; 503 when the detector cannot run."""
        detector = self.services.detector
        if detector is None:
            raise ApiError(503, "PII/PHI detector is not loaded; request refused (fail closed)",
                           type="server_error", code="detector_unavailable")
        try:
            return await asyncio.wrap_future(detector.submit(texts, zone))
        except Exception as exc:
            raise detector_failed(exc, "request refused") from None

    def decide(self, call: Call, scans: list[Scan], backend: Backend) -> Decision:
        """The packs' decision on the prompt (as scanned for `backend`'s zone); 503 if the engine fails."""
        try:
            texts, findings = call.sendable(scans)
            return self.services.policy.decide(texts, findings, purpose=call.principal.purpose, zone=backend.zone,
                                               direction="prompt")
        except Exception as exc:
            raise ApiError(503, f"policy engine failed ({type(exc).__name__}); request refused (fail closed)",
                           type="server_error", code="policy_unavailable") from None

    async def screen(self, call: Call) -> None:
        """Detect, then pick the first candidate backend whose zone the decision allows."""
        try:
            candidates = self.services.routes.candidates(call.requested_model, sum(map(len, call.texts)),
                                                         call.task_hint)
        except RouteRefused as refused:
            await self.audit("route_refused", {**call.identity, "model": call.requested_model,
                                               "mode": self.services.settings.egress.mode})
            raise ApiError(403, str(refused), type="permission_error", code="egress_refused") from None
        if not candidates:
            raise ApiError(404, f"The model '{call.requested_model}' does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        scans: dict[str, list[Scan]] = {}
        for backend in candidates:
            if backend.zone not in scans:
                await self.check_seed(call, backend.zone)
                scans[backend.zone] = await self.scan(call.detection_texts, backend.zone)
            decision = self.decide(call, scans[backend.zone], backend)
            self.services.metrics.policy_actions.labels("prompt", decision.action).inc()
            call.backend, call.decision = backend, decision
            if decision.action != "block":
                return
        assert call.decision is not None
        await self.audit("policy_block", {**call.identity, "direction": "prompt",
                                          **self._decision_fields(call.decision, call)})
        raise blocked_error(call.decision.fired, "prompt")

    def _decision_fields(self, decision: Decision, call: Call) -> dict[str, Any]:
        backend = call.backend
        return {
            "backend": backend.name if backend else None,
            "zone": backend.zone if backend else None,
            "model": call.requested_model,
            "packs": self.services.policy.packs_info(),
            "decision": decision.action,
            "rules": decision.rule_ids,
            "findings": decision.finding_counts,
        }

    # -- step 5: write ahead ------------------------------------------------------------------
    async def write_ahead(self, call: Call, stream: bool) -> None:
        assert call.decision is not None and call.backend is not None
        fields = {
            **call.identity, "stream": stream,
            "prompt_hmac": self.services.audit.digest("\x1e".join(call.texts)), **call.audit_extra,
            **self._decision_fields(call.decision, call),
            **self.services.routes.model_fields(call.backend, call.requested_model),
        }
        if call.subject:  # the keyed digest of the X-Data-Subject identifier, for the subject report
            fields["subject_digest"] = self.services.audit.digest(call.subject)
        if self.services.capture is not None:
            fields["prompt_capture"] = await self.capture(call, "\x1e".join(call.texts))
        call.request_seq = await self.audit("request", fields)

    async def capture(self, call: Call, text: str) -> str:
        """Encrypted capture (operator opt-in) under the call's data subject; returns the reference."""
        assert self.services.capture is not None
        try:
            return await run_in_threadpool(self.services.capture.capture, call.subject, text)
        except AuditUnavailable as exc:
            raise audit_unavailable(exc) from None

    @contextlib.contextmanager
    def announced(self, call: Call) -> Iterator[None]:
        """While the call's checks run, the engine knows its generation is on its way (an idle engine may
        wait for it, to start a burst of requests together); the announcement ends at submission or exit."""
        call.arrived = self.services.engine.expect(call.requested_model)
        try:
            yield
        finally:
            call.arrived()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one step of a call into `appliance_stage_seconds` (a step that raises is not counted)."""
        began = time.perf_counter()
        yield
        self.services.metrics.stage_latency.labels(name).observe(time.perf_counter() - began)

    def first_text_sent(self, call: Call) -> None:
        """The client has its first answer text: the time to it, and the answer check's share."""
        now = time.perf_counter()
        self.services.metrics.first_token_latency.labels(call.requested_model).observe(now - call.started)
        if call.first_token_at is not None:
            self.services.metrics.stage_latency.labels("first_text").observe(now - call.first_token_at)

    # -- step 6: route and generate -------------------------------------------------------------
    def generation_request(self, call: Call, body: Any) -> GenerationRequest:
        assert call.decision is not None and call.backend is not None
        texts, stops = call.decision.texts[:call.message_count], call.decision.texts[call.message_count:]
        model = self.services.routes.backend_model(call.backend, call.requested_model)
        common = dict(model=model, max_tokens=body.effective_max_tokens, temperature=body.temperature,
                      top_p=body.top_p, stop=stops, seed=body.seed, options=output_options(body, texts),
                      client=call.principal.key_id)
        if call.is_chat:
            return GenerationRequest(messages=rebuilt_messages(body.messages, texts), **common)
        return GenerationRequest(messages=[], prompt=texts[0], **common)

    async def open_stream(self, call: Call, request: GenerationRequest) -> tuple[StreamDelta, DeltaStream]:
        """Admit the generation and wait for its first delta, so errors still get a proper status."""
        assert call.backend is not None
        async with self.backend_errors(call):
            try:
                deltas = call.backend.stream(request)  # a local model's job is queued by now
                call.arrived()
                first = await deltas.__anext__()
            except StopAsyncIteration:
                first = StreamDelta(text="", finish_reason="stop")
                deltas = _empty()
        return first, deltas

    async def embed(self, call: Call, texts: list[str]) -> tuple[list[list[float]], int]:
        """Embeddings of the policy-transformed inputs on the local engine."""
        assert call.backend is not None
        embed = getattr(call.backend, "embed", None)
        async with self.backend_errors(call):
            if embed is None:
                raise UnsupportedOption(f"model {call.requested_model!r} is served by backend {call.backend.name!r}, "
                                        "which does not serve embeddings", "model")
            return await embed(self.services.routes.backend_model(call.backend, call.requested_model), texts)

    @contextlib.asynccontextmanager
    async def backend_errors(self, call: Call) -> AsyncIterator[None]:
        """Backend and engine failures as OpenAI errors, each with its outcome record."""
        assert call.backend is not None
        try:
            yield
        except ContextLengthExceeded as exc:
            await self.record_outcome(call, 400, error="context_length_exceeded")
            raise ApiError(400, str(exc), param="messages", code="context_length_exceeded") from None
        except UnsupportedOption as exc:
            await self.record_outcome(call, 400, error="unsupported_option")
            raise ApiError(400, str(exc), param=exc.param, code="unsupported_option") from None
        except QueueFull as exc:
            await self.record_outcome(call, 429, error="queue_full")
            raise ApiError(429, str(exc), type="rate_limit_error", code="queue_full",
                           headers={"Retry-After": str(exc.retry_after)}) from None
        except EngineStopped as exc:
            await self.record_outcome(call, 503, error="engine_unavailable")
            raise ApiError(503, str(exc), type="server_error", code="engine_unavailable") from None
        except ModelFileError as exc:
            await self.record_outcome(call, 503, error="model_refused")
            raise ApiError(503, f"The model was refused at load: {exc}", type="server_error",
                           code="model_refused") from None
        except BackendError as exc:
            await self.record_outcome(call, 502, error="backend_error")
            raise ApiError(502, f"backend {call.backend.name!r} failed: {exc}", type="server_error",
                           code="backend_error") from None

    # -- step 7: check the answer ------------------------------------------------------------------
    def answer_guard(self, call: Call) -> StreamGuard:
        assert call.decision is not None and call.backend is not None
        detector = self.services.detector
        if detector is None:
            raise ApiError(503, "PII/PHI detector is not loaded", type="server_error", code="detector_unavailable")
        return StreamGuard(
            failing_closed(detector.analyze), self.services.policy, purpose=call.principal.purpose, zone=call.backend.zone,
            placeholders=dict(call.decision.placeholders), restore=self.services.policy.restores(call.decision),
            scan_step_chars=ANSWER_SCAN_STEP_CHARS, inert_prefix=failing_closed(detector.inert_prefix),
        )

    # -- step 8: record the outcome -----------------------------------------------------------------
    async def record_outcome(self, call: Call, status: int, *, error: str | None = None,
                             finish_reason: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
                             answer: str | None = None, answer_decision: Decision | None = None,
                             tools_called: list[str] | None = None) -> None:
        fields: dict[str, Any] = {
            "request_id": call.request_id, "request_seq": call.request_seq, "status": status,
            "latency_ms": round((time.perf_counter() - call.started) * 1000, 3),
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        }
        if error:
            fields["error"] = error
        if finish_reason:
            fields["finish_reason"] = finish_reason
        if tools_called:
            fields["tools_called"] = tools_called
        if answer is not None:
            fields["response_hmac"] = self.services.audit.digest(answer)
            if self.services.capture is not None:
                fields["response_capture"] = await self.capture(call, answer)
        if answer_decision is not None:
            fields.update(response_decision=answer_decision.action, response_rules=answer_decision.rule_ids,
                          response_findings=answer_decision.finding_counts)
        await self.audit("outcome", fields)


async def _empty() -> DeltaStream:
    return
    yield  # pragma: no cover - makes this an async generator

