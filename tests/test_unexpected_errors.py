"""An error no handler answers is a 500 in the OpenAI shape with the request id, naming only its type."""
from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from appliance.api.errors import install_error_handlers
from appliance.api.framing import BodyLimits, RequestFraming
from appliance.metrics import Metrics

SECRET = "Jane Roe 536-22-8761"


def app_that_fails() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/boom")
    async def boom() -> None:
        raise KeyError(SECRET)

    app.add_middleware(RequestFraming, metrics=Metrics(), limits=BodyLimits(max_bytes=1024, timeout_seconds=5))
    return app


def test_an_unexpected_error_is_a_500_with_the_request_id_and_no_request_data(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), TestClient(app_that_fails(), raise_server_exceptions=False) as client:
        reply = client.get("/v1/boom")
    assert reply.status_code == 500
    assert reply.headers["x-request-id"].startswith("req_")
    assert reply.json() == {"error": {"message": "internal error (KeyError); see the appliance log",
                                      "type": "server_error", "param": None, "code": None}}
    assert "KeyError" in caplog.text and "/v1/boom" in caplog.text
    assert "536-22-8761" not in caplog.text and "536-22-8761" not in reply.text
