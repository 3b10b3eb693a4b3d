"""`appliance selftest`: prove an installed appliance works on this machine, one step at a time.

Each step uses the real components the server runs on (opened by `open_services`): the model
completes a prompt, the detector finds a sample identifier, a record is appended and the whole log
exported and verified, the egress guard refuses a connect beyond loopback, and `/readyz` answers over
HTTPS verified with the CA file clients use (`selftest_tls.py`).
"""
from __future__ import annotations

import asyncio
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from appliance.cli.selftest_tls import TlsProbe, https_readiness
from appliance.egress import EgressBlocked
from appliance.routing.base import ChatMessage, GenerationRequest
from appliance.services import Services
from audit.export import export_audit
from audit.verify import verify_export

SAMPLE_TEXT = "Patient SSN: 536-22-8145, seen today."
SAMPLE_TYPE = "US_SSN"
# TEST-NET-1 (RFC 5737, never routed), from a socket bound to 127.0.0.1: even if the guard failed,
# the kernel refuses to send from a loopback source to another network, so no packet can leave.
PROBE_TARGET = ("192.0.2.1", 9)


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str


def complete_prompt(services: Services) -> str:
    """The default model answers a short chat prompt (greedy, a few tokens)."""
    request = GenerationRequest(model=services.settings.engine.default_model,
                                messages=[ChatMessage("user", "Say hello.")], max_tokens=8, temperature=0.0)
    generation = asyncio.run(services.routes.local.generate(request))
    if generation.completion_tokens < 1:
        raise RuntimeError("the model produced no tokens")
    return f"{generation.completion_tokens} tokens: {generation.text.strip()[:40]!r}"


def detect_identifier(services: Services) -> str:
    """The detector finds the sample SSN."""
    if services.detector is None:
        raise RuntimeError("the detector is not loaded")
    found = {finding.entity_type for finding in services.detector.analyze(SAMPLE_TEXT)}
    if SAMPLE_TYPE not in found:
        raise RuntimeError(f"sample {SAMPLE_TYPE} not detected (found: {sorted(found) or 'nothing'})")
    return f"{SAMPLE_TYPE} found in the sample text"


def audit_round_trip(services: Services) -> str:
    """Append a selftest record, export the whole log and verify the export offline."""
    appended = services.audit.append("selftest", {"steps": ["model", "detector", "audit", "egress", "tls"]})
    with tempfile.TemporaryDirectory(prefix="selftest-export-") as scratch:
        export_audit(services.audit, Path(scratch) / "export", actor="selftest")
        report = verify_export(Path(scratch) / "export", workers=1)
    return f"record {appended.seq} appended; {report.summary().splitlines()[0]}"


def egress_refused(services: Services) -> str:
    """A connect beyond loopback is refused by the process-wide guard."""
    if services.egress is None:
        raise RuntimeError("the egress guard is not installed")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        try:
            probe.connect(PROBE_TARGET)
        except EgressBlocked as blocked:
            return f"connect to {PROBE_TARGET[0]} refused ({blocked.reason})"
        except OSError as error:
            raise RuntimeError(f"the guard let a connect to {PROBE_TARGET[0]} through ({error})") from None
    raise RuntimeError(f"the guard let a connect to {PROBE_TARGET[0]} through")


STEPS: list[tuple[str, Callable[[Services], str]]] = [
    ("model", complete_prompt),
    ("detector", detect_identifier),
    ("audit", audit_round_trip),
    ("egress", egress_refused),
]


def run_selftest(services: Services, probe: TlsProbe = TlsProbe()) -> list[StepResult]:
    """Every step, in order (`tls` last, with `probe`); a failing step is reported and the next ones still run."""
    results = []
    for name, step in [*STEPS, ("tls", lambda services: https_readiness(services, probe))]:
        try:
            results.append(StepResult(name, True, step(services)))
        except Exception as exc:  # a step's failure is its result, not a crash
            results.append(StepResult(name, False, str(exc) or type(exc).__name__))
    return results


NEXT_STEPS = """next steps:
  1. give the audit signing key fingerprint above to the compliance office (they verify exports with it);
  2. mint one API key per client: appliance keys create --role clinical --name NAME --data-dir {data_dir};
  3. start the service: systemctl enable --now appliance (or: appliance serve --data-dir {data_dir})."""


def report_selftest(services: Services, results: list[StepResult]) -> str:
    """The lines `appliance selftest` prints: one per step, the key fingerprint, what to do next."""
    lines = [f"{'ok  ' if result.ok else 'FAIL'} {result.name:9s} {result.detail}" for result in results]
    lines.append(f"audit signing key fingerprint: {services.audit.signing_fingerprint}")
    if all(result.ok for result in results):
        lines.append(NEXT_STEPS.format(data_dir=services.settings.data_dir))
    return "\n".join(lines)
