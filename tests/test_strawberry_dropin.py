"""Issue 22: GuardExtension as a drop-in beside Strawberry's own extensions and transports.

Each test fails on the extension as it was before (it raised from hooks, built its rules
once, read every Authorization header, applied the content-type CSRF rule to WebSockets)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from starlette.testclient import TestClient
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from gqlguard.config import GuardConfig
from gqlguard.starlette import create_app
from gqlguard.strawberry import GuardExtension


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def secret(self) -> str:
        raise ValueError("db password is hunter2")

    @strawberry.field
    def flaky(self) -> str | None:
        raise ValueError("db password is hunter2")

    @strawberry.field
    def header(self, info: strawberry.Info) -> str:
        return str(info.context["request"].headers.get("authorization"))


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1

    @strawberry.subscription
    async def leaky(self) -> AsyncGenerator[int, None]:
        raise ValueError("db password is hunter2")
        yield 0  # pragma: no cover


def schema(*extensions: Any, config: GuardConfig | None = None, guard_first: bool = False) -> Any:
    guard = GuardExtension(config or GuardConfig())
    listed = [guard, *extensions] if guard_first else [*extensions, guard]
    return strawberry.Schema(query=Query, subscription=Subscription, extensions=listed)


ALIASES = "{ a: hello b: hello c: hello }"


@pytest.mark.parametrize("guard_first", [True, False])
async def test_strawberrys_alias_limiter_still_refuses_beside_the_guard(guard_first: bool) -> None:
    guarded = schema(
        lambda: MaxAliasesLimiter(max_alias_count=2),
        config=GuardConfig(mask_errors=False),
        guard_first=guard_first,
    )
    result = await guarded.execute(ALIASES)
    assert result.data is None
    assert result.errors and "aliases" in result.errors[0].message


@pytest.mark.parametrize("guard_first", [True, False])
async def test_the_users_own_validation_rules_still_refuse(guard_first: bool) -> None:
    from graphql import ValidationRule

    class NoHello(ValidationRule):
        def enter_field(self, node: Any, *_: Any) -> None:
            if node.name.value == "hello":
                self.report_error(__import__("graphql").GraphQLError("no hello"))

    guarded = schema(lambda: AddValidationRules([NoHello]), guard_first=guard_first)
    refused = await guarded.execute("{ hello }")
    assert refused.data is None and refused.errors
    assert (await schema().execute("{ hello }")).data == {"hello": "world"}


@pytest.mark.parametrize(
    ("protection", "message"),
    [
        (lambda: MaxAliasesLimiter(max_alias_count=2), "aliases"),
        (lambda: MaxTokensLimiter(max_token_count=5), "more than 5 tokens"),
    ],
)
def test_strawberrys_limiters_still_refuse_under_create_app(protection: Any, message: str) -> None:
    # create_app checks before Strawberry runs, with the guard's rules and parse options;
    # the ones Strawberry's extensions add for the operation must refuse too.
    config = GuardConfig(mask_errors=False)
    client = TestClient(create_app(schema(protection, config=config), config))
    refused = client.post("/graphql", json={"query": ALIASES}).json()
    assert "data" not in refused or refused["data"] is None
    assert message in refused["errors"][0]["message"]
    unprotected = TestClient(create_app(schema(config=config), config))
    assert unprotected.post("/graphql", json={"query": ALIASES}).json()["data"] == {
        "a": "world",
        "b": "world",
        "c": "world",
    }


def test_an_authorization_header_is_the_apps_without_a_key_source() -> None:
    client = TestClient(GraphQL(schema()))
    response = client.post(
        "/", json={"query": "{ header }"}, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"header": "Basic dXNlcjpwYXNz"}


async def test_a_refused_subscription_is_a_pre_execution_error_not_an_exception() -> None:
    guarded = schema(config=GuardConfig(max_aliases=0))
    results = await guarded.subscribe("subscription { t: ticks }")
    assert not isinstance(results, ExecutionResult)
    seen = [result async for result in results]  # Strawberry's stream of one error
    assert len(seen) == 1 and seen[0].data is None
    assert seen[0].errors and seen[0].errors[0].extensions["code"] == "ALIAS_LIMIT_EXCEEDED"


async def test_subscription_events_are_masked() -> None:
    events = await schema().subscribe("subscription { leaky }")
    assert not isinstance(events, ExecutionResult)
    seen = [event async for event in events]
    assert seen and all("hunter2" not in str(event.errors) for event in seen)
    assert seen[0].errors[0].message == "Unexpected error."


async def test_execution_errors_keep_their_path_and_locations_and_are_internal() -> None:
    result = await schema().execute("{ hello secret }")
    error = result.errors[0]
    assert error.path == ["secret"]
    assert error.locations and error.locations[0].line == 1
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert error.message == "Unexpected error."
    assert "hunter2" in str(error.original_error)  # the server's hooks still see it


def _subscribe(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    with client.websocket_connect(
        "/", subprotocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL], headers=headers
    ) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {"type": "subscribe", "id": "1", "payload": {"query": "subscription { ticks }"}}
        )
        message: dict[str, Any] = ws.receive_json()
        return message


def _view(guarded: Any) -> GraphQL[Any, Any]:
    # Newer Strawberry releases check the Origin themselves (`allowed_origins`): let the
    # foreign origin through theirs, so that the guard's own allow-list is what answers.
    if "allowed_origins" in inspect.signature(GraphQL.__init__).parameters:
        return GraphQL(guarded, allowed_origins=[FOREIGN])
    return GraphQL(guarded)


FOREIGN = "https://evil.example"


def test_websockets_work_with_the_defaults_and_refuse_a_foreign_origin() -> None:
    client = TestClient(_view(schema()))
    same = _subscribe(client, {"origin": "http://testserver"})
    assert same["type"] == "next" and same["payload"]["data"] == {"ticks": 1}
    foreign = _subscribe(client, {"origin": FOREIGN})
    assert foreign["type"] == "error"
    assert foreign["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    allowed = TestClient(_view(schema(config=GuardConfig(websocket_origins=(FOREIGN,)))))
    assert _subscribe(allowed, {"origin": FOREIGN})["type"] == "next"


class _Replaces(SchemaExtension):
    """An extension that overwrites the pre-execution errors in on_validate (as Strawberry's
    ValidationCache does): the guard's refusal must stand."""

    def on_validate(self) -> Any:
        self.execution_context.pre_execution_errors = []
        yield None


