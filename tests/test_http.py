"""The demo over HTTP: attacks rejected with documented codes, no resolver run for them."""

from __future__ import annotations

import json
import logging

import pytest

from gqlguard import GuardConfig

from .conftest import PREFLIGHT, make_client

DEEP = "{ posts(limit: 1) { author { posts(limit: 1) { author { posts(limit: 1) { author { posts(limit: 1) { author { posts(limit: 1) { author { name } } } } } } } } } } }"

ATTACKS = {
    "DEPTH_LIMIT_EXCEEDED": DEEP,
    "ALIAS_LIMIT_EXCEEDED": "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }",
    "DIRECTIVE_LIMIT_EXCEEDED": "{ __typename " + "@include(if: true) " * 51 + "}",
    "TOKEN_LIMIT_EXCEEDED": "{ posts(limit: 1) { " + "title " * 1_001 + "} }",
    "CHARACTER_LIMIT_EXCEEDED": "{ posts(limit: 1) { title } }" + " " * 15_000,
    "COST_ESTIMATED_TOO_EXPENSIVE": "{ users(first: 100) { nodes { posts(limit: 100) { comments(limit: 100) { body } } } } }",
}


@pytest.mark.parametrize(("code", "query"), list(ATTACKS.items()), ids=list(ATTACKS))
async def test_demo_rejects_attack_with_code_and_runs_no_resolver(
    code: str, query: str, resolver_calls: list[int]
) -> None:
    async with make_client() as client:
        response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert response.status_code == 200
    assert isinstance(body, dict)
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]
    assert body.get("data") is None
    assert resolver_calls == []  # nothing was executed


async def test_graphql_response_clients_get_400_for_rejections() -> None:
    async with make_client() as client:
        response = await client.post(
            "/graphql",
            json={"query": DEEP},
            headers={"accept": "application/graphql-response+json"},
        )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")


async def test_accepted_query_runs_and_reports_cost(resolver_calls: list[int]) -> None:
    async with make_client() as client:
        response = await client.post(
            "/graphql", json={"query": "{ users(first: 2) { nodes { name } } }"}
        )
    body = response.json()
    assert body["data"] == {"users": {"nodes": [{"name": "User 1"}, {"name": "User 2"}]}}
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 1 + 2 * 0
    assert resolver_calls[0] > 0


async def test_env_configuration_reaches_the_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GQLGUARD_MAX_DEPTH", "2")
    async with make_client(GuardConfig()) as client:
        response = await client.post(
            "/graphql", json={"query": "{ posts(limit: 1) { author { name } } }"}
        )
    assert response.json()["errors"][0]["extensions"] == {
        "code": "DEPTH_LIMIT_EXCEEDED",
        "measured": 3,
        "limit": 2,
    }


