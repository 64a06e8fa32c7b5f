"""gqlguard's Strawberry views (gqlguard.strawberry.views) on what only they do: an attacker's
run found each of these; every test fails on the views as they were first written.

The door-parity suite (tests/test_door_parity.py) holds them to create_app's answers; these
tests hold what the parity corpus does not reach: Accept headers, bodies sent in chunks,
non-UTF-8 bodies, multipart uploads, a failing principal hook, what a resolver sets on the
response, ``process_result`` overrides, a subscription sent as a query, and a sync view whose
thread is interrupted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from gqlguard import GuardConfig
from gqlguard.strawberry import Authenticated, GuardExtension
from gqlguard.strawberry.views.asgi import GraphQL

from .doors.clients import CLIENT, _django_ready
from .servers import REDIS_URL, redis_reachable, require

JSON = {"content-type": "application/json"}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"

    @strawberry.field
    def created(self, info: strawberry.Info) -> str:
        info.context["response"].status_code = 201
        return "made"

    @strawberry.field
    def secret(self) -> str | None:
        raise ValueError("db password is hunter2")

    @strawberry.field
    def interrupt(self) -> str:
        raise KeyboardInterrupt


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1


def schema(config: GuardConfig | None = None, **guard: Any) -> Any:
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        extensions=[GuardExtension(config or GuardConfig(), **guard)],
        config=StrawberryConfig(batching_config={"max_operations": 10}),
    )


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(CLIENT, 50000)), base_url="http://t"
    )


def codes(body: Any) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_an_accept_header_naming_a_stream_the_view_does_not_serve_changes_nothing() -> None:
    # Strawberry serves no SSE here: the request is an ordinary one, every stage applies (it
    # went to Strawberry's own parser, past the batch cap and the body cap).
    config = GuardConfig(max_batch=2, max_body_bytes=2_000)
    async with client(GraphQL(schema(config))) as http:
        for accept in ("text/event-stream", "multipart/mixed;subscriptionSpec=1.0"):
            headers = {**JSON, "accept": accept}
            batch = await http.post("/", json=[{"query": "{ hello }"}] * 3, headers=headers)
            assert codes(batch.json()) == ["BATCH_LIMIT_EXCEEDED"]
            body = {"query": "{ hello }", "variables": {"pad": "x" * 3_000}}
            large = await http.post("/", json=body, headers=headers)
            assert large.status_code == 413 and codes(large.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_a_body_sent_in_chunks_is_read_only_up_to_the_cap() -> None:
    read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal read
        yield b'{"query": "{ hello }", "pad": "'
        for _ in range(200):
            read += 1
            yield b"x" * 10_000
        yield b'"}'

    async with client(GraphQL(schema(GuardConfig(max_body_bytes=50_000)))) as http:
        answer = await http.post("/", content=chunks(), headers=JSON)
    assert answer.status_code == 413 and codes(answer.json()) == ["PAYLOAD_TOO_LARGE"]
    assert read < 10  # the first chunks past the cap, not the 2 MB the client offered


def _flask(config: GuardConfig, **guard: Any) -> Any:
    from flask import Flask

    from gqlguard.strawberry.views.flask import GraphQLView

    app = Flask("views")
    view = GraphQLView.as_view("graphql", schema=schema(config, **guard), graphql_ide=None)
    app.add_url_rule("/graphql", view_func=view, methods=["GET", "POST"])
    return app.test_client()


def _django(config: GuardConfig) -> Any:
    _django_ready()
    from django.test import RequestFactory

    from gqlguard.strawberry.views.django import GraphQLView

    view = GraphQLView.as_view(schema=schema(config), graphql_ide=None)
    factory = RequestFactory(REMOTE_ADDR=CLIENT)

    def post(body: bytes) -> tuple[int, Any]:
        request = factory.generic("POST", "/graphql", data=body, content_type="application/json")
        response = view(request)
        return response.status_code, json.loads(response.content)

    return post


@pytest.mark.parametrize("framework", ["flask", "django"])
async def test_a_non_utf8_body_is_a_coded_400_at_the_sync_views(framework: str) -> None:
    body = b'{"query": "\xff\xfe{ hello }"}'

    def send() -> tuple[int, Any]:
        if framework == "django":
            return _django(GuardConfig())(body)
        answer = _flask(GuardConfig()).post("/graphql", data=body, headers=JSON)
        return answer.status_code, answer.get_json()

    status, answer = await asyncio.to_thread(send)  # a sync view: no loop on its thread
    assert status == 400 and codes(answer) == ["BAD_REQUEST"]


@pytest.mark.parametrize("operations", ['"abc"', "5", "null", '["x"]'])
async def test_a_malformed_upload_is_coded_and_csrf_comes_first(operations: str) -> None:
    app = GraphQL(schema(), multipart_uploads_enabled=True)
    files = {"operations": (None, operations), "map": (None, "{}")}
    async with client(app) as http:
        cross_site = await http.post("/", files=files)
        preflighted = await http.post("/", files=files, headers={"apollo-require-preflight": "1"})
    assert cross_site.status_code == 400 and codes(cross_site.json()) == ["BAD_REQUEST"]
    assert "cross-site" in cross_site.json()["errors"][0]["message"]
    assert preflighted.status_code == 400 and codes(preflighted.json()) == ["BAD_REQUEST"]
    assert "cross-site" not in preflighted.json()["errors"][0]["message"]


async def test_a_failing_principal_hook_fails_closed_coded() -> None:
    def broken(context: Any) -> Any:
        raise RuntimeError("the session store is down")

    async with client(GraphQL(schema(principal_of=broken))) as http:
        answer = await http.post("/", json={"query": "{ hello }"}, headers=JSON)
    assert answer.status_code == 401 and codes(answer.json()) == ["UNAUTHENTICATED"]
    assert "session store" not in answer.text


async def test_a_status_a_resolver_sets_reaches_the_client() -> None:
    async with client(GraphQL(schema())) as http:
        answer = await http.post("/", json={"query": "{ created }"}, headers=JSON)
    assert answer.status_code == 201 and answer.json()["data"] == {"created": "made"}


async def test_a_process_result_override_sees_locations_and_paths() -> None:
    seen: list[dict[str, Any]] = []

    class Formatting(GraphQL):
        async def process_result(self, request: Any, result: Any) -> Any:
            seen.extend(error.formatted for error in result.errors or ())
            return await super().process_result(request, result)

    async with client(Formatting(schema())) as http:
        answer = await http.post("/", json={"query": "{ hello secret }"}, headers=JSON)
    assert answer.json()["data"] == {"hello": "world", "secret": None}
    (error,) = seen
    assert error["path"] == ["secret"] and error["locations"] == [{"line": 1, "column": 9}]
    assert error["message"] == "Unexpected error."


async def test_a_subscription_sent_as_a_query_is_a_coded_400_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client(GraphQL(schema())) as http:
        answer = await http.post("/", json={"query": "subscription { ticks }"}, headers=JSON)
    assert codes(answer.json()) == ["BAD_REQUEST"] and "data" not in answer.json()
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_get_without_a_query_is_coded_when_the_ide_is_off() -> None:
    async with client(GraphQL(schema(), graphql_ide=None)) as http:
        answer = await http.get("/", headers={"accept": "*/*", "apollo-require-preflight": "1"})
    assert answer.status_code == 400 and codes(answer.json()) == ["BAD_REQUEST"]
    assert "cross-site" not in answer.text  # the missing query, not the CSRF rule


async def test_queries_over_get_off_in_the_view_are_405() -> None:
    app = GraphQL(schema(), allow_queries_via_get=False)
    async with client(app) as http:
        answer = await http.get(
            "/", params={"query": "{ hello }"}, headers={"apollo-require-preflight": "1"}
        )
    assert answer.status_code == 405 and codes(answer.json()) == ["METHOD_NOT_ALLOWED"]
    assert answer.headers["allow"] == "POST"
    # the view's own rule, named as such (it read "Mutations need POST." for a query)
    assert answer.json()["errors"][0]["message"] == "Send this operation with POST."


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_an_interrupted_sync_view_thread_leaves_the_next_request_served(store: str) -> None:
    # A worker's timeout raises SystemExit (or KeyboardInterrupt) in the request's thread:
    # it ends that request there. In memory the pipeline runs on that thread; with Redis it
    # runs on the helper loop, which must not die with the request (every later request
    # hung forever).
    config = GuardConfig()
    prefix = f"gqlguard-test-views:{uuid.uuid4().hex}:"
    if store == "redis":
        require(redis_reachable(), f"no Redis at {REDIS_URL}")
        config = GuardConfig(
            budget_capacity=1_000,
            budget_store="redis",
            redis_url=REDIS_URL,
            budget_key_prefix=prefix,
        )
    flask = _flask(config)
    outcomes: list[Any] = []

    def interrupted() -> None:
        try:
            flask.post("/graphql", json={"query": "{ interrupt }"})
        except KeyboardInterrupt:
            outcomes.append("interrupted")

    def served() -> None:
        outcomes.append(flask.post("/graphql", json={"query": "{ hello }"}).get_json()["data"])

    try:
        for work in (interrupted, served):
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            thread.join(timeout=10)
            assert not thread.is_alive(), f"{work.__name__} hung"
    finally:
        if store == "redis":
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
    assert outcomes == ["interrupted", {"hello": "world"}]


@pytest.mark.parametrize("protocol", ["graphql-ws", "graphql-transport-ws"])
async def test_a_refusal_with_a_status_reaches_an_aiohttp_websocket(protocol: str) -> None:
    # A refusal that sets an HTTP status (400 here) raised inside Strawberry's handler on
    # aiohttp, whose WebSocket response has long sent its status: nothing was answered and
    # the client waited forever.
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from gqlguard.strawberry.views.aiohttp import GraphQLView

    app = web.Application()
    view = GraphQLView(schema=schema(GuardConfig(websocket_origins=("*",))))
    app.router.add_route("*", "/graphql", view)
    start = "start" if protocol == "graphql-ws" else "subscribe"
    two = "subscription A { ticks } subscription B { ticks }"
    async with TestClient(TestServer(app)) as http:
        ws = await http.ws_connect("/graphql", protocols=[protocol])
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await ws.send_json({"type": start, "id": "1", "payload": {"query": two}})
        message = {"type": "ka"}
        while message["type"] == "ka":
            message = await ws.receive_json(timeout=5)
        await ws.close()
    assert message["type"] == "error"
    errors = message["payload"] if isinstance(message["payload"], list) else [message["payload"]]
    assert [error["extensions"]["code"] for error in errors] == ["BAD_REQUEST"]


@strawberry.type
class Product:
    name: str = "lamp"

    @strawberry.field(directives=[Authenticated()])
    def margin(self) -> int | None:
        return 42


@strawberry.type
class ShopQuery:
    @strawberry.field
    async def product(self) -> Product:
        return Product()


DEFERRED = "{ product { name ... @defer { margin } } }"
MULTIPART = {**JSON, "accept": "multipart/mixed;deferSpec=20220824, application/json"}


def _deferring_schema() -> Any:
    return strawberry.Schema(
        query=ShopQuery,
        extensions=[GuardExtension(GuardConfig())],
        config=StrawberryConfig(enable_experimental_incremental_execution=True),
    )


async def test_deferred_payloads_carry_coded_denials_and_no_internal_marker() -> None:
    async with client(GraphQL(_deferring_schema())) as http:
        answer = await http.post("/", json={"query": DEFERRED}, headers=MULTIPART)
    assert answer.headers["content-type"].startswith("multipart/mixed")
    payloads = [
        json.loads(part.split("\r\n\r\n", 1)[1])
        for part in answer.text.split("---")
        if "\r\n\r\n" in part
    ]
    assert payloads[0]["data"] == {"product": {"name": "lamp"}}
    later = json.dumps(payloads[1:])
    assert "UNAUTHORIZED_FIELD_OR_TYPE" in later and "42" not in later
    assert "_GQLGUARD" not in answer.text  # the denial placeholder's internal code


async def test_create_app_refuses_a_deferred_operation_coded() -> None:
    from gqlguard.starlette import create_app

    async with client(create_app(_deferring_schema())) as http:
        answer = await http.post("/graphql", json={"query": DEFERRED}, headers=MULTIPART)
    assert answer.status_code == 400 and codes(answer.json()) == ["BAD_REQUEST"]


@strawberry.type
class SlowSubscription:
    @strawberry.subscription
    async def slow(self) -> AsyncGenerator[int, None]:
        await asyncio.sleep(5)
        yield 1


def _socket_app(config: GuardConfig, **view: Any) -> Any:
    from starlette.testclient import TestClient

    slow = strawberry.Schema(
        query=Query, subscription=SlowSubscription, extensions=[GuardExtension(config)]
    )
    return TestClient(GraphQL(slow, **view))


def test_the_websocket_caps_are_gqlguards_settings_at_the_views() -> None:
    # Strawberry's own defaults are 100 operations per connection and a minute to init;
    # the views take gqlguard's settings, as create_app's WebSocket door does.
    http = _socket_app(GuardConfig(websocket_max_operations=1, websocket_init_timeout=0.3))
    with http.websocket_connect("/", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        for operation in ("1", "2"):
            subscribe = {"query": "subscription { slow }"}
            ws.send_json({"id": operation, "type": "subscribe", "payload": subscribe})
        refused = ws.receive_json()
    assert refused["id"] == "2" and refused["type"] == "error"
    from starlette.websockets import WebSocketDisconnect

    socket = http.websocket_connect("/", subprotocols=["graphql-transport-ws"])
    with socket as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()  # no connection_init: closed after the configured 0.3 s
    assert closed.value.code == 4408


def test_a_view_given_its_own_caps_keeps_them() -> None:
    http = _socket_app(GuardConfig(websocket_max_operations=1), max_subscriptions_per_connection=2)
    with http.websocket_connect("/", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        for operation in ("1", "2", "3"):
            subscribe = {"query": "subscription { slow }"}
            ws.send_json({"id": operation, "type": "subscribe", "payload": subscribe})
        assert ws.receive_json()["id"] == "3"  # the view's 2, not the config's 1


def test_websocket_origins_extend_strawberrys_same_origin_rule(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from starlette.websockets import WebSocketDisconnect

    http = _socket_app(GuardConfig(websocket_origins=("https://app.example",)))
    listed = {"origin": "https://app.example"}
    with http.websocket_connect("/", subprotocols=["graphql-transport-ws"], headers=listed) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
    with (
        pytest.raises(WebSocketDisconnect),
        http.websocket_connect(
            "/", subprotocols=["graphql-transport-ws"], headers={"origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()
    events = [r.getMessage() for r in caplog.records if r.name == "gqlguard.security"]
    assert any('"FORBIDDEN"' in event and "evil.example" in event for event in events)


async def test_the_ide_is_served_only_in_development_as_under_create_app() -> None:
    browser = {"accept": "text/html"}
    async with client(GraphQL(schema())) as http:
        strict = await http.get("/", headers=browser)
    assert strict.status_code == 400 and "<html" not in strict.text.lower()
    async with client(GraphQL(schema(GuardConfig(graphiql=True)))) as http:
        development = await http.get("/", headers=browser)
    assert development.status_code == 200 and "<html" in development.text.lower()


@pytest.mark.parametrize("framework", ["flask", "django"])
def test_a_sync_view_without_the_extension_stops_at_start(framework: str) -> None:
    from gqlguard.config import ConfigError

    bare = strawberry.Schema(query=Query)
    if framework == "flask":
        from gqlguard.strawberry.views.flask import GraphQLView as FlaskView

        with pytest.raises(ConfigError, match="GuardExtension"):
            FlaskView.as_view("graphql", schema=bare)
    else:
        _django_ready()
        from gqlguard.strawberry.views.django import GraphQLView as DjangoView

        with pytest.raises(ConfigError, match="GuardExtension"):
            DjangoView.as_view(schema=bare)
