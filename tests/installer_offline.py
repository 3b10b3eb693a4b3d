"""Run inside a fresh network namespace (`unshare -n`): install a bundle, run the installed
selftest, then serve and answer one chat completion over HTTPS on loopback, verified with the CA the
install made. Prints one JSON object.

    unshare -n python3 tests/installer_offline.py BUNDLE_DIR PREFIX DATA_DIR FINGERPRINT
"""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def interfaces_up() -> list[str]:
    """The namespace's interfaces: only `lo`, brought up here (a new namespace starts with it down)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return [line.split()[0] for line in run(["ip", "-br", "link"]).stdout.splitlines()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, server: subprocess.Popen, tls: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=5, context=tls) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"installed server not ready (exit {server.poll()})")


def chat(port: int, token: str, tls: ssl.SSLContext) -> dict:
    body = json.dumps({"model": "smollm2-135m-instruct", "max_tokens": 12, "temperature": 0,
                       "messages": [{"role": "user", "content": "Name a colour."}]}).encode()
    request = urllib.request.Request(f"https://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300, context=tls) as reply:
        return json.load(reply)


def serve_and_chat(appliance: str, data_dir: str) -> dict:
    token = run([appliance, "keys", "create", "--role", "clinical", "--name", "offline-test",
                 "--data-dir", data_dir]).stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([appliance, "serve", "--data-dir", data_dir, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tls = ssl.create_default_context(cafile=str(Path(data_dir) / "tls" / "ca.pem"))
    try:
        wait_ready(port, server, tls)
        return chat(port, token, tls)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(bundle: str, prefix: str, data_dir: str, fingerprint: str) -> None:
    result: dict = {"interfaces": interfaces_up()}
    install = run([sys.executable, str(Path(bundle) / "install.py"), "--prefix", prefix, "--data-dir", data_dir,
                   "--trust", fingerprint])
    result["install"] = {"rc": install.returncode, "out": install.stdout, "err": install.stderr[-3000:]}
    if install.returncode == 0:
        appliance = str(Path(prefix) / "bin" / "appliance")
        selftest = run([appliance, "selftest", "--data-dir", data_dir])
        result["selftest"] = {"rc": selftest.returncode, "out": selftest.stdout, "err": selftest.stderr[-3000:]}
        result["chat"] = serve_and_chat(appliance, data_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:5])
