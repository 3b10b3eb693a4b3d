"""llama.cpp's `llama-server`, built once from the llama.cpp that llama-cpp-python vendors, and cached.

Run:  .venv/bin/python benchmarks/llama_server_build.py [--baseline x86-64-v3] [--jobs 2]
(prints the binary's path; benchmarks/serving.py calls `ensure_llama_server` itself).

The source is llama-cpp-python's sdist at the version the appliance pins (installer/llama_wheel.py),
fetched with `pip download` (pip's cache answers when it holds it); only `vendor/llama.cpp` is
unpacked. The CPU flags are the appliance wheel's for the same baseline, so both sides run the same
kernels. The cache directory is named by version, baseline and a hash of every flag:
~/.cache/compliance-appliance/llama-server/<version>-<baseline>-<hash>/bin/llama-server.
Nothing is fetched at build time: the web UI download and curl/OpenSSL are switched off.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from installer.llama_wheel import BASELINES, DEFAULT_BASELINE, LLAMA_VERSION, run_with_progress  # noqa: E402

# Only the server target, statically linked, with nothing downloaded while building.
SERVER_FLAGS = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
                "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON"]
_VENDORED = "vendor/llama.cpp/"


def build_flags(baseline: str) -> list[str]:
    """The cmake flags: the appliance wheel's CPU flags for `baseline`, then the server-only ones."""
    if baseline not in BASELINES:
        raise ValueError(f"unknown CPU baseline {baseline!r} (known: {', '.join(BASELINES)})")
    return BASELINES[baseline] + SERVER_FLAGS


def cache_dir(baseline: str) -> Path:
    """Where this version + flag set's binary lives."""
    digest = hashlib.sha256(" ".join(build_flags(baseline)).encode()).hexdigest()[:12]
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "compliance-appliance" / "llama-server" / f"{LLAMA_VERSION}-{baseline}-{digest}"


def cached_llama_server(baseline: str = DEFAULT_BASELINE) -> Path | None:
    """The cached binary for this baseline, or None (never builds)."""
    binary = cache_dir(baseline) / "bin" / "llama-server"
    return binary if binary.is_file() else None


def ensure_llama_server(baseline: str = DEFAULT_BASELINE, jobs: int = 2) -> Path:
    """Return the cached `llama-server`, building it first (with a progress bar) when missing."""
    found = cached_llama_server(baseline)
    if found:
        return found
    target = cache_dir(baseline)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="llama-server-src-") as scratch:
        source = _vendored_source(Path(scratch))
        build = Path(scratch) / "build"
        with open(partial / "configure.log", "w") as log:
            subprocess.run(["cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *build_flags(baseline)],
                           stdout=log, stderr=subprocess.STDOUT, check=True)
        run_with_progress(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)],
                          dict(os.environ), f"llama-server build ({baseline})", partial / "build.log")
        (partial / "bin").mkdir()
        shutil.copy2(build / "bin" / "llama-server", partial / "bin" / "llama-server")
    partial.replace(target)
    return target / "bin" / "llama-server"


def _vendored_source(scratch: Path) -> Path:
    """Download llama-cpp-python's sdist into `scratch` and unpack only its vendored llama.cpp."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    f"llama-cpp-python=={LLAMA_VERSION}", "-d", str(scratch)], check=True)
    archive = scratch / f"llama_cpp_python-{LLAMA_VERSION}.tar.gz"
    prefix = f"llama_cpp_python-{LLAMA_VERSION}/{_VENDORED}"
    with tarfile.open(archive) as sdist:
        members = [member for member in sdist.getmembers() if member.name.startswith(prefix)]
        sdist.extractall(scratch, members=members, filter="data")
    return scratch / prefix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, choices=sorted(BASELINES))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(ensure_llama_server(args.baseline, args.jobs))


if __name__ == "__main__":
    main()
