"""Every example app under uvicorn: the same accepted queries answer the same data, the same
hostile corpus gets the same coded refusals, and the fuzzing checker finds nothing."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from gqlguard.testing import GuardChecker, fuzz

from .conftest import PREFLIGHT, examples
from .servers import serve_in_thread

pytestmark = pytest.mark.slow

EXAMPLES = [
    "examples.fastapi_app",
    "examples.strawberry_asgi",
    "examples.ariadne_app",
    "examples.graphql_core_handler",
]
ACCEPTED: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = [
    (
        "{ books(limit: 2) { title author { name } } }",
        None,
        {
            "books": [
                {"title": "The Dispossessed", "author": {"name": "Ursula K. Le Guin"}},
                {"title": "Kindred", "author": {"name": "Octavia E. Butler"}},
            ]
        },
    ),
    (
        "query One($id: ID!) { book(id: $id) { id title } }",
        {"id": "3"},
        {"book": {"id": "3", "title": "The Left Hand of Darkness"}},
    ),
    ("{ book(id: 404) { title } }", None, {"book": None}),
]
DEEP = (
    '{ book(id: "1") { author { books { author { books { author { books { author { books {'
    " author { name } } } } } } } } } } }"
)
# (name, request, the code every example must answer with)
HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("depth", {"json": {"query": DEEP}}, "DEPTH_LIMIT_EXCEEDED"),
    (
        "aliases",
        {"json": {"query": "{ " + " ".join(f"a{i}: books {{ id }}" for i in range(40)) + " }"}},
        "ALIAS_LIMIT_EXCEEDED",
    ),
    (
        "introspection",
        {"json": {"query": "{ __schema { types { name } } }"}},
        "INTROSPECTION_DISABLED",
    ),
    (
        "cost",
        {"json": {"query": "{ books(limit: 1000000) { title } }"}},
        "COST_ESTIMATED_TOO_EXPENSIVE",
    ),
    ("suggestion probe", {"json": {"query": "{ bookz { title } }"}}, "GRAPHQL_VALIDATION_FAILED"),
    (
        "not json",
        {"content": b"{nope", "headers": {"content-type": "application/json"}},
        "BAD_REQUEST",
    ),
    (
        "variables not an object",
        {"json": {"query": "{ books { id } }", "variables": []}},
        "BAD_REQUEST",
    ),
    ("batch over the cap", {"json": [{"query": "{ books { id } }"}] * 9}, "BATCH_LIMIT_EXCEEDED"),
    (
        "body over the cap",
        {"json": {"query": "{ books { id } }", "pad": "x" * 2_000_000}},
        "PAYLOAD_TOO_LARGE",
    ),
    (
        "form post",
        {
            "content": b"query={books{id}}",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        "BAD_REQUEST",  # CSRF prevention answers first
    ),
    (
        "cross-site get",
        {"method": "GET", "params": {"query": "{ books { id } }"}},
        "BAD_REQUEST",
    ),
]


@pytest.fixture(scope="module", params=EXAMPLES)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[ModuleType, str]]:
    module = importlib.import_module(request.param)
    with serve_in_thread(module.app) as url:
        yield module, url


async def test_accepted_queries_answer_the_same_data(served: tuple[ModuleType, str]) -> None:
    _, url = served
    async with httpx.AsyncClient(base_url=url) as client:
        for query, variables, expected in ACCEPTED:
            response = await client.post("/graphql", json={"query": query, "variables": variables})
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body, body
            assert body["data"] == expected
        # Queries by GET, with the header CSRF prevention asks for.
        response = await client.get("/graphql", params={"query": ACCEPTED[0][0]}, headers=PREFLIGHT)
        assert response.json()["data"] == ACCEPTED[0][2]


@pytest.mark.parametrize(("name", "request_", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_the_hostile_corpus_gets_the_same_codes(
    served: tuple[ModuleType, str], name: str, request_: dict[str, Any], code: str
) -> None:
    module, url = served
    checker = GuardChecker(module.schema, module.CONFIG, url=url)
    with checker:
        async with httpx.AsyncClient(base_url=url) as client:
            arguments = dict(request_)
            method = arguments.pop("method", "POST")
            response = await client.request(method, "/graphql", **arguments)
        # 4xx for a refused request; 200 for refused operations (application/json clients).
        assert response.status_code < 500, (name, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        codes = [error["extensions"]["code"] for error in body["errors"]]
        assert code in codes, body
        assert "data" not in body  # a request error: nothing executed (GraphQL-over-HTTP)
        assert "Did you mean" not in response.text
        assert checker.resolver_calls == 0  # refused before anything resolved


def test_the_fuzzing_checker_finds_nothing(served: tuple[ModuleType, str]) -> None:
    module, url = served
    fuzz(
        module.schema,
        module.CONFIG,
        url=url,
        max_examples=examples(30),
        derandomize=True,
    )


def test_an_example_answers_json_for_its_own_errors(served: tuple[ModuleType, str]) -> None:
    # Whatever the view would answer in its own words (a PUT, an empty body) is coded JSON.
    _, url = served
    for method, content in (("PUT", b"{}"), ("POST", b"")):
        response = httpx.request(
            method, url + "/graphql", content=content, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500
        assert json.loads(response.text)["errors"][0]["extensions"]["code"]


def test_without_the_transport_guard_strawberrys_view_answers_in_its_own_words() -> None:
    # Why TransportGuard wraps the Strawberry examples: the bare view answers a batch (or
    # bad JSON) with text/plain, which the checker above refuses.
    from strawberry.asgi import GraphQL

    from examples.strawberry_library import schema

    with serve_in_thread(GraphQL(schema, graphql_ide=None)) as url:
        response = httpx.post(url + "/graphql", json=[{"query": "{ books { id } }"}])
    assert response.status_code == 400
    assert not response.headers["content-type"].startswith("application/json")


async def test_request_errors_are_400_for_graphql_response_clients(
    served: tuple[ModuleType, str],
) -> None:
    _, url = served
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/graphql",
            json={"query": DEEP},
            headers={"accept": "application/graphql-response+json"},
        )
        accepted = await client.post(
            "/graphql",
            json={"query": ACCEPTED[0][0]},
            headers={"accept": "application/graphql-response+json"},
        )
    assert response.status_code == 400
    assert "data" not in response.json()
    assert accepted.status_code == 200 and accepted.json()["data"] == ACCEPTED[0][2]


def test_a_cors_preflight_reaches_the_cors_layer_inside_the_transport_guard() -> None:
    # FastAPI apps add CORSMiddleware to the app TransportGuard wraps: the browser's preflight
    # (OPTIONS) must reach it, or no cross-origin client could ever send its POST.
    from fastapi import FastAPI
    from starlette.middleware.cors import CORSMiddleware
    from strawberry.fastapi import GraphQLRouter

    from examples.strawberry_library import CONFIG, schema
    from gqlguard.asgi import TransportGuard

    api = FastAPI()
    api.add_middleware(
        CORSMiddleware, allow_origins=["https://app.example"], allow_methods=["POST"]
    )
    api.include_router(GraphQLRouter(schema, graphql_ide=None), prefix="/graphql")
    app = TransportGuard(api, CONFIG, path="/graphql")
    with serve_in_thread(app) as url:
        preflight = httpx.options(
            url + "/graphql",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        put = httpx.put(url + "/graphql", json={"query": "{ books { id } }"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert put.status_code < 500 and put.json()["errors"][0]["extensions"]["code"]
