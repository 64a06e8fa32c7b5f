"""Issue 22, item 3 (in part): GraphQL over WebSocket on ``create_app`` with a Strawberry schema
— both protocols, every operation through the guard's stages, the handshake's Origin, and the
connection's caps — answered with the protocol's coded messages and close codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from gqlguard import GuardConfig
from gqlguard.starlette import create_app
from schema_example.config import DEMO_JWT_AUDIENCE, DEMO_JWT_ISSUER, DEMO_JWT_SECRET
from schema_example.schema import build_schema

from .test_authorization import token

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
DEEP = "subscription { countdown(start: 2) }"  # depth 1; the deep one is a query over the socket
DEEP_QUERY = (
    "{ posts(limit: 1) {" + " author { posts(limit: 1) {" * 6 + " title" + " } }" * 6 + " } }"
)


def client(**settings: Any) -> TestClient:
    config = GuardConfig(
        persisted_mode="off",
        jwt_secret=DEMO_JWT_SECRET,
        jwt_issuer=DEMO_JWT_ISSUER,
        jwt_audience=DEMO_JWT_AUDIENCE,
        **settings,
    )
    return TestClient(create_app(build_schema(config), config))


@contextmanager
def connected(
    payload: dict[str, Any] | None = None, protocol: str = TRANSPORT_WS, **settings: Any
) -> Iterator[Any]:
    """A connection to a fresh demo app, initialised (``payload``: connection_init's)."""
    with (
        client(**settings) as http,
        http.websocket_connect("/graphql", subprotocols=[protocol]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": payload or {}})
        assert ws.receive_json()["type"] == "connection_ack"
        yield ws


@pytest.fixture
def socket() -> Iterator[Any]:
    with connected() as ws:
        yield ws


def events_of(ws: Any, operation: str) -> list[dict[str, Any]]:
    """The messages for ``operation`` up to its ``complete`` or ``error``."""
    seen = []
    while True:
        message = ws.receive_json()
        assert message.get("id") == operation, message
        seen.append(message)
        if message["type"] in ("complete", "error"):
            return seen


def test_a_subscription_streams_its_events_and_completes(socket: Any) -> None:
    socket.send_json(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": "subscription { countdown(start: 3) }"},
        }
    )
    messages = events_of(socket, "1")
    assert [m["payload"]["data"]["countdown"] for m in messages if m["type"] == "next"] == [3, 2, 1]
    assert messages[-1] == {"id": "1", "type": "complete"}


def test_a_refused_operation_is_the_protocols_coded_error(socket: Any) -> None:
    socket.send_json({"id": "deep", "type": "subscribe", "payload": {"query": DEEP_QUERY}})
    (message,) = events_of(socket, "deep")
    assert message["type"] == "error"
    assert [e["extensions"]["code"] for e in message["payload"]] == ["DEPTH_LIMIT_EXCEEDED"]
    socket.send_json(
        {
            "id": "intro",
            "type": "subscribe",
            "payload": {"query": "{ __schema { types { name } } }"},
        }
    )
    codes = [
        error["extensions"]["code"]
        for message in events_of(socket, "intro")
        for error in (
            message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        )
    ]
    assert codes == ["INTROSPECTION_DISABLED"]
    # The connection is still usable after refusals.
    socket.send_json({"id": "ok", "type": "subscribe", "payload": {"query": DEEP}})
    assert events_of(socket, "ok")[-1]["type"] == "complete"


def test_the_legacy_protocol_is_served_and_refused_alike() -> None:
    # graphql-ws carries subscriptions only: the refusal is a subscription over max_aliases.
    over = "subscription { a: countdown(start: 1) }"
    with connected(protocol=LEGACY_WS, max_aliases=0) as ws:
        ws.send_json({"id": "1", "type": "start", "payload": {"query": DEEP}})
        kinds = [m["type"] for m in events_of(ws, "1")]
        assert kinds == ["data", "data", "complete"]
        ws.send_json({"id": "2", "type": "start", "payload": {"query": over}})
        messages = events_of(ws, "2")
        errors = [
            error
            for message in messages
            for error in (message["payload"].get("errors") or [message["payload"]])
        ]
        assert [e["extensions"]["code"] for e in errors] == ["ALIAS_LIMIT_EXCEEDED"]


def test_a_cross_site_handshake_is_refused_before_it_is_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with client() as http:
        with (
            caplog.at_level(logging.WARNING, logger="gqlguard.security"),
            pytest.raises(WebSocketDisconnect) as refused,
            http.websocket_connect(
                "/graphql", subprotocols=[TRANSPORT_WS], headers={"origin": "https://evil.example"}
            ),
        ):
            pass
        assert refused.value.code == 4403
        events = [json.loads(r.getMessage()) for r in caplog.records]
        assert [(e["event"], e["codes"]) for e in events] == [("rejected", ["FORBIDDEN"])]
        # The server's own origin, and an allowed one, are accepted.
        with http.websocket_connect(
            "/graphql", subprotocols=[TRANSPORT_WS], headers={"origin": "http://testserver"}
        ) as ws:
            ws.send_json({"type": "connection_init"})
            assert ws.receive_json()["type"] == "connection_ack"
    with (
        client(websocket_origins=("https://app.example",)) as http,
        http.websocket_connect(
            "/graphql", subprotocols=[TRANSPORT_WS], headers={"origin": "https://app.example"}
        ) as ws,
    ):
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"


def test_operations_in_flight_per_connection_are_capped_with_a_coded_error() -> None:
    with connected(websocket_max_operations=2) as ws:
        # Three events 0.3 s apart: a and b are still running when c arrives.
        long = {"query": "subscription { countdown(start: 3, seconds: 0.3) }"}
        for operation in ("a", "b", "c"):
            ws.send_json({"id": operation, "type": "subscribe", "payload": long})
        refusal = None
        finished = set()
        while len(finished) < 2 or refusal is None:
            message = ws.receive_json()
            if message["id"] == "c":
                refusal = message
            elif message["type"] == "complete":
                finished.add(message["id"])
        assert refusal["type"] == "error"
        assert refusal["payload"][0]["extensions"] == {
            "code": "OPERATION_LIMIT_EXCEEDED",
            "measured": 3,
            "limit": 2,
        }
        # Once the others completed, a new operation is served again.
        ws.send_json({"id": "d", "type": "subscribe", "payload": {"query": DEEP}})
        assert events_of(ws, "d")[-1]["type"] == "complete"


def test_a_frame_over_the_body_cap_closes_the_connection() -> None:
    with connected(max_body_bytes=2_000) as ws:
        ws.send_text(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "{" + " " * 3_000 + "}"}}
            )
        )
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009