async def test_a_refusal_stands_when_a_later_extension_clears_the_errors() -> None:
    guarded = strawberry.Schema(
        query=Query, extensions=[GuardExtension(GuardConfig(max_aliases=0)), _Replaces]
    )
    result = await guarded.execute("{ h: hello }")
    assert result.data is None
    assert result.errors and result.errors[0].extensions["code"] == "ALIAS_LIMIT_EXCEEDED"


def test_one_request_writes_at_most_max_errors_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 20 aliases of a failing field in one small request: Strawberry logs each error with its
    # traceback; past max_errors (5) the rest are dropped.
    text = "{ " + " ".join(f"s{i}: flaky" for i in range(20)) + " }"
    guarded = schema(config=GuardConfig(max_aliases=None))
    with caplog.at_level(logging.ERROR, logger="strawberry.execution"):
        result = guarded.execute_sync(text)
    assert result.data == {f"s{i}": None for i in range(20)}  # 20 errors, 5 reported
    logged = [r for r in caplog.records if r.name == "strawberry.execution"]
    assert len(logged) == 5


def test_a_refused_persisted_query_is_one_security_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = GuardConfig(persisted_mode="apq")
    app = GraphQL(schema(config=config), graphql_ide=None)
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    with caplog.at_level(logging.WARNING, logger="gqlguard.security"):
        response = TestClient(app).post(
            "/graphql", json={"query": "{ hello }", "extensions": wrong}
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    events = [r for r in caplog.records if r.name == "gqlguard.security"]
    assert len(events) == 1


def test_the_traceback_cap_ends_with_its_operation(caplog: pytest.LogCaptureFixture) -> None:
    text = "{ " + " ".join(f"s{i}: flaky" for i in range(10)) + " }"
    guarded = schema(config=GuardConfig(max_aliases=None))
    plain = strawberry.Schema(query=Query)  # an unguarded schema in the same thread
    guarded.execute_sync(text)  # at most 5 of its tracebacks
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="strawberry.execution"):
        plain.execute_sync(text)
    logged = [r for r in caplog.records if r.name == "strawberry.execution"]
    assert len(logged) == 10  # its own errors, every one


ADMIN_FIRST = "query A { secret } query B { hello }"


@pytest.mark.parametrize("door", ["execute", "view"])
async def test_an_unnamed_multi_operation_document_runs_nothing(door: str) -> None:
    # Strawberry runs the first operation of such a document; the guard checked none of
    # them, so the refusal must stand (it was left to Strawberry, which ran `secret`).
    guarded = schema(config=GuardConfig(mask_errors=False))
    if door == "execute":
        result = await guarded.execute(ADMIN_FIRST)
        assert result.data is None
        assert result.errors and result.errors[0].extensions == {"code": "BAD_REQUEST"}
        return
    answer = TestClient(_view(guarded)).post("/", json={"query": ADMIN_FIRST}).json()
    assert answer.get("data") is None
    assert [error["extensions"]["code"] for error in answer["errors"]] == ["BAD_REQUEST"]
    assert "hunter2" not in str(answer)
