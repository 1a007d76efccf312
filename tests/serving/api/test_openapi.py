"""The OpenAPI document says what the server does (api/openapi.py): the statuses each route can
send and their bodies, request schemas that accept what the server accepts and no more, no file
paths in the model list. ``make fuzz`` (tests/fuzz/) checks the same against a real server."""

from __future__ import annotations

import pytest

from reranker.api.schemas import NOT_BLANK_PATTERN
from reranker.app import create_app
from reranker.config import Settings
from tests.support.app import SEED_REQUEST

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]

SCORING = {"200", "400", "404", "405", "408", "413", "429", "503", "504"}
SCORING_ROUTES = [
    ("post", "/openai/v1/rerank"),
    ("post", "/v1/rerank"),
    ("post", "/v2/rerank"),
    ("post", "/rerank"),
    ("post", "/v1/ranking"),
    ("post", "/openai/v1/score"),
    ("post", "/v1/score"),
]
# Every route and the statuses it can send without an API key.
STATUSES = {
    **{route: SCORING for route in SCORING_ROUTES},
    ("get", "/info"): {"200"},
    ("get", "/openai/v1/models"): {"200"},
    ("get", "/v1/models"): {"200"},
    ("get", "/metrics"): {"200"},
    ("get", "/v2/health/live"): {"200"},
    ("get", "/v2/health/ready"): {"200", "503"},
    ("get", "/v1/models/{name}"): {"200", "404", "503"},
    ("get", "/v2/models/{name}/ready"): {"200", "404", "503"},
}
PROBES = {
    ("get", "/v2/health/live"),
    ("get", "/v2/health/ready"),
    ("get", "/v1/models/{name}"),
    ("get", "/v2/models/{name}/ready"),
}


def document(**settings) -> dict:
    async def never_loads():
        raise RuntimeError("not needed for the document")

    return create_app(Settings(backend="torch", **settings), never_loads).openapi()


@pytest.fixture(scope="module")
def spec() -> dict:
    return document()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield (method, path), operation


def resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def request_schemas(spec: dict) -> dict[tuple[str, str], list[dict]]:
    """Each operation's request body schema(s): the branches of /rerank's oneOf, else the one."""
    out = {}
    for route, operation in operations(spec):
        if "requestBody" in operation:
            schema = resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
            out[route] = [resolve(spec, s) for s in schema.get("oneOf", [schema])]
    return out


def test_should_list_no_422_anywhere(spec):
    for route, operation in operations(spec):
        assert "422" not in operation["responses"], route
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])


def test_should_list_every_status_each_route_can_send(spec):
    listed = {route: set(operation["responses"]) for route, operation in operations(spec)}
    assert listed == STATUSES


def test_should_describe_errors_in_the_error_shape_and_tei_routes_in_teis_too(spec):
    for route, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status == "200" or route == ("get", "/metrics"):
                continue
            schema = response["content"]["application/json"]["schema"]
            refs = {s["$ref"].rsplit("/", 1)[1] for s in schema.get("anyOf", [schema]) if "$ref" in s}
            if route[1] in ("/v1/models/{name}", "/v2/models/{name}/ready") and status == "503":
                assert schema["required"] == ["name", "ready"]  # the model status, ready: false
            elif route == ("post", "/rerank"):
                assert refs == {"ErrorResponse", "TeiErrorResponse"}, status
            else:
                assert refs == {"ErrorResponse"}, (route, status)


