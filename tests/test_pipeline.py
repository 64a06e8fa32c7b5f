"""The framework-free pipeline (gqlguard.http): one stage order for every schema kind, state
passed as values, hook failures answered with codes."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLObjectType, build_schema

from gqlguard import DIRECTIVES_SDL, Guard, GuardConfig
from gqlguard.authorization import Principal
from gqlguard.execution import Execution, graphql_core_executor
from gqlguard.http import GuardRequest, Pipeline
from gqlguard.starlette import create_app
from gqlguard.strawberry import GuardExtension
from schema_example.schema import build_schema as build_demo_schema

from .conftest import PREFLIGHT

SDL = (
    DIRECTIVES_SDL
    + """
type Query {
  posts(limit: Int! = 10): [Post!]! @listSize(slicingArguments: ["limit"])
  secret: String @requiresScopes(scopes: [["admin"]])
}
type Post { id: ID! title: String! }
"""
)


def library() -> Any:
    schema = build_schema(SDL)
    query = schema.query_type
    assert isinstance(query, GraphQLObjectType)
    query.fields["posts"].resolve = lambda _, __, limit=10: [
        {"id": str(i), "title": f"post {i}"} for i in range(min(limit, 3))
    ]
    query.fields["secret"].resolve = lambda *_: "the secret"
    return schema


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_graphql_core_schema_gets_every_stage_not_only_the_rules() -> None:
    # What an Ariadne or Graphene user gets from create_app: persisted queries, the budget and
    # the actual-cost refund, beside the static checks.
    config = GuardConfig(persisted_mode="apq", budget_capacity=15, budget_restore_rate=0.001)
    async with client(create_app(library(), config)) as http:
        query = "{ posts(limit: 3) { title } }"
        sha = hashlib.sha256(query.encode()).hexdigest()
        apq = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
        miss = await http.post("/graphql", json={"extensions": apq})
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = await http.post("/graphql", json={"query": query, "extensions": apq})
        assert registered.json()["data"] == {
            "posts": [{"title": "post 0"}, {"title": "post 1"}, {"title": "post 2"}]
        }
        hit = await http.post("/graphql", json={"extensions": apq})
        assert hit.json()["data"] == registered.json()["data"]
        # Each request costs what it ran, counted as max_cost counts (3 objects, 3 points):
        # 15 points pay for 5 of them.
        throttle = hit.json()["extensions"]["cost"]["throttleStatus"]
        assert throttle["maximumAvailable"] == 15 and throttle["currentlyAvailable"] == 9
        assert throttle["counted"] == "type_cost"
        statuses = [
            (await http.post("/graphql", json={"extensions": apq})).status_code for _ in range(8)
        ]
        assert 429 in statuses
        # Over the static limits: refused with a code before anything runs.
        deep = await http.post("/graphql", json={"query": "{ posts(limit: 100000) { title } }"})
        assert deep.json()["errors"][0]["extensions"]["code"] in {
            "COST_ESTIMATED_TOO_EXPENSIVE",
            "RATE_LIMITED",
        }


async def test_the_executor_receives_the_verified_document_and_the_selected_operation() -> None:
    schema = library()
    seen: list[Execution] = []
    inner = graphql_core_executor(schema)

    async def execute(execution: Execution) -> Any:
        seen.append(execution)
        return await inner(execution)

    guard = Guard(schema)
    pipeline = Pipeline(guard, execute)
    query = "query A { posts(limit: 1) { id } } query B { posts(limit: 2) { title } }"
    answer = await pipeline.handle(
        GuardRequest(
            "POST",
            {"content-type": "application/json"},
            body=b'{"query": "%s", "operationName": "B"}' % query.encode(),
        )
    )
    assert answer.status == 200 and answer.body["data"] == {
        "posts": [{"title": "post 0"}, {"title": "post 1"}]
    }
    (execution,) = seen
    assert execution.operation_name == "B"
    assert execution.verdict is not None and execution.verdict.accepted
    assert execution.document is execution.verdict.document  # no second parse
    assert execution.principal == Principal.anonymous()


async def test_a_context_getter_cannot_replace_the_principal() -> None:
    # The principal comes from authentication, as a value; a context entry of the same name
    # (the user's hook, or data it copies from the request) changes nothing.
    forged = Principal(subject="admin", scopes=frozenset({"admin"}))
    config = GuardConfig(authorization_mode="reject")
    app = create_app(library(), config, context_getter=lambda request: {"principal": forged})
    async with client(app) as http:
        response = await http.post("/graphql", json={"query": "{ secret }"})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHORIZED_FIELD_OR_TYPE"
    assert "the secret" not in response.text


async def test_an_authenticated_principal_passes_the_same_check() -> None:
    admin = Principal(subject="admin", scopes=frozenset({"admin"}))
    app = create_app(
        library(), GuardConfig(authorization_mode="reject"), authenticate=lambda r: admin
    )
    async with client(app) as http:
        response = await http.post("/graphql", json={"query": "{ secret }"})
    assert response.json() == {
        "data": {"secret": "the secret"},
        "extensions": response.json()["extensions"],
    }


@pytest.mark.parametrize("schema_kind", ["strawberry", "graphql-core"])
async def test_a_failing_executor_is_a_coded_error_never_a_500(
    schema_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(execution: Execution) -> Any:
        raise RuntimeError("the database is on fire")

    schema = build_demo_schema(GuardConfig()) if schema_kind == "strawberry" else library()
    query = "{ posts(limit: 1) { title } }"
    caplog.set_level(logging.ERROR, logger="gqlguard.execution")
    async with client(create_app(schema, execute=broken)) as http:
        response = await http.post("/graphql", json={"query": query})
    assert response.status_code < 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "fire" not in response.text
    assert any("fire" in (record.exc_text or "") for record in caplog.records)


async def test_hook_failures_are_coded_for_every_schema_kind() -> None:
    def failing(request: Any) -> Any:
        raise RuntimeError("hook down")

    for schema in (library(), build_demo_schema(GuardConfig())):
        for hooks, code in (
            ({"authenticate": failing}, "UNAUTHENTICATED"),
            ({"context_getter": failing}, "INTERNAL_SERVER_ERROR"),
        ):
            async with client(create_app(schema, **hooks)) as http:
                response = await http.post("/graphql", json={"query": "{ __typename }"})
            assert response.status_code < 500
            assert response.json()["errors"][0]["extensions"]["code"] == code
            assert "hook down" not in response.text


async def test_a_get_mutation_is_refused_before_it_reaches_the_executor() -> None:
    executed: list[Execution] = []
    schema = build_demo_schema(GuardConfig())

    async def execute(execution: Execution) -> Any:
        executed.append(execution)
        raise AssertionError("never reached")

    async with client(create_app(schema, execute=execute)) as http:
        response = await http.get(
            "/graphql", params={"query": "mutation { __typename }"}, headers=PREFLIGHT
        )
    assert response.status_code == 405
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert executed == []


def test_two_configs_for_one_app_refuse_to_start() -> None:
    schema = library()
    with pytest.raises(ValueError, match="differs"):
        Pipeline(
            Guard(schema, GuardConfig(max_depth=2)),
            graphql_core_executor(schema),
            config=GuardConfig(),
        )


@strawberry.type
class Node:
    name: str = "n"

    @strawberry.field
    def child(self) -> Node:
        return Node()


@strawberry.type
class NestingQuery:
    @strawberry.field
    def node(self) -> Node:
        return Node()

    @strawberry.field
    async def nested(self, info: strawberry.Info, query: str) -> list[str]:
        """Runs another operation from inside a resolver and reports its error codes."""
        result = await info.schema.execute(query)
        codes = [str((e.extensions or {}).get("code")) for e in result.errors or ()]
        return codes or ["ran"]


async def test_a_nested_schema_execute_is_checked_on_its_own() -> None:
    # The pipeline hands its verdict to the extension for one schema.execute call only: a
    # resolver that runs another operation gets that operation checked, not the outer one's
    # verdict reused.
    config = GuardConfig(max_depth=4)
    schema = strawberry.Schema(query=NestingQuery, extensions=[GuardExtension(config)])
    deep = "{ node { child { child { child { child { name } } } } } }"
    nesting = "query($q: String!) { nested(query: $q) }"
    async with client(create_app(schema)) as http:
        refused = await http.post("/graphql", json={"query": nesting, "variables": {"q": deep}})
        allowed = await http.post(
            "/graphql", json={"query": nesting, "variables": {"q": "{ node { name } }"}}
        )
    assert refused.json()["data"] == {"nested": ["DEPTH_LIMIT_EXCEEDED"]}
    assert allowed.json()["data"] == {"nested": ["ran"]}


# -- Strawberry's own views: the extension drives the same stages -----------------------------


def strawberry_view(config: GuardConfig, **schema_options: Any) -> httpx.AsyncClient:
    from strawberry.asgi import GraphQL

    view = GraphQL(build_demo_schema(config), graphql_ide=None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=view), base_url="http://view")


async def test_under_strawberrys_own_view_the_cost_budget_charges_and_refuses() -> None:
    config = GuardConfig(budget_capacity=12, budget_restore_rate=0.001)
    query = "{ posts(limit: 5) { title } }"
    async with strawberry_view(config) as http:
        answers = [await http.post("/", json={"query": query}) for _ in range(6)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[0] == 200 and answers[0].json()["data"]["posts"]
    assert int(answers[0].headers["x-ratelimit-limit"]) == 12
    assert 429 in statuses
    refused = answers[statuses.index(429)]
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1


async def test_under_strawberrys_own_view_bearer_tokens_are_verified() -> None:
    from .test_authorization import token, with_mode

    config = with_mode(authorization_mode="reject")
    query = '{ user(id: "1") { email } }'
    async with strawberry_view(config) as http:
        anonymous = await http.post("/", json={"query": query})
        forged = await http.post(
            "/", json={"query": query}, headers={"authorization": "Bearer not.a.token"}
        )
        scoped = await http.post(
            "/", json={"query": query}, headers={"authorization": f"Bearer {token('users:email')}"}
        )
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHORIZED_FIELD_OR_TYPE"
    assert forged.status_code == 401
    assert forged.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "www-authenticate" in forged.headers
    assert scoped.json()["data"]["user"]["email"]


async def test_under_strawberrys_own_view_a_failing_principal_hook_fails_closed() -> None:
    import strawberry

    from schema_example.schema import Mutation, Post, Product, Query, User

    def broken(context: Any) -> Principal:
        raise RuntimeError("hook down")

    config = GuardConfig()
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[User, Post, Product],
        extensions=[GuardExtension(config, principal_of=broken)],
    )
    from strawberry.asgi import GraphQL

    view = GraphQL(schema, graphql_ide=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=view), base_url="http://v") as c:
        response = await c.post("/", json={"query": "{ __typename }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "hook down" not in response.text


async def test_every_door_to_one_schema_draws_from_the_same_budget() -> None:
    # Served by create_app and by Strawberry's own view at once, one schema has one set of
    # buckets: alternating doors does not double a client's budget.
    from strawberry.asgi import GraphQL

    config = GuardConfig(budget_capacity=12, budget_restore_rate=0.001)
    schema = build_demo_schema(config)
    query = {"query": "{ posts(limit: 5) { title } }"}
    statuses = []
    async with (
        client(create_app(schema)) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=GraphQL(schema, graphql_ide=None)),
            base_url="http://v",
        ) as view,
    ):
        for _ in range(3):
            statuses.append((await app.post("/graphql", json=query)).status_code)
            statuses.append((await view.post("/", json=query)).status_code)
    assert 429 in statuses[:4], statuses


async def test_identical_elements_of_a_batch_are_checked_once() -> None:
    from graphql import ASTValidationRule, ValidationContext, specified_rules

    validated: list[str] = []

    class Recording(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            validated.append("ran")

    schema = library()
    guard = Guard(schema, GuardConfig(), validation_rules=[*specified_rules, Recording])
    pipeline = Pipeline(guard, graphql_core_executor(schema))
    body = b"[" + b",".join([b'{"query": "{ posts(limit: 1) { title } }"}'] * 4) + b"]"
    answer = await pipeline.handle(
        GuardRequest("POST", {"content-type": "application/json", **PREFLIGHT}, body=body)
    )
    assert answer.status == 200 and len(answer.body) == 4
    assert all(item["data"] == {"posts": [{"title": "post 0"}]} for item in answer.body)
    assert validated == ["ran"]  # one document, validated once, for four elements