def test_credentials_come_from_connection_init_and_decide_authorization() -> None:
    with client() as http, http.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json(
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {token('users:email', sub='1')}"},
            }
        )
        assert ws.receive_json()["type"] == "connection_ack"
        query = {"query": "{ user(id: 1) { email } }"}
        ws.send_json({"id": "with", "type": "subscribe", "payload": query})
        first = events_of(ws, "with")[0]
        assert first["type"] == "next" and first["payload"]["data"]["user"]["email"]
    # Without the scope in connection_init: the field is denied, coded.
    with connected() as ws:
        ws.send_json({"id": "without", "type": "subscribe", "payload": query})
        first = events_of(ws, "without")[0]
        assert first["payload"]["data"] == {"user": None}  # email is non-null
        # One coded error for the one denied path, as over HTTP.
        errors = [
            (e["extensions"]["code"], e["extensions"]["path"]) for e in first["payload"]["errors"]
        ]
        assert errors == [("UNAUTHORIZED_FIELD_OR_TYPE", ["user", "email"])]


def test_a_connection_mixing_hostile_operations_gets_a_code_for_each_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hostile = [
        DEEP_QUERY,
        "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }",
        "{ __schema { types { name } } }",
        "{ posts { titel } }",
        "subscription { countdown(start: 2) countdown2: countdown }",
    ]
    with caplog.at_level(logging.INFO), connected() as ws:
        for round_ in range(25):
            for index, query in enumerate([DEEP, *hostile]):
                operation = f"{round_}.{index}"
                ws.send_json({"id": operation, "type": "subscribe", "payload": {"query": query}})
                messages = events_of(ws, operation)
                if index == 0:
                    assert [m["type"] for m in messages] == ["next", "next", "complete"]
                    continue
                errors = [
                    error
                    for message in messages
                    for error in (
                        message["payload"]
                        if message["type"] == "error"
                        else message["payload"].get("errors") or []
                    )
                ]
                assert errors, (query, messages)
                assert all(error["extensions"]["code"] for error in errors), errors
    assert not [record for record in caplog.records if record.exc_info]


