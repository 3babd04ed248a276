"""Answers to requests the app refuses, built so that they cannot fail themselves whatever the request held:
422 for an invalid request (FastAPI's body, with what it echoes made JSON-safe), 405 with an `Allow` header
that lists every method the path takes."""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableMapping
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from serving.logs import get_logger, scrub_value
from triage.schemas import problem_message

log = get_logger("serving.errors")
_MAX_DEPTH = 20  # an echoed input nested deeper is cut (a body may nest as deep as the JSON parser allows)


def safe_text(text: str) -> str:
    """The text with what UTF-8 cannot encode (lone UTF-16 surrogates, e.g. from `"\\ud800"` in JSON) written
    as its escape, so the answer that echoes it can be sent."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_safe(value: Any, depth: int = 0) -> Any:
    """Whatever a validation error carries (the input, its context), as JSON that encodes: strings escaped as
    above, non-finite numbers and other objects as text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, bytes):
        return safe_text(value.decode("utf-8", "backslashreplace"))
    if depth >= _MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {safe_text(str(key)): json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item, depth + 1) for item in value]
    return safe_text(str(value))


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    problem = {"type": error.get("type", "invalid"), "loc": list(error.get("loc", ())),
               "msg": str(error.get("msg", "invalid")), "input": error.get("input")}
    if "ctx" in error:
        problem["ctx"] = error["ctx"]
    problem["msg"] = problem_message(error)
    return scrub_value(json_safe(problem))  # what it echoes may be a phone or ID number: masked as in the logs


def validation_body(errors: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": [_problem(error) for error in errors]}


async def invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body ({"detail": [{type, loc, msg, input, ctx}]}), with every echoed input JSON-safe. Should
    even that fail, a 422 that says so rather than a 500."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    try:
        return JSONResponse(validation_body(errors), status_code=422)
    except Exception:  # the answer to bad input must not become a server error
        log.exception("could not describe a validation error", path=request.url.path)
        return JSONResponse({"detail": [{"type": "invalid", "loc": ["body"], "msg": "the request is invalid, and "
                                         "what is wrong with it could not be echoed"}]}, status_code=422)


async def unparsable_body(request: Request, exc: Exception) -> Response:
    """FastAPI answers a body it could not even parse as JSON — bytes that are not UTF-8, arrays nested past the
    parser's depth — with a bare 400 "There was an error parsing the body". Those are malformed JSON like any other:
    422 `json_invalid` saying what is wrong, as for a missing quote. Other 400s are the handlers' own."""
    assert isinstance(exc, StarletteHTTPException)
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start:cause.start + 1]
        error = f"the body is not UTF-8: byte 0x{byte.hex()} at position {cause.start}"
        where: list[Any] = ["body", cause.start]
    elif isinstance(cause, RecursionError):
        error, where = "the body nests arrays or objects too deeply", ["body"]
    else:
        return await http_exception_handler(request, exc)
    return JSONResponse({"detail": [{"type": "json_invalid", "loc": where, "msg": "JSON decode error",
                                     "input": {}, "ctx": {"error": error}}]}, status_code=422)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Iterable[BaseRoute], scope: MutableMapping[str, Any]) -> set[str]:
    """Every method some route takes on the request's path (Starlette names only the first route's): each method
    asked of the router as a request of it would be."""
    return {method for method in _METHODS
            if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)}


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with `Allow` listing every method of the path, as RFC 9110 asks."""
    assert isinstance(exc, StarletteHTTPException)
    allowed = allowed_methods(request.app.router.routes, request.scope)
    headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))} if allowed else exc.headers
    return await http_exception_handler(request, StarletteHTTPException(405, exc.detail, headers))