def test_should_document_retry_after_allow_and_www_authenticate(spec):
    responses = spec["paths"]["/v1/rerank"]["post"]["responses"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert "Retry-After" in responses["503"]["headers"]
    assert responses["405"]["headers"]["Allow"]["required"] is True


def test_should_document_metrics_as_prometheus_text(spec):
    assert list(spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]


def test_should_add_401_and_a_bearer_scheme_only_with_an_api_key(spec):
    assert "securitySchemes" not in spec["components"]
    secured = document(api_key="secret")
    assert secured["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "One of the server's API keys (--api_key).",
    }
    for route, operation in operations(secured):
        if route in PROBES or route == ("get", "/metrics"):
            assert "security" not in operation and "401" not in operation["responses"], route
        else:
            assert operation["security"] == [{"bearerAuth": []}], route
            assert set(operation["responses"]) == STATUSES[route] | {"401"}
            assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
    metrics = document(api_key="secret", protect_metrics=True)["paths"]["/metrics"]["get"]
    assert metrics["security"] == [{"bearerAuth": []}] and "401" in metrics["responses"]


def test_should_refuse_blank_queries_in_every_dialects_schema(spec):
    queries = {}
    for route, schemas in request_schemas(spec).items():
        for schema in schemas:
            query = schema["properties"].get("query")
            if query is not None:
                queries[(route, schema["title"])] = resolve(spec, query)
                if "properties" in queries[(route, schema["title"])]:  # NIM: {"text": ...}
                    queries[(route, schema["title"])] = queries[(route, schema["title"])]["properties"]["text"]
    assert len(queries) == 6  # seed, Cohere v1, v2, TEI, Infinity, NIM
    for where, query in queries.items():
        assert query["pattern"] == NOT_BLANK_PATTERN, where


def test_should_require_one_item_in_score_lists(spec):
    score = request_schemas(spec)[("post", "/v1/score")][0]
    for field in ("text_1", "text_2"):
        lists = [b for b in score["properties"][field]["anyOf"] if b.get("type") == "array"]
        assert [b["minItems"] for b in lists] == [1], field


def test_should_bound_every_document_list_by_max_documents():
    limits = {}
    for route, schemas in request_schemas(document(max_documents=7)).items():
        for schema in schemas:
            for field in ("documents", "texts", "passages", "text_1", "text_2"):
                prop = schema["properties"].get(field)
                if prop is not None:
                    arrays = [b for b in [prop, *prop.get("anyOf", [])] if b.get("type") == "array"]
                    limits[(route, schema["title"], field)] = [b["maxItems"] for b in arrays]
    assert len(limits) == 10  # seed, Cohere v1, v2, TEI, Infinity, NIM, and text_1/text_2 twice
    assert set(map(tuple, limits.values())) == {(7,)}


def test_should_give_the_served_model_name_as_the_example(spec):
    parameter = spec["paths"]["/v1/models/{name}"]["get"]["parameters"][0]
    assert parameter["example"] == "reranker"


def test_should_declare_integers_with_a_minimum_of_one(spec):
    rerank = spec["components"]["schemas"]["RerankRequest"]["properties"]["top_n"]["anyOf"][0]
    assert rerank == {"type": "integer", "minimum": 1}


def test_should_serve_the_completed_document(tiny_client, spec):
    served = tiny_client.get("/openapi.json").json()
    assert served["paths"].keys() == spec["paths"].keys()
    assert "422" not in str(served)


def test_should_describe_tei_info_as_served(tiny_client, spec):
    from reranker.api.dialects.tei import TeiInfo

    assert spec["paths"]["/info"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TeiInfo"
    }
    info = tiny_client.get("/info").json()
    assert set(TeiInfo.model_validate(info).model_dump()) == set(info)


@pytest.mark.parametrize("takes_instruction", [True, False])
def test_should_offer_instruction_only_where_the_served_model_takes_one(takes_instruction):
    # The server refuses "instruction" for a model without a prompt (400), so its document must
    # not offer the field there; an LLM reranker's document does. Known once the model loads.
    from fastapi.testclient import TestClient

    from reranker.engine.base import ModelInfo, ModelKind
    from tests.support.app import wait_ready
    from tests.support.fake_engine import FakeEngine

    class Engine(FakeEngine):
        @property
        def info(self) -> ModelInfo:
            return ModelInfo(
                "reranker", "fake", ModelKind.CROSS_ENCODER, 512, "fake", takes_instruction=takes_instruction
            )

    async def load():
        return Engine()

    app = create_app(Settings(backend="torch"), load)
    assert "instruction" in resolve(document(), {"$ref": "#/components/schemas/RerankRequest"})["properties"]
    with TestClient(app) as client:
        wait_ready(client)
        spec = client.get("/openapi.json").json()
    offered = {
        route
        for route, schemas in request_schemas(spec).items()
        if any("instruction" in schema.get("properties", {}) for schema in schemas)
    }
    assert offered == (
        {
            ("post", "/openai/v1/rerank"),
            ("post", "/v1/rerank"),
            ("post", "/v2/rerank"),
            ("post", "/rerank"),
            ("post", "/openai/v1/score"),
            ("post", "/v1/score"),
        }
        if takes_instruction
        else set()
    )
