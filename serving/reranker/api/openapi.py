"""The OpenAPI document (``/openapi.json``), true to what the server sends.

FastAPI's generated document claims a 422 on every route (this server answers validation
problems with 400 in its error shape), knows nothing of the statuses the server adds (auth,
admission control, deadlines), nor of settings such as ``--max_documents``. The routes declare
their error statuses with :func:`error_responses`; :func:`install_openapi` completes the
document once per process:

- no 422 and no ``HTTPValidationError``: every validation problem is a 400 naming the field;
- the health and probe routes' own bodies and their 503 (and 404 for an unknown model name);
- ``/metrics`` as Prometheus' text exposition format, not JSON;
- with ``--api_key``: a bearer ``securityScheme`` and a 401 (with ``WWW-Authenticate``) on every
  route but the probes (and ``/metrics`` unless ``--protect_metrics``);
- ``maxItems`` from ``--max_documents`` on every list of documents.

``make fuzz`` (schemathesis against a real server) holds the document to this.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..config import Settings
from .schemas import ErrorResponse

# What each error status means on this server (the response's description).
_DESCRIPTIONS = {
    400: "Invalid request: the message names the field (`param`).",
    401: "Missing or wrong API key (`Authorization: Bearer <key>`, --api_key).",
    404: "The request names a model this server does not serve (--model_name).",
    405: "The path does not take this method; `Allow` lists the methods it takes.",
    408: "The request body did not arrive within --body_timeout.",
    413: "The body is over --max_body_bytes, or the request would make the model process more "
    "tokens than --max_request_tokens.",
    429: "Too much work queued (--max_queued_pairs), or the wait would pass --request_timeout: "
    "retry after `Retry-After` seconds.",
    503: "The model is still loading (or failed to load), or the server is shutting down.",
    504: "Not answered within --request_timeout; the work was dropped.",
}

_RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`.", "required": True, "schema": {"type": "string"}}},
    405: {"Allow": {"description": "The methods the path takes.", "required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {**_RETRY_AFTER, "required": True}},
    # Shedding and shutdown send it; a model still loading does not know when it will be ready.
    503: {"Retry-After": {**_RETRY_AFTER, "required": False}},
}

# The statuses a scoring route (rerank, ranking, score) can answer besides 200; 401 is added
# with --api_key.
SCORING_STATUSES = (400, 404, 405, 408, 413, 429, 503, 504)

# Routes open without the API key: the probes Kubernetes and KServe call.
PROBE_PATHS = ("/v2/health/live", "/v2/health/ready", "/v1/models/{name}", "/v2/models/{name}/ready")
METRICS_PATH = "/metrics"

# Request fields that carry documents: their lists are bounded by --max_documents (text_1 too:
# N:N scoring pairs text_1 with text_2 item by item).
DOCUMENT_LISTS = ("documents", "texts", "passages", "text_1", "text_2")

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_MODEL_STATUS = {
    "type": "object",
    "title": "ModelStatus",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# The probes' bodies (health.py returns plain dicts): status -> response.
_PROBE_RESPONSES: dict[str, dict[str, dict[str, Any]]] = {
    "/v2/health/live": {
        "200": _json(
            {"type": "object", "required": ["live"], "properties": {"live": {"const": True}}},
            "The process serves HTTP.",
        ),
    },
    "/v2/health/ready": {
        "200": _json(
            {"type": "object", "required": ["ready"], "properties": {"ready": {"const": True}}},
            "The model is loaded and the server takes requests.",
        ),
        "503": _json(_ERROR_REF, _DESCRIPTIONS[503]),
    },
    **{
        path: {
            "200": _json(_MODEL_STATUS, "The model is loaded (`ready`: true)."),
            "404": _json(_ERROR_REF, "This server does not serve a model of that name."),
            "503": _json(_MODEL_STATUS, "The model is not ready (`ready`: false): " + _DESCRIPTIONS[503]),
        }
        for path in ("/v1/models/{name}", "/v2/models/{name}/ready")
    },
}

_METRICS_RESPONSE = {
    "description": "Prometheus metrics in the text exposition format.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


def error_responses(
    model: Any = ErrorResponse, statuses: tuple[int, ...] = SCORING_STATUSES
) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each status with its body ``model``, meaning and headers."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": model, "description": _DESCRIPTIONS[status]}
        if status in _HEADERS:
            responses[status]["headers"] = _HEADERS[status]
    return responses


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve the truthful document at ``app.openapi_schema`` (built on first use)."""
    generate = app.openapi  # FastAPI's: builds the document and caches it in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            engine = app.state.server.engine
            takes_instruction = None if engine is None else engine.info.takes_instruction
            # generate() returns the document it cached in app.openapi_schema; complete() edits it in place.
            spec = complete(generate(), settings, takes_instruction)
            if engine is None:  # the model decides a field: build it again once it has loaded
                app.openapi_schema = None
            return spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(spec: dict[str, Any], settings: Settings, takes_instruction: bool | None = None) -> dict[str, Any]:
    """Make FastAPI's document ``spec`` say what the server does (in place; returns it).
    ``takes_instruction``: whether the served model reads an ``instruction`` (False: the field
    is left out of the request bodies, as the server refuses it; None: not known yet)."""
    api_key = getattr(settings, "api_key", None)
    protect_metrics = bool(getattr(settings, "protect_metrics", False))
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})

    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if path in _PROBE_RESPONSES:
                responses.clear()
                responses.update(_PROBE_RESPONSES[path])
            elif path == METRICS_PATH:
                responses["200"] = _METRICS_RESPONSE
            public = path in PROBE_PATHS or (path == METRICS_PATH and not protect_metrics)
            if api_key and not public:
                operation["security"] = [{"bearerAuth": []}]
                responses["401"] = _json(_ERROR_REF, _DESCRIPTIONS[401]) | {"headers": _HEADERS[401]}
            operation["responses"] = dict(sorted(responses.items()))
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "name":
                    parameter["example"] = settings.served_model_name
            _fit_request_body(operation, schemas, settings, takes_instruction is not False)

    if api_key:
        components.setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "One of the server's API keys (--api_key).",
        }
    if "ErrorResponse" not in schemas:  # the probes refer to it
        error = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error.pop("$defs", {}), ErrorResponse=error)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if not schemas:
        components.pop("schemas")
    return spec


def _fit_request_body(
    operation: dict[str, Any], schemas: dict[str, Any], settings: Settings, instruction: bool = True
) -> None:
    """The request body's schema with this server's settings: ``maxItems`` (--max_documents) on
    each list of documents, the served model name as the example ``model``, and no
    ``instruction`` field where the served model takes none (``instruction`` False)."""
    body = operation.get("requestBody", {}).get("content", {})
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                visit(child)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/") and ref not in seen:
            seen.add(ref)
            visit(schemas.get(ref.rsplit("/", 1)[1]))
        properties = node.get("properties", {})
        if not instruction and isinstance(properties.get("instruction"), dict):
            del properties["instruction"]
        for name, prop in properties.items():
            if name in DOCUMENT_LISTS:
                for branch in [prop, *prop.get("anyOf", [])]:
                    if branch.get("type") == "array":
                        branch["maxItems"] = settings.max_documents
            elif name == "model":
                prop["examples"] = [settings.served_model_name]
        for key, child in node.items():
            if key not in ("$ref", "const", "default", "examples", "example"):
                visit(child)

    for media in body.values():
        visit(media.get("schema"))
