"""GraphQL over WebSocket for a graphql-core schema under create_app (issue 22: both protocols
on create_app, every operation through the pipeline's stages): gqlguard's own protocol
handler (gqlguard.websocket_protocols) inside the connection's rules."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from graphql import GraphQLSchema, build_schema
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from gqlguard import GuardConfig
from gqlguard.starlette import create_app

SDL = """
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
type Query { hello: String  secret: String @authenticated  boom: String  user: User }
type User { friend: User  name: String }
type Mutation { touch: Int }
type Subscription {
  countdown(start: Int!): Int  leaky: Int  slow: Int  secretFeed: Int @authenticated
}
"""
SECRET = "s" * 64
TRANSPORT_WS, LEGACY_WS = "graphql-transport-ws", "graphql-ws"
ran: list[str] = []


def library() -> GraphQLSchema:
    schema = build_schema(SDL)
    query = schema.query_type
    assert query is not None and schema.subscription_type is not None
    query.fields["hello"].resolve = lambda *_: ran.append("hello") or "world"
    query.fields["secret"].resolve = lambda *_: ran.append("secret") or "hunter2"

    def boom(*_: Any) -> str:
        raise ValueError("db password is hunter2")

    query.fields["boom"].resolve = boom
    query.fields["user"].resolve = lambda *_: {"name": "ada"}
    user = schema.get_type("User")
    user.fields["friend"].resolve = lambda *_: {"name": "grace"}  # type: ignore[union-attr]

    async def countdown(_: Any, __: Any, start: int) -> AsyncIterator[int]:
        for value in range(start, 0, -1):
            ran.append("countdown")
            yield value

    async def leaky(*_: Any) -> AsyncIterator[int]:
        yield 1
        raise ValueError("db password is hunter2")

    async def slow(*_: Any) -> AsyncIterator[int]:
        await asyncio.sleep(30)
        yield 1

    async def secret_feed(*_: Any) -> AsyncIterator[int]:
        ran.append("secret feed")
        yield 42

    fields = schema.subscription_type.fields
    fields["secretFeed"].subscribe = secret_feed
    fields["secretFeed"].resolve = lambda value, *_, **__: value
    fields["slow"].subscribe = slow
    fields["slow"].resolve = lambda value, *_, **__: value
    fields["countdown"].subscribe = countdown
    fields["countdown"].resolve = lambda value, *_, **__: value
    fields["leaky"].subscribe = leaky
    fields["leaky"].resolve = lambda value, *_, **__: value
    return schema


CONFIG = GuardConfig(
    max_depth=4,
    jwt_secret=SECRET,
    jwt_issuer="tests",
    jwt_audience="tests",
    websocket_max_operations=2,
)


@pytest.fixture
def client() -> Iterator[TestClient]:
    ran.clear()
    with TestClient(create_app(library(), CONFIG)) as http:
        yield http


def token(secret: str = SECRET, expires: int = 4_000_000_000) -> str:
    claims = {"sub": "1", "iss": "tests", "aud": "tests", "exp": expires}
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


def operate(
    http: TestClient,
    payload: dict[str, Any],
    protocol: str = TRANSPORT_WS,
    init: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One connection, one operation: every message up to its end."""
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    with http.websocket_connect("/graphql", subprotocols=[protocol]) as ws:
        ws.send_json({"type": "connection_init", "payload": init or {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": start, "payload": payload})
        messages = []
        while True:
            message = ws.receive_json()
            messages.append(message)
            if message["type"] in ("complete", "error"):
                return messages


def codes(message: dict[str, Any]) -> list[str]:
    payload = message["payload"]
    errors = payload if isinstance(payload, list) else payload.get("errors", [payload])
    return [error["extensions"]["code"] for error in errors]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_subscription_streams_in_both_protocols(client: TestClient, protocol: str) -> None:
    messages = operate(client, {"query": "subscription { countdown(start: 3) }"}, protocol)
    event = "next" if protocol == TRANSPORT_WS else "data"
    values = [m["payload"]["data"]["countdown"] for m in messages if m["type"] == event]
    assert values == [3, 2, 1] and messages[-1]["type"] == "complete"


def test_a_query_over_graphql_transport_ws_is_answered_then_completed(client: TestClient) -> None:
    messages = operate(client, {"query": "{ hello }"})
    assert [m["type"] for m in messages] == ["next", "complete"]
    assert messages[0]["payload"]["data"] == {"hello": "world"}
    assert "cost" in messages[0]["payload"]["extensions"]  # as over HTTP


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ user { friend { friend { friend { friend { name } } } } } }", "DEPTH_LIMIT_EXCEEDED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { countdown(start: 2) } subscription B { leaky }", "BAD_REQUEST"),
    ],
)
def test_a_refused_operation_is_its_coded_error_and_nothing_runs(
    client: TestClient, query: str, code: str
) -> None:
    (message,) = operate(client, {"query": query})
    assert message["type"] == "error" and codes(message) == [code]
    assert ran == []


def test_a_denied_field_is_filtered_and_never_resolved(client: TestClient) -> None:
    answered, completed = operate(client, {"query": "{ hello secret }"})
    assert answered["payload"]["data"] == {"hello": "world", "secret": None}
    assert codes(answered) == ["UNAUTHORIZED_FIELD_OR_TYPE"] and completed["type"] == "complete"
    assert ran == ["hello"]