def test_a_syntax_error_is_strawberrys_protocol_close_4400() -> None:
    # Strawberry's graphql-transport-ws handler ends the connection on a document it cannot
    # parse (the protocol's 4400); the guard leaves syntax errors to the host.
    with connected() as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ posts { title } "}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4400


def test_a_query_over_the_legacy_protocol_is_a_coded_bad_request_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO), connected(protocol=LEGACY_WS) as ws:
        ws.send_json(
            {"id": "q", "type": "start", "payload": {"query": "{ posts(limit: 1) { id } }"}}
        )
        (message,) = events_of(ws, "q")
    errors = message["payload"].get("errors") or [message["payload"]]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        ("This operation type is not served on this transport.", "BAD_REQUEST")
    ]
    assert not [record for record in caplog.records if record.exc_info]


def test_resolvers_see_the_operations_principal_over_a_websocket_and_it_never_lingers() -> None:
    with client() as http, http.websocket_connect("/graphql", subprotocols=[TRANSPORT_WS]) as ws:
        ws.send_json(
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {token('users:read', sub='2')}"},
            }
        )
        ws.receive_json()
        ws.send_json({"id": "me", "type": "subscribe", "payload": {"query": "{ viewer { id } }"}})
        assert events_of(ws, "me")[0]["payload"]["data"] == {"viewer": {"id": "2"}}
    # Another connection, no credentials: nobody, not the previous connection's user.
    with connected() as ws:
        ws.send_json({"id": "me", "type": "subscribe", "payload": {"query": "{ viewer { id } }"}})
        first = events_of(ws, "me")[0]["payload"]
        assert first["data"] == {"viewer": None}


INVALID_FRAMES = [
    (TRANSPORT_WS, {"id": 0, "type": "subscribe", "payload": {"query": DEEP}}),  # a number
    (TRANSPORT_WS, {"id": ["a"], "type": "complete"}),
    (TRANSPORT_WS, {"id": "a", "type": "subscribe", "payload": None}),
    (TRANSPORT_WS, [1, 2]),
    (TRANSPORT_WS, {"type": 7}),
    (LEGACY_WS, {"id": 0, "type": "start", "payload": {"query": DEEP}}),
    (LEGACY_WS, {"id": ["a"], "type": "stop"}),
    (LEGACY_WS, {"id": "a", "type": "start", "payload": "x"}),
    (LEGACY_WS, {"id": "a", "type": "start", "payload": {}}),
    (LEGACY_WS, {"id": "a", "type": "start"}),
    (LEGACY_WS, [1, 2]),
]


@pytest.mark.parametrize(("protocol", "frame"), INVALID_FRAMES)
def test_a_frame_that_is_not_a_protocol_message_closes_with_4400(
    protocol: str, frame: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), connected(protocol=protocol) as ws:
        ws.send_text(json.dumps(frame))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4400
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_connection_that_never_initialises_is_closed_4408(protocol: str) -> None:
    with (
        client(websocket_init_timeout=0.3) as http,
        http.websocket_connect("/graphql", subprotocols=[protocol]) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 4408


def test_the_origin_check_normalises_default_ports() -> None:
    with client(websocket_origins=("https://app.example:443",)) as http:
        for origin in ("https://app.example", "http://testserver:80"):
            with http.websocket_connect(
                "/graphql", subprotocols=[TRANSPORT_WS], headers={"origin": origin}
            ) as ws:
                ws.send_json({"type": "connection_init"})
                assert ws.receive_json()["type"] == "connection_ack"
