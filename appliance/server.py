"""uvicorn on the configured address, over TLS from `[server.tls]` when set: the SSL context that
SIGHUP renews in place, and the peer certificate in each request's scope. Also a short-lived server
on a free loopback port (the selftest's HTTPS probe)."""
from __future__ import annotations

import signal
import socket
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from fastapi import FastAPI

from appliance.tls.peer import peer_certificate_protocol
from appliance.tls.serving import ServingTls

if TYPE_CHECKING:
    import uvicorn


def uvicorn_config(app: FastAPI, options: dict[str, Any], tls: ServingTls | None) -> "uvicorn.Config":
    """uvicorn's configuration for `app`; with TLS, serving our SSL context (the one SIGHUP renews) and
    putting the peer certificate into each request's scope."""
    import uvicorn

    if tls is not None:
        options = {**options, "ssl_certfile": str(tls.config.cert_file), "ssl_keyfile": str(tls.config.key_file),
                   "http": peer_certificate_protocol()}
    config = uvicorn.Config(app, **options)
    config.load()
    if tls is not None:
        config.ssl = tls.context  # ours (versions, ciphers, client CA), renewed in place on SIGHUP
    return config


def serve_app(app: FastAPI, options: dict[str, Any], tls: ServingTls | None) -> bool:
    """Serve until SIGINT/SIGTERM; False if the server could not start (e.g. the port is taken)."""
    import uvicorn

    config = uvicorn_config(app, options, tls)
    if tls is not None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the app's lifespan takes SIGHUP over
    runner = uvicorn.Server(config)
    runner.run()
    return runner.started


@contextmanager
def served_on_loopback(app: FastAPI, options: dict[str, Any], tls: ServingTls | None,
                       start_seconds: float = 60) -> Iterator[int]:
    """Serve `app` from a thread on a free 127.0.0.1 port while the block runs; yields the port. No
    lifespan (no signal handlers, nothing of the app's closed at the end)."""
    import uvicorn

    runner = uvicorn.Server(uvicorn_config(app, {**options, "host": "127.0.0.1", "port": 0, "lifespan": "off"}, tls))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, name="loopback-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + start_seconds
        while not runner.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                runner.should_exit = True
                raise RuntimeError("the server did not start on 127.0.0.1")
            time.sleep(0.05)
        try:
            yield sock.getsockname()[1]
        finally:
            runner.should_exit = True
            thread.join(timeout=30)