TRANSPORT_CORPUS: list[tuple[dict[str, object], int, str]] = [
    (
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "BAD_REQUEST",
    ),
    (
        {"content": b"\xff\xfe{}", "headers": {"content-type": "application/json"}},
        400,
        "BAD_REQUEST",
    ),
    (
        {"content": b"[" * 100_001, "headers": {"content-type": "application/json"}},
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    (
        {
            "content": b"[" * 50_000 + b"]" * 50_000,
            "headers": {"content-type": "application/json"},
        },
        400,
        "BAD_REQUEST",
    ),
    # Simple (non-preflighted) content types are CSRF suspects first: 400 before anything else.
    ({"data": {"query": "{ __typename }"}}, 400, "BAD_REQUEST"),
    (
        {"content": b"query=x", "headers": {"content-type": "text/plain"}},
        400,
        "BAD_REQUEST",
    ),
    (
        {
            "content": b"query=x",
            "headers": {"content-type": "text/plain", "apollo-require-preflight": "1"},
        },
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    ({"json": {"query": 5}}, 400, "BAD_REQUEST"),
    ({"json": {"query": "{ __typename }", "variables": [1]}}, 400, "BAD_REQUEST"),
    ({"json": {"query": "{ __typename }", "operationName": 3}}, 400, "BAD_REQUEST"),
    ({"json": [{"query": "{ __typename }"}] * 6}, 400, "BATCH_LIMIT_EXCEEDED"),
    ({"json": "just a string"}, 400, "BAD_REQUEST"),
    (
        {
            "content": b'{"query": "{ __typename }", "variables": {"n": 1' + b"0" * 5000 + b"}}",
            "headers": {"content-type": "application/json"},
        },
        400,
        "BAD_REQUEST",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "code"), TRANSPORT_CORPUS)
async def test_bad_transport_input_gets_one_coded_error_never_500(
    request_kwargs: dict[str, object], status: int, code: str
) -> None:
    async with make_client() as client:
        response = await client.post("/graphql", **request_kwargs)  # type: ignore[arg-type]
    body = json.loads(response.text)
    assert response.status_code == status
    assert isinstance(body, dict)
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]
    assert "Traceback" not in response.text


async def test_mutation_over_get_is_405_and_never_runs(resolver_calls: list[int]) -> None:
    async with make_client() as client:
        response = await client.get(
            "/graphql", params={"query": 'mutation { deleteUser(id: "3") }'}, headers=PREFLIGHT
        )
        check = await client.get(
            "/graphql", params={"query": '{ user(id: "3") { name } }'}, headers=PREFLIGHT
        )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert check.json()["data"] == {"user": {"name": "User 3"}}


async def test_security_headers_and_request_id_are_on_every_response() -> None:
    async with make_client() as client:
        accepted = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "abc-123"}
        )
        rejected = await client.post(
            "/graphql", content=b"<x>", headers={"x-request-id": "bad id\n"}
        )
    for response in (accepted, rejected):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
    assert accepted.headers["x-request-id"] == "abc-123"
    assert len(rejected.headers["x-request-id"]) == 32


async def test_batch_within_cap_answers_invalid_elements_one_by_one() -> None:
    async with make_client() as client:
        response = await client.post(
            "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ nope }"}]
        )
    body = response.json()
    assert body[0]["data"] == {"__typename": "Query"}
    assert body[1]["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_batch_stops_at_the_first_element_over_a_limit(
    caplog: pytest.LogCaptureFixture, resolver_calls: list[int]
) -> None:
    caplog.set_level(logging.WARNING, logger="gqlguard.security")
    async with make_client() as client:
        response = await client.post(
            "/graphql",
            json=[{"query": "{ __typename }"}, {"query": DEEP}, {"query": "{ nope }"}],
        )
    body = response.json()
    assert isinstance(body, dict)  # one object for the whole batch
    assert [e["extensions"]["code"] for e in body["errors"]] == ["DEPTH_LIMIT_EXCEEDED"]
    assert resolver_calls == []  # not even the valid first element ran
    codes = [
        code
        for record in caplog.records
        for code in json.loads(record.getMessage()).get("codes", [])
    ]
    assert "GRAPHQL_VALIDATION_FAILED" not in codes  # the third was never validated


async def test_a_batch_stops_when_its_running_cost_is_over_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gqlguard.security")
    costly = {"query": "{ posts(limit: 90) { comments { body } } }"}  # 901 objects each
    async with make_client() as client:
        response = await client.post("/graphql", json=[costly, costly, {"query": "{ nope }"}])
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert body["errors"][0]["message"] == "The batch is too expensive."
    codes = [
        code
        for record in caplog.records
        for code in json.loads(record.getMessage()).get("codes", [])
    ]
    assert "GRAPHQL_VALIDATION_FAILED" not in codes


async def test_variable_coercion_errors_are_client_errors_without_suggestions() -> None:
    async with make_client() as client:
        response = await client.post(
            "/graphql",
            json={
                "query": "query($l: Int) { posts(limit: $l) { title } }",
                "variables": {"l": "x"},
            },
        )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in error["message"]


