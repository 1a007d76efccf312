"""One error shape for every failure: ``{"error": {"message", "type", "param", "code"}, "detail"}``.

``error`` is the OpenAI/vLLM shape; ``detail`` repeats the message where FastAPI-style clients
(Jina's, NVIDIA's) read it, so client libraries show our message instead of a parse error. A
dialect whose clients expect another shape (TEI's ``{"error": "...", "error_type"}``) sets
``request.state.error_shape`` before it can fail. Validation problems become 400 (not
FastAPI's 422) with a message naming the field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..engine.base import InputTooLongError, RequestTooLargeError

log = logging.getLogger(__name__)

_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    408: "RequestTimeoutError",
    413: "RequestTooLargeError",
    415: "UnsupportedMediaTypeError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


BaseModelT = TypeVar("BaseModelT", bound=BaseModel)
# (status, message, param) -> the JSON body of an error, for a dialect with its own shape.
ErrorShape = Callable[[int, str, "str | None"], dict[str, Any]]


def error_type(status: int) -> str:
    return _TYPES.get(status, "Error")


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers


class ErrorJSONResponse(JSONResponse):
    """ASCII JSON: an error message may quote client text that is not valid Unicode (a lone
    surrogate), which UTF-8 cannot encode; escaped, it always renders."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    error = {"message": message, "type": error_type(status), "param": param, "code": status}
    return {"error": error, "detail": message}


def error_response(
    status: int,
    message: str,
    param: str | None = None,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    shape: ErrorShape | None = getattr(request.state, "error_shape", None) if request is not None else None
    return ErrorJSONResponse((shape or error_body)(status, message, param), status_code=status, headers=headers)


# pydantic names the branch of a union in the error location; these say what each branch wants.
_UNION_BRANCHES = {
    "str": "a string",
    "TextDocument": 'an object {"text": string}',
    "list[str]": "a list of strings",
}


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """A readable message and the first offending field from pydantic's error list."""
    parts, first_param = [], None
    branches_at = _union_branches(errors)
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
            message = "invalid value, expected " + " or ".join(branches_at[tuple(location)])
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


def validate_body(model: type[BaseModelT], body: Any) -> BaseModelT:
    """``body`` as ``model``, or a 400 naming the fields (for routes that pick their model from
    the body, where FastAPI cannot validate it first)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        message, param = describe_validation_errors(list(exc.errors()))
        raise APIError(400, message, param) from None


def _union_branches(errors: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """What each union-typed field accepts, by the field's location: one pass over the errors
    (a body with thousands of bad items must not cost thousands of passes)."""
    found: dict[tuple[str, ...], dict[str, None]] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        branch = next((i for i, part in enumerate(loc) if part in _UNION_BRANCHES), None)
        if branch is not None:
            found.setdefault(tuple(loc[:branch]), {})[_UNION_BRANCHES[loc[branch]]] = None
    return {location: list(branches) for location, branches in found.items()}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, request, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_validation_errors(list(exc.errors()))
        return error_response(400, message, param, request)

    @app.exception_handler(InputTooLongError)
    async def _too_long(request: Request, exc: InputTooLongError) -> JSONResponse:
        return error_response(400, str(exc), "documents", request)

    @app.exception_handler(RequestTooLargeError)
    async def _too_much_work(request: Request, exc: RequestTooLargeError) -> JSONResponse:
        return error_response(413, str(exc), "documents", request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # headers: 405's Allow, 401's WWW-Authenticate.
        return error_response(exc.status_code, str(exc.detail), None, request, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal error (the server's log has the details)", None, request)
