"""The three servers the serving benchmark loads, each started on a free 127.0.0.1 port and stopped after.

- `appliance`: `appliance serve` with detection, policy and audit on (tests/appliance_server.py).
- `llama-server`: llama.cpp's server, `--parallel N` with N slots of `SLOT_CONTEXT` tokens each.
- `llama-cpp-python-server`: `python -m llama_cpp.server` (one sequence at a time; a new request
  waits instead of interrupting the stream under way, its default).
All load the same GGUF with the same thread count.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from appliance.config import EngineConfig
from appliance.engine.default_model import DEFAULT_MODEL_ID, locate_default_model
from benchmarks.serving_load import Target
from tests.appliance_server import ApplianceServer, free_port, init_data_dir

SLOT_CONTEXT = 1024  # tokens per concurrent sequence: prompt + max_tokens fit with room to spare
HOST = "127.0.0.1"
TARGETS = ("appliance", "llama-server", "llama-cpp-python-server")


def appliance_config(threads: int, clients: int, max_tokens: int) -> str:
    """appliance.toml: same threads, `SLOT_CONTEXT` per sequence, a queue deep enough for every
    client, and as many decoding slots as clients when the engine batches (`engine.parallel`)."""
    lines = ["[engine]", f"threads = {threads}", f"context_length = {SLOT_CONTEXT}", f"max_queue = {max(clients, 8)}",
             f"default_max_tokens = {max_tokens}"]
    if "parallel" in EngineConfig.model_fields:
        lines.append(f"parallel = {clients}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def appliance(workdir: Path, threads: int, clients: int, max_tokens: int) -> Iterator[Target]:
    data_dir = workdir / f"appliance-{clients}"
    server = ApplianceServer(data_dir, init_data_dir(data_dir, appliance_config(threads, clients, max_tokens)))
    with server:
        yield Target("appliance", server.base_url, DEFAULT_MODEL_ID, server.headers())


@contextlib.contextmanager
def llama_server(workdir: Path, threads: int, clients: int, binary: Path) -> Iterator[Target]:
    port = free_port(HOST)
    command = [str(binary), "-m", str(locate_default_model()), "-c", str(SLOT_CONTEXT * clients),
               "--parallel", str(clients), "-t", str(threads), "-tb", str(threads), "--host", HOST,
               "--port", str(port), "--no-webui", "-a", DEFAULT_MODEL_ID]
    with _process(command, workdir / f"llama-server-{clients}.log", f"http://{HOST}:{port}/health"):
        yield Target("llama-server", f"http://{HOST}:{port}/v1", DEFAULT_MODEL_ID)


@contextlib.contextmanager
def llama_cpp_python_server(workdir: Path, threads: int, clients: int) -> Iterator[Target]:
    port = free_port(HOST)
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(locate_default_model()),
               "--model_alias", DEFAULT_MODEL_ID, "--n_ctx", str(SLOT_CONTEXT), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--interrupt_requests", "false", "--host", HOST, "--port", str(port)]
    with _process(command, workdir / f"llama-cpp-python-server-{clients}.log", f"http://{HOST}:{port}/v1/models"):
        yield Target("llama-cpp-python-server", f"http://{HOST}:{port}/v1", DEFAULT_MODEL_ID)


def starter(name: str, workdir: Path, threads: int, max_tokens: int,
            llama_server_binary: Path | None) -> Callable[[int], contextlib.AbstractContextManager[Target]]:
    """For a target name, a function from a client count to that server's context manager."""
    if name == "appliance":
        return lambda clients: appliance(workdir, threads, clients, max_tokens)
    if name == "llama-server":
        assert llama_server_binary is not None
        return lambda clients: llama_server(workdir, threads, clients, llama_server_binary)
    if name == "llama-cpp-python-server":
        return lambda clients: llama_cpp_python_server(workdir, threads, clients)
    raise ValueError(f"unknown target {name!r} (known: {', '.join(TARGETS)})")


@contextlib.contextmanager
def _process(command: list[str], log_path: Path, ready_url: str, timeout: float = 300) -> Iterator[None]:
    """Run `command` (output to `log_path`) until the block ends; ready once `ready_url` answers 200."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        _wait_ready(process, ready_url, log_path, timeout)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} server exited {process.returncode}: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout} s: {log_path.read_text()[-2000:]}")