@pytest.mark.slow
def test_transport_corpus_over_real_http_and_an_unannounced_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    import httpx

    from .servers import serve

    with serve() as url:
        for request_kwargs, status, code in TRANSPORT_CORPUS:
            response = httpx.post(url, timeout=10, **request_kwargs)  # type: ignore[arg-type]
            assert response.status_code == status, (request_kwargs, response.text[:200])
            assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]
            assert "Traceback" not in response.text
        mutation = httpx.get(
            url, params={"query": 'mutation { deleteUser(id: "1") }'}, headers=PREFLIGHT
        )
        assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
        # No Content-Length at all (chunked): the cap holds while reading the stream.
        host, port = url.split("//")[1].split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            head = (
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            )
            raw.sendall(head.encode())
            chunk = b"[" * 50_000
            for _ in range(4):
                raw.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            raw.sendall(b"0\r\n\r\n")
            reply = ""
            while "PAYLOAD_TOO_LARGE" not in reply:
                received = raw.recv(65536)
                if not received:
                    break
                reply += received.decode(errors="replace")
        assert reply.startswith("HTTP/1.1 413")
        assert "PAYLOAD_TOO_LARGE" in reply


async def test_every_rejection_is_one_security_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gqlguard.security")
    async with make_client() as client:
        await client.post("/graphql", json={"query": DEEP}, headers={"x-request-id": "r-1"})
        await client.post(
            "/graphql",
            content=b"x",
            headers={"x-request-id": "r-2", "content-type": "application/xml"},
        )
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gqlguard.security"]
    assert [(e["request_id"], e["event"]) for e in events] == [
        ("r-1", "rejected"),
        ("r-2", "rejected"),
    ]
    assert events[0]["codes"] == ["DEPTH_LIMIT_EXCEEDED"]
    assert events[0]["measured"] == {"DEPTH_LIMIT_EXCEEDED": 11}
    assert events[0]["client"] and events[0]["principal"] is None
    assert events[1]["codes"] == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_graphiql_only_in_development_and_with_a_csp() -> None:
    browser = {"accept": "text/html"}
    async with make_client() as client:
        production = await client.get("/graphql", headers=browser)
    async with make_client(GuardConfig.development()) as client:
        development = await client.get("/graphql", headers=browser)
    assert production.headers["content-type"].startswith("application/json")
    assert "<html" not in production.text.lower()
    assert development.status_code == 200
    assert "graphiql" in development.text.lower()
    csp = development.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert development.headers["x-frame-options"] == "DENY"


async def test_graphiql_page_says_so_when_its_cdn_cannot_be_reached() -> None:
    async with make_client(GuardConfig.development()) as client:
        page = (await client.get("/graphql", headers={"accept": "text/html"})).text
    # The message is in the page, in a script that runs before any tag that loads from the
    # CDN and listens (capturing: load errors do not bubble) for their errors.
    fallback = page.index("GraphiQL did not load")
    assert "from the unpkg.com CDN, which this browser could not reach" in page
    assert "The GraphQL endpoint itself works" in page
    first_cdn_tag = min(
        page.index('src="https://unpkg.com/'), page.index('href="https://unpkg.com/')
    )
    assert page.rindex("<script>", 0, fallback) < fallback < first_cdn_tag
    listener = page.index('window.addEventListener("error"', fallback)
    assert listener < page.index("}, true);", listener) < first_cdn_tag
    assert "Loading..." in page  # what the message replaces


async def test_every_security_event_has_one_documented_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gqlguard.security")
    async with make_client() as client:
        await client.post("/graphql", json={"query": DEEP})  # guard rejection
        await client.get("/graphql", params={"query": "{ __typename }"})  # transport (CSRF)
        await client.post("/graphql", json={"query": "{ viewer { name } }"})  # denial
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gqlguard.security"]
    assert [e["event"] for e in events] == ["rejected", "rejected", "unauthorized"]
    for event in events:
        assert {
            "ts",
            "level",
            "event",
            "codes",
            "request_id",
            "principal",
            "client",
            "operation",
        } <= set(event)
        assert isinstance(event["codes"], list) and event["codes"]
        assert event["ts"].endswith("+00:00") and event["level"] == "warning"
        assert event["request_id"]
