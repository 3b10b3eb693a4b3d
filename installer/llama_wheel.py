"""llama-cpp-python built once into a wheel for a portable CPU baseline, cached by what shaped it.

pip's own wheel cache keys on the source archive only, not on CMAKE_ARGS, so it could hand back a
build for another CPU; this cache's key names the version, the baseline and a hash of the flags.
Standard library only: the Makefile runs it before the project's dependencies are installed.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from installer.progress import Progress

LLAMA_VERSION = "0.3.36"
DEFAULT_BASELINE = "x86-64-v3"
# AMX stays off on every baseline: its matmul kernels segfault on AMX hosts (ggml-org/llama.cpp#20824).
_COMMON = ["-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF",
           "-DCMAKE_C_FLAGS=-mno-amx-int8", "-DCMAKE_CXX_FLAGS=-mno-amx-int8"]
_V2 = ["-DGGML_SSE42=ON", "-DGGML_AVX=OFF", "-DGGML_AVX2=OFF", "-DGGML_FMA=OFF", "-DGGML_F16C=OFF",
       "-DGGML_BMI2=OFF", "-DGGML_AVX512=OFF"]
_V3 = ["-DGGML_SSE42=ON", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
       "-DGGML_BMI2=ON", "-DGGML_AVX512=OFF"]
_V4 = [flag for flag in _V3 if flag != "-DGGML_AVX512=OFF"] + ["-DGGML_AVX512=ON"]
BASELINES: dict[str, list[str]] = {
    "x86-64-v2": _COMMON + _V2,
    "x86-64-v3": _COMMON + _V3,
    "x86-64-v4": _COMMON + _V4,
}
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def cmake_args(baseline: str) -> str:
    """The CMAKE_ARGS for a baseline; an unknown baseline is a ValueError naming the known ones."""
    if baseline not in BASELINES:
        raise ValueError(f"unknown CPU baseline {baseline!r} (known: {', '.join(BASELINES)})")
    return " ".join(BASELINES[baseline])


def cache_key(baseline: str) -> str:
    """Directory name of the cached wheel: version + baseline + hash of the exact flags."""
    flags = hashlib.sha256(cmake_args(baseline).encode()).hexdigest()[:12]
    return f"llama-cpp-python-{LLAMA_VERSION}-{baseline}-{flags}"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "compliance-appliance" / "wheels"


def cached_wheel(baseline: str) -> Path | None:
    """The cached wheel for this baseline, or None."""
    wheels = sorted((cache_root() / cache_key(baseline)).glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def ensure_wheel(baseline: str = DEFAULT_BASELINE, python: str = sys.executable) -> Path:
    """Return the cached wheel, building it first (with a progress bar) when the key has none."""
    found = cached_wheel(baseline)
    if found:
        return found
    target = cache_root() / cache_key(baseline)
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "-v", "-w", str(partial),
               f"llama-cpp-python=={LLAMA_VERSION}"]
    env = {**os.environ, "CMAKE_ARGS": cmake_args(baseline), "FORCE_CMAKE": "1"}
    run_with_progress(command, env, f"llama.cpp build ({baseline})", partial / "build.log")
    partial.replace(target)
    found = cached_wheel(baseline)
    if found is None:
        raise RuntimeError(f"pip wheel produced no llama-cpp-python wheel in {target}")
    return found


def run_with_progress(command: list[str], env: dict[str, str], label: str, log_path: Path) -> None:
    """Run a build, drawing ninja's [n/m] steps as a bar; the full log goes to `log_path`."""
    bar = Progress(label, total=0, unit="steps")
    with open(log_path, "w") as log, subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            step = _NINJA_STEP.match(line.strip())
            if step:
                bar.set(int(step.group(1)), total=int(step.group(2)))
    bar.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed (exit {proc.returncode}); log: {log_path}")
