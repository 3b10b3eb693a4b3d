"""`appliance scan`: findings and the policy decision for a text, offline, without the server."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from appliance.cli.common import fail, one_line_errors


def _jsonl(detector: object, zone: str) -> None:
    """One JSON string per stdin line -> one JSON list of findings per stdout line (original offsets)."""
    for number, line in enumerate(sys.stdin, start=1):
        try:
            text = json.loads(line)
        except ValueError:
            fail(f"stdin line {number}: not valid JSON (expected one JSON string per line)")
        if not isinstance(text, str):
            fail(f"stdin line {number}: expected a JSON string, got {type(text).__name__}")
        findings = detector.scan(text, zone).original_findings  # type: ignore[attr-defined]
        sys.stdout.write(json.dumps([f.as_json() for f in findings]) + "\n")
        sys.stdout.flush()


def scan_command(
    text: Annotated[Optional[str], typer.Argument(help="Text to scan (omit with --jsonl).")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Read one JSON string per stdin line; print findings per line.")] = False,
    zone: Annotated[Optional[str], typer.Option(
        help="Destination zone: local, internal or external (default: local for TEXT; external, the recall-first "
             "detector, for --jsonl).")] = None,
    purpose: Annotated[str, typer.Option(help="Purpose of use.")] = "treatment",
    direction: Annotated[str, typer.Option(help="prompt or response.")] = "prompt",
    packs_dir: Annotated[Optional[Path], typer.Option("--packs-dir", help="Policy packs directory (default: bundled).")] = None,
) -> None:
    """Detect PII/PHI/PCI in a text and show what the policy packs decide."""
    from policies.detect import Detector
    from policies.vocabulary import ZONES
    from policies.policy_engine import PolicyEngine
    from policies.pack import load_packs

    if jsonl == (text is not None):
        fail("give either TEXT or --jsonl")
    if zone is not None and zone not in ZONES:
        fail(f"unknown zone {zone!r} (known: {', '.join(ZONES)})")
    with one_line_errors():
        detector = Detector.load()
        if jsonl:
            _jsonl(detector, zone or "external")
            return
        engine = PolicyEngine(load_packs(packs_dir))
        assert text is not None
        scanned = detector.scan(text, zone or "local")
        decision = engine.decide([scanned.text], [scanned.findings], purpose=purpose, zone=zone or "local",  # type: ignore[arg-type]
                                 direction=direction)  # type: ignore[arg-type]
    typer.echo(json.dumps({
        "findings": [f.as_json() for f in scanned.original_findings],
        "decision": {"action": decision.action, "rules": decision.rule_ids, "citations": decision.citations,
                     "text": decision.texts[0] if decision.action != "block" else None},
    }, indent=2))
