"""What the server answers when a request is wrong: every error is JSON with
a "detail", whatever the input, and no input reaches a 500 through these
handlers (a value JSON can't carry, NaN or a lone surrogate, is echoed as
text).
"""

import math
from typing import Any, Callable, Dict, Optional

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

NOT_JSON = (
    "The body must be UTF-8 JSON, sent with the header "
    "Content-Type: application/json."
)
# What FastAPI says of a body it can't decode (not UTF-8, say).
FASTAPI_PARSE_ERROR = "There was an error parsing the body"
# How much of a field's input a 422 echoes.
MAX_ECHO_CHARS = 200


def unprocessable(field: str, message: str) -> RequestValidationError:
    """A 422 naming the field, as FastAPI's own validation errors do."""
    return RequestValidationError(
        [{"loc": ("body", field), "msg": message, "type": "value_error"}]
    )


def json_safe(value: Any, max_chars: Optional[int] = None) -> Any:
    """The value as strict JSON can carry it in UTF-8: a non-finite float
    as its name ("nan", "inf"), a string with a lone surrogate with it
    escaped ("\\ud800"), anything else JSON lacks as its repr; strings cut
    at max_chars."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, str):
        if max_chars is not None and len(value) > max_chars:
            value = value[:max_chars] + "…"
        return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {
            str(json_safe(k, max_chars)): json_safe(v, max_chars)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [json_safe(v, max_chars) for v in value]
    return json_safe(repr(value), max_chars)


def error_json(error: Dict[str, Any]) -> Dict[str, Any]:
    """One validation error as FastAPI shows it (loc, msg, type, and the
    input, cut short), safe to encode."""
    shown = json_safe(
        {key: error[key] for key in ("loc", "msg", "type") if key in error}
    )
    if "input" in error:
        shown["input"] = json_safe(error["input"], MAX_ECHO_CHARS)
    return shown


async def bad_request(request: Request, exc: RequestValidationError) -> Response:
    """422 naming the field; 400 for a body that is not JSON."""
    errors = list(exc.errors())
    for i, error in enumerate(errors):
        if (
            error.get("type") == "string_unicode"
            and tuple(error.get("loc", ())) == ("body",)
            and isinstance(error.get("input"), str)
        ):
            # pydantic's error for a key with a lone surrogate, at ("body",)
            errors[i] = {
                "loc": (*error["loc"], error["input"]),
                "msg": "a field name with a lone surrogate is not text",
                "type": "string_unicode",
            }
            continue
        if error.get("type") == "json_invalid":
            return JSONResponse({"detail": "The body is not valid JSON."}, 400)
        if tuple(error.get("loc", ())) == ("body",) and isinstance(
            error.get("input"), (str, bytes)
        ):
            return JSONResponse({"detail": NOT_JSON}, 400)
    return JSONResponse({"detail": [error_json(e) for e in errors]}, 422)


def http_error_handler(
    not_found: Callable[[str], Optional[str]],
) -> Callable[[Request, StarletteHTTPException], Any]:
    """Errors raised as HTTPException, with their headers (Retry-After);
    `not_found(path)` may say more than "Not Found" of a path."""

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail: Any = exc.detail
        if exc.status_code == 400 and detail == FASTAPI_PARSE_ERROR:
            detail = NOT_JSON  # not UTF-8, say what is
        elif exc.status_code == 404 and detail == "Not Found":
            detail = not_found(request.url.path) or detail
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return JSONResponse(
            {"detail": json_safe(detail)}, exc.status_code, headers=exc.headers
        )

    return http_error


async def server_error(request: Request, exc: Exception) -> Response:
    """The last resort: a JSON 500 saying what failed (the traceback goes to
    the server's log)."""
    return JSONResponse(
        {"detail": json_safe(f"Internal error: {type(exc).__name__}: {exc}")}, 500
    )


def install_error_handlers(
    app: FastAPI, not_found: Callable[[str], Optional[str]]
) -> None:
    app.add_exception_handler(RequestValidationError, bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error_handler(not_found))  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)


class Utf8JsonRoute(APIRoute):
    """A route whose body must be UTF-8: Python's json reads UTF-16 and
    UTF-32 too (it guesses from the first bytes), which the API does not
    promise, so those are a 400 here rather than accepted by accident."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                check_utf8(await request.body())  # read once, kept for handler
            return await handler(request)

        return checked


def check_utf8(body: bytes) -> None:
    """Raise a 400 for a body that is not UTF-8 JSON text: an undecodable
    byte, or a NUL (JSON has none; UTF-16 and UTF-32 are full of them)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(
            400,
            f"The body is not UTF-8 (byte {e.start}: {body[e.start]:#04x}). {NOT_JSON}",
        )
    nul = body.find(b"\x00")
    if nul >= 0:
        raise HTTPException(
            400,
            f"The body has a NUL byte at {nul}, as UTF-16 or UTF-32 has: not "
            f"UTF-8 JSON. {NOT_JSON}",
        )


class BodyLimit:
    """Refuse (413) a request body over `max_bytes`, before reading it when
    it says its length, and as soon as it passes the limit when it does not."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"detail": self.message}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def message(self) -> str:
        return f"The body is over this server's limit of {self.max_bytes} bytes."
