"""Errors in the OpenAI shape: {"error": {"message", "type", "param", "code"}} with a specific message."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An error answer: HTTP status, OpenAI error type and a message that says exactly what is wrong."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, type="authentication_error", code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, message, type="permission_error", code="insufficient_role")


# FastAPI's words when the body could not be read as JSON for another reason than a syntax error
# (nesting deeper than the parser's recursion limit, mostly).
_UNPARSABLE_BODY = "There was an error parsing the body"


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None, str]:
    """(message, param, code) for the first validation error."""
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return "We could not parse the JSON body of your request: it is not valid JSON.", None, "invalid_request"
    param = ".".join(loc) or None
    if first.get("type") == "extra_forbidden":
        return (f"Unrecognized request argument supplied: {param}. The appliance refuses fields it does not "
                "implement instead of ignoring them."), param, "unknown_field"
    where = f" at '{param}'" if param else ""
    return f"Invalid request{where}: {first.get('msg', 'invalid value')}", param, "invalid_request"


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app can raise is answered in the OpenAI error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param, code = _validation_message(exc)
        return ApiError(400, message, param=param, code=code).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        if exc.detail == _UNPARSABLE_BODY:
            return ApiError(400, "We could not parse the JSON body of your request: it is nested too deeply or "
                            "otherwise unreadable.", code="invalid_json").response()
        return ApiError(exc.status_code, str(exc.detail), type=kind).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_error(exc).response()


def unexpected_error(exc: Exception) -> ApiError:
    """A 500 in the OpenAI shape naming only the error's type (its text may carry request data)."""
    return ApiError(500, f"internal error ({type(exc).__name__}); see the appliance log", type="server_error")
