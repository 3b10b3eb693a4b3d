"""uvicorn on the configured address, over TLS from `[server.tls]` when set: the SSL context that
SIGHUP renews in place, and the peer certificate in each request's scope."""
from __future__ import annotations

import signal
from typing import Any

from fastapi import FastAPI

from appliance.tls.peer import peer_certificate_protocol
from appliance.tls.serving import ServingTls


def serve_app(app: FastAPI, options: dict[str, Any], tls: ServingTls | None) -> bool:
    """Serve until SIGINT/SIGTERM; False if the server could not start (e.g. the port is taken)."""
    import uvicorn

    if tls is not None:
        options = {**options, "ssl_certfile": str(tls.config.cert_file), "ssl_keyfile": str(tls.config.key_file),
                   "http": peer_certificate_protocol()}
    config = uvicorn.Config(app, **options)
    config.load()
    if tls is not None:
        config.ssl = tls.context  # ours (versions, ciphers, client CA), renewed in place on SIGHUP
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the app's lifespan takes SIGHUP over
    runner = uvicorn.Server(config)
    runner.run()
    return runner.started