def test_credentials_come_from_connection_init(client: TestClient) -> None:
    messages = operate(client, {"query": "{ secret }"}, init={"Authorization": token()})
    assert messages[0]["payload"]["data"] == {"secret": "hunter2"}
    (refused,) = operate(client, {"query": "{ hello }"}, init={"Authorization": token("x" * 64)})
    assert codes(refused) == ["UNAUTHENTICATED"] and ran == ["secret"]


def test_the_legacy_protocol_serves_subscriptions_only(client: TestClient) -> None:
    (message,) = operate(client, {"query": "{ hello }"}, LEGACY_WS)
    assert message["type"] == "error" and codes(message) == ["BAD_REQUEST"]
    assert ran == []


def test_resolver_errors_are_masked_in_results_and_events(client: TestClient) -> None:
    answered = operate(client, {"query": "{ boom }"})
    streamed = operate(client, {"query": "subscription { leaky }"})
    text = json.dumps([answered, streamed])
    assert "hunter2" not in text and "INTERNAL_SERVER_ERROR" in text


def test_protocol_violations_close_with_the_protocols_codes(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}})
        with pytest.raises(WebSocketDisconnect) as early:
            ws.receive_json()
    assert early.value.code == 4401  # an operation before connection_ack
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init"})
        ws.receive_json()
        ws.send_json({"type": "connection_init"})
        with pytest.raises(WebSocketDisconnect) as twice:
            ws.receive_json()
    assert twice.value.code == 4429


def test_the_connection_rules_hold_around_this_handler(client: TestClient) -> None:
    # websocket_max_operations=2: the third operation in flight is refused, coded.
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init"})
        ws.receive_json()
        for operation in ("1", "2", "3"):
            subscribe = {"query": "subscription { slow }"}
            ws.send_json({"id": operation, "type": "subscribe", "payload": subscribe})
        refused = ws.receive_json()  # 1 and 2 wait on their source
    assert refused["id"] == "3" and codes(refused) == ["OPERATION_LIMIT_EXCEEDED"]
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(
            "/graphql", subprotocols=[TRANSPORT_WS], headers={"origin": "https://evil.example"}
        ),
    ):
        pass  # refused at the handshake


# -- from an attacker's run over this door -------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_denied_subscription_never_starts_its_source(client: TestClient, protocol: str) -> None:
    # graphql-core calls a subscription's source with no middleware: every root field
    # denied must refuse the operation before it starts (it streamed nulls, side effects ran).
    (message,) = operate(client, {"query": "subscription { secretFeed }"}, protocol)
    assert message["type"] == "error" and codes(message) == ["UNAUTHORIZED_FIELD_OR_TYPE"]
    assert ran == []


def test_credentials_are_checked_again_for_each_operation() -> None:
    config = GuardConfig(jwt_secret=SECRET, jwt_issuer="tests", jwt_audience="tests", jwt_leeway=0)
    expiring = token(expires=int(time.time()) + 1)
    http = TestClient(create_app(library(), config))
    with http, http.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": expiring}})
        ws.receive_json()
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ secret }"}})
        assert ws.receive_json()["payload"]["data"] == {"secret": "hunter2"}
        ws.receive_json()  # complete
        time.sleep(1.5)  # the token expires while the connection stays
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": "{ secret }"}})
        refused = ws.receive_json()
    assert refused["type"] == "error" and codes(refused) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("protocol", "frame"),
    [
        # the other protocol's start: it passed the connection's in-flight count uncounted
        (TRANSPORT_WS, {"id": "1", "type": "start", "payload": {"query": "{ hello }"}}),
        (LEGACY_WS, {"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}}),
    ],
)
def test_the_other_protocols_messages_close_with_4400(
    client: TestClient, protocol: str, frame: Any
) -> None:
    with client.websocket_connect("/graphql", subprotocols=[protocol]) as ws:
        ws.send_json({"type": "connection_init"})
        ws.receive_json()
        ws.send_json(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4400 and ran == []


def test_a_frame_nested_past_the_decoders_limit_is_answered_never_raised(
    client: TestClient,
) -> None:
    # A RecursionError escaped the ASGI app (a traceback, the socket dropped without a close
    # frame). Whether Python's JSON decoder refuses 5,000 nested arrays depends on the
    # release (3.11 and 3.12 do, 3.13 does not): refused, the connection closes with 4400;
    # decoded, the operation is answered.
    variables = "[" * 5000 + "]" * 5000
    frame = (
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ hello }", '
        f'"variables": {{"v": {variables}}}}}}}'
    )
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init"})
        ws.receive_json()
        ws.send_text(frame)
        try:
            answered = ws.receive_json()
        except WebSocketDisconnect as closed:
            assert closed.code == 4400 and ran == []
        else:
            assert answered["type"] == "next" and answered["payload"]["data"] == {"hello": "world"}


def test_connection_init_is_checked_like_strawberrys(client: TestClient) -> None:
    with client.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json({"type": "connection_init", "payload": "not an object"})
        with pytest.raises(WebSocketDisconnect) as invalid:
            ws.receive_json()
    assert invalid.value.code == 4400
    with client.websocket_connect("/graphql", subprotocols=[LEGACY_WS]) as ws:
        ws.send_json({"id": "1", "type": "start", "payload": {"query": "subscription { slow }"}})
        with pytest.raises(WebSocketDisconnect) as early:
            ws.receive_json()
    assert early.value.code == 4401
