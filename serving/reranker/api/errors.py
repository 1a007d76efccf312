"""One error shape for every failure: ``{"error": {"message", "type", "param", "code"}}``.

That is the OpenAI/vLLM shape, so client libraries show our message instead of a parse error.
Validation problems become 400 (not FastAPI's 422) with a message naming the field.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..engine.base import InputTooLongError

log = logging.getLogger(__name__)

_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    413: "RequestTooLargeError",
    415: "UnsupportedMediaTypeError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_response(status: int, message: str, param: str | None = None) -> JSONResponse:
    body = {"message": message, "type": _TYPES.get(status, "Error"), "param": param, "code": status}
    return JSONResponse({"error": body}, status_code=status)


# pydantic names the branch of a union in the error location; these say what each branch wants.
_UNION_BRANCHES = {
    "str": "a string",
    "TextDocument": 'an object {"text": string}',
    "list[str]": "a list of strings",
}


def describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """A readable message and the first offending field from pydantic's error list."""
    parts, first_param = [], None
    for error in errors:
        location = [str(p) for p in error.get("loc", ()) if p != "body"]
        if error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            return f"request body is not valid JSON{': ' + detail if detail else ''}", None
        if not location and error.get("type") in ("model_attributes_type", "dict_type"):
            # Strict Content-Type: without application/json FastAPI hands over raw bytes.
            return "request body must be a JSON object sent with Content-Type: application/json", None
        branch = next((i for i, part in enumerate(location) if part in _UNION_BRANCHES), None)
        if branch is not None:
            # A union reports one error per branch: name the field once, with what it accepts.
            location = location[:branch]
            message = "invalid value, expected " + " or ".join(_union_branches(errors, location))
        elif error.get("type") == "missing" and not location:
            message = "request body is required (a JSON object)"
        else:
            message = error.get("msg", "invalid value").removeprefix("Value error, ")
        field = ".".join(location)
        parts.append(f"{field}: {message}" if field else message)
        first_param = first_param or (location[0] if location else None)
    unique = list(dict.fromkeys(parts))
    shown = "; ".join(unique[:5]) + (f" (and {len(unique) - 5} more)" if len(unique) > 5 else "")
    return shown, first_param


def _union_branches(errors: list[dict[str, Any]], location: list[str]) -> list[str]:
    depth = len(location)
    branches = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        if loc[:depth] == location and len(loc) > depth and loc[depth] in _UNION_BRANCHES:
            branches.append(_UNION_BRANCHES[loc[depth]])
    return list(dict.fromkeys(branches))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_validation_errors(list(exc.errors()))
        return error_response(400, message, param)

    @app.exception_handler(InputTooLongError)
    async def _too_long(_: Request, exc: InputTooLongError) -> JSONResponse:
        return error_response(400, str(exc), "documents")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, f"internal error: {type(exc).__name__}")
