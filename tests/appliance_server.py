"""Start the real appliance (real CLI, real model, detector and store) on a free loopback port."""
from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
APPLIANCE = [sys.executable, "-m", "appliance.cli.main"]
TOKEN = re.compile(r"\b(clinical|auditor|admin)\s+(apl_\S+)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def run_cli(*args: str, data_dir: Path | None = None, check: bool = True, stdin: str | None = None,
            prefix: list[str] | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `appliance ARGS` as a user would; returns the completed process."""
    command = [*(prefix or []), *APPLIANCE, *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, input=stdin, cwd=REPO,
                            env={**os.environ, **(env or {})}, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"appliance {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def routed_config(mode: str, backends: dict[str, tuple[str, str, str]]) -> str:
    """appliance.toml for a small-context server whose aliases `<name>-model` route to backends
    given as {name: (kind, base_url, model)}."""
    # External stand-ins speak plain http on loopback: the explicit test-only allowance admits that.
    plain = any(kind == "external" and url.startswith("http://") for kind, url, _ in backends.values())
    allowance = "test_only_plain_http_loopback = true\n" if plain else ""
    sections = [f'[engine]\ncontext_length = 1024\ndefault_max_tokens = 16\n[egress]\nmode = "{mode}"\n{allowance}']
    for name, (kind, url, model) in backends.items():
        sections.append(f'[[backends]]\nname = "{name}"\nkind = "{kind}"\nbase_url = "{url}"\nmodel = "{model}"\n')
    aliases = ", ".join(f'"{name}-model" = "{name}"' for name in backends)
    sections.append(f"[routing]\naliases = {{ {aliases} }}\n")
    return "".join(sections)


def init_data_dir(data_dir: Path, config: str = "") -> dict[str, str]:
    """`appliance init` into `data_dir`, with an optional appliance.toml; returns the printed keys by role."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if config:
        (data_dir / "appliance.toml").write_text(config)
    out = run_cli("init", data_dir=data_dir).stdout
    tokens = dict(TOKEN.findall(out))
    assert set(tokens) == {"clinical", "auditor", "admin"}, out
    return tokens


@dataclass
class ApplianceServer:
    """A running `appliance serve` process."""

    data_dir: Path
    tokens: dict[str, str]
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    prefix: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=lambda: list(APPLIANCE))  # what runs `serve` (a test harness may wrap it)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None
    tls: ssl.SSLContext | None = None  # the client side of a server on [server.tls]: https, verified with this

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def headers(self, role: str = "clinical") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def start(self, timeout: float = 180) -> "ApplianceServer":
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [*self.prefix, *self.command, "serve", "--data-dir", str(self.data_dir), "--host", self.host,
             "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, text=True, cwd=REPO, env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"appliance exited {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2, verify=self.tls or True).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"appliance not ready after {timeout} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def __enter__(self) -> "ApplianceServer":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
