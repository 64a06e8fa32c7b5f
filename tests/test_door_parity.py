"""Door parity: the same requests through every door gqlguard supports (``tests/doors/``) must
be answered as the reference door answers them — ``create_app`` over the Strawberry demo
schema: the same status, the same gqlguard headers, the same body (data, error codes, no
``data`` on a request error), the same security events, no more tracebacks than
``max_errors``.

Each case builds a fresh schema per door from its own ``GuardConfig`` (fresh budget buckets,
fresh APQ registrations), runs its steps at the reference and at the door, and compares what
both answered, step by step. What is normalised, and why, is said where it is done
(:func:`http_view`, :func:`log_view`).

Over a WebSocket the comparison is of what the socket delivers (the payload: data, errors,
codes; the security events), never of statuses or headers (the handshake is answered once, for
every operation). graphql-transport-ws carries any operation, so it runs the query cases;
graphql-ws (the legacy protocol) carries subscriptions only, so it runs the subscription cases.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from gqlguard import GuardConfig
from schema_example.config import (
    DEMO_JWT_AUDIENCE,
    DEMO_JWT_ISSUER,
    DEMO_JWT_SECRET,
    DEMO_MANIFEST,
)

from .doors.clients import (
    EXTENSION_DOORS,
    HTTP_DOORS,
    LEGACY_WS,
    REFERENCE,
    SECRET,
    SOCKET_DOORS,
    TRANSPORT_WS,
    Answer,
    Door,
    Target,
    boom,
    demo,
    open_door,
)

# -- configurations ---------------------------------------------------------------------------

BASE = GuardConfig(
    jwt_secret=DEMO_JWT_SECRET,
    jwt_issuer=DEMO_JWT_ISSUER,
    jwt_audience=DEMO_JWT_AUDIENCE,
    persisted_mode="off",
)


def config(**changes: Any) -> GuardConfig:
    return GuardConfig(**{**BASE.model_dump(), **changes})


def token(scope: str = "", sub: str = "1", secret: str = DEMO_JWT_SECRET) -> str:
    """A demo token, signed as ``gqlguard token`` / ``make token`` sign them."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEMO_JWT_ISSUER,
        "aud": DEMO_JWT_AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + 600,
    }
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, secret, algorithm="HS256")


JSON_HEADERS = {"content-type": "application/json"}
PREFLIGHT = {"apollo-require-preflight": "1"}  # CSRF prevention lets such a GET through


def bearer(value: str) -> dict[str, str]:
    return {**JSON_HEADERS, "authorization": f"Bearer {value}"}


# -- requests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One request: a POST of ``body`` (JSON, or raw bytes) or a GET of ``params``."""

    body: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: dict(JSON_HEADERS))

    @property
    def over_socket(self) -> bool:
        """A request a WebSocket operation can carry (a POST of one JSON envelope)."""
        return self.params is None and isinstance(self.body, dict)


def post(body: Any, headers: Mapping[str, str] | None = None) -> Step:
    return Step(body=body, headers=dict(headers if headers is not None else JSON_HEADERS))


def get(params: Mapping[str, str], headers: Mapping[str, str] | None = None) -> Step:
    return Step(params=dict(params), headers=dict(headers if headers is not None else PREFLIGHT))


# -- what is compared -----------------------------------------------------------------------------

# Headers that are the server's or the HTTP framework's, not gqlguard's: when the response
# was sent (date), which software sent it (server), how the body was framed (content-length,
# transfer-encoding, connection, keep-alive). Their presence and values differ by server for
# the same answer and say nothing about what gqlguard decided.
FRAMING_HEADERS = frozenset(
    {"date", "server", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


def http_view(answer: Answer, secret_free: bool = True) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in answer.headers.items():
        if name in FRAMING_HEADERS:
            continue
        if name == "x-request-id":
            # A fresh id per request (generated when the client sent none): its presence is
            # compared, not its value.
            value = "<request id>"
        elif name == "content-type":
            # aiohttp declares `; charset=utf-8` on the same JSON bytes (JSON is UTF-8 by
            # definition): the media type is compared, not the framework's parameters.
            value = value.split(";")[0].strip()
        elif name == "x-ratelimit-reset":
            # Seconds until the bucket is full again, rounded up from a clock read during
            # the request: the same answer may say n or n+1 depending on when it was read.
            value = "<seconds>"
        headers[name] = value
    return {"status": answer.status, "headers": headers, "body": body_view(answer.body)}


_REQUEST_ID = re.compile(r"\b[0-9a-f]{32}\b")


def body_view(body: Any) -> Any:
    """The body, with generated request ids (32 hex digits; a masked error may name the
    request's id for the operator's log) replaced: their values differ per request."""
    return json.loads(_REQUEST_ID.sub("<request id>", json.dumps(body)))


def socket_view(answer: Answer) -> dict[str, Any]:
    return {"body": body_view(answer.body), "events": body_view(answer.events)}


def codes(answer: Answer) -> list[str]:
    errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
    return [
        (error.get("extensions") or {}).get("code", "<no code>")
        for error in errors or []
        if isinstance(error, dict)
    ]


def log_view(records: list[logging.LogRecord], *, socket: bool) -> dict[str, Any]:
    """The security events (what was refused, for whom, from where) and the number of
    tracebacks any logger wrote for one request."""
    events = []
    for record in records:
        if record.name != "gqlguard.security":
            continue
        event = json.loads(record.getMessage())
        events.append(
            {
                "event": event.get("event"),
                "codes": event.get("codes"),
                "principal": event.get("principal"),
                "operation": event.get("operation"),
                # Every door's peer is 127.0.0.1, except Starlette's WebSocket test client,
                # which names itself "testclient": over a socket its presence is compared.
                "client": (event.get("client") is not None) if socket else event.get("client"),
                # A fresh id per request: its presence is compared.
                "request_id": event.get("request_id") is not None,
            }
        )
    tracebacks = sum(1 for record in records if record.exc_info)
    return {"events": events, "tracebacks": tracebacks}


@dataclass
class Seen:
    answer: Answer
    view: dict[str, Any]
    log: dict[str, Any]


async def send(door: Door, step: Step, caplog: pytest.LogCaptureFixture) -> Seen:
    start = len(caplog.records)
    if step.params is not None:
        answer = await door.get(step.params, step.headers)
    else:
        answer = await door.post(step.body, step.headers)
    records = caplog.records[start:]
    view = socket_view(answer) if door.socket else http_view(answer)
    return Seen(answer, view, log_view(records, socket=door.socket))


async def run(
    door_name: str,
    build: Callable[[GuardConfig], Target],
    settings: GuardConfig,
    steps: list[Step],
    caplog: pytest.LogCaptureFixture,
) -> list[Seen]:
    door = open_door(door_name, build(settings))
    try:
        return [await send(door, step, caplog) for step in steps]
    finally:
        await door.aclose()


async def compare(
    door_name: str,
    steps: list[Step],
    caplog: pytest.LogCaptureFixture,
    *,
    settings: GuardConfig = BASE,
    build: Callable[[GuardConfig], Target] = demo,
    reference: str = REFERENCE,
) -> tuple[list[Seen], list[Seen]]:
    """Every step at the reference and at the door, then compared step by step (at a socket
    door, only what a socket delivers)."""
    caplog.set_level(logging.INFO)
    expected = await run(reference, build, settings, steps, caplog)
    seen = await run(door_name, build, settings, steps, caplog)
    socket = door_name in SOCKET_DOORS
    actual, wanted, drift = [], [], []
    for index, (want, got) in enumerate(zip(expected, seen, strict=True)):
        want_view = want.view
        if socket and reference not in SOCKET_DOORS:
            # The HTTP reference's answer as a socket delivers it: the body only (a socket
            # has no status and no headers, an HTTP answer no stream of events).
            want_view = {"body": socket_view(want.answer)["body"], "events": got.view["events"]}
        actual.append({"answer": got.view, "log": _log_for(got)})
        wanted.append({"answer": want_view, "log": _log_for(want)})
        drift.extend(f"step {index}: {d}" for d in differences(actual[-1], wanted[-1]))
    # Every step is compared before failing: a drift in an early step hides no later one.
    assert actual == wanted, f"at {door_name}: " + "; ".join(drift)
    return expected, seen


def differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Where ``got`` differs from ``want``, one line per difference (for a failure's
    message: the drift, not two whole answers)."""
    if isinstance(got, dict) and isinstance(want, dict):
        found = []
        for key in sorted(set(got) | set(want), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in got:
                found.append(f"{where} missing (reference: {want[key]!r:.120})")
            elif key not in want:
                found.append(f"{where} extra: {got[key]!r:.120}")
            else:
                found.extend(differences(got[key], want[key], where))
        return found
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in differences(g, w, f"{path}[{i}]")
        ]
    if got != want:
        return [f"{path}: {got!r:.160} (reference: {want!r:.160})"]
    return []


def _log_for(seen: Seen) -> dict[str, Any]:
    # Only the events' kinds and codes take part in every case's comparison; the events'
    # facts (principal, client, request id) have a test of their own (test_the_log_*).
    return {
        "events": [(e["event"], e["codes"]) for e in seen.log["events"]],
        "tracebacks": seen.log["tracebacks"],
    }


HTTP = [name for name in HTTP_DOORS if name != REFERENCE]
QUERY_SOCKETS = [name for name in SOCKET_DOORS if name.startswith(f"ws:{TRANSPORT_WS}:")]
# Sockets whose protocol handler is Strawberry's (create_app over a Strawberry schema, the
# Strawberry views): it parses a document before the operation starts and passes no
# `extensions` on. gqlguard's own handler (create_app over a graphql-core schema) does both
# as the HTTP reference does.
STRAWBERRY_SOCKETS = [name for name in QUERY_SOCKETS if not name.endswith(":graphql-core")]
LEGACY_SOCKETS = [name for name in SOCKET_DOORS if name.startswith(f"ws:{LEGACY_WS}:")]
ALL = HTTP + QUERY_SOCKETS

# -- the accepted corpus -----------------------------------------------------------------------

MANIFEST = {op["name"]: op for op in json.loads(DEMO_MANIFEST.read_text())["operations"]}
ACCEPTED = {
    "PostById": {"id": "Post:1"},
    "ProductCatalog": {"first": 3},
    "ProductDetail": {"id": "1"},
    "RecentPosts": {"limit": 2},
    "Search": {"term": "a", "limit": 4},
    "UserList": {"first": 3},
    "UserProfile": {"id": "1"},
}


@pytest.mark.parametrize("operation", list(ACCEPTED))
@pytest.mark.parametrize("door", ALL)
async def test_the_accepted_corpus(
    door: str, operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = {
        "query": MANIFEST[operation]["body"],
        "variables": ACCEPTED[operation],
        "operationName": operation,
    }
    _, (seen,) = await compare(door, [post(envelope)], caplog)
    assert seen.answer.body.get("data"), seen.answer.body
    assert "errors" not in seen.answer.body
    assert seen.log == {"events": [], "tracebacks": 0}


# -- the hostile corpus ------------------------------------------------------------------------

DEEP = "{ posts(limit: 1) {" + " author { posts(limit: 1) {" * 6 + " title" + " } }" * 6 + " } }"
ALIASES = "{ " + " ".join(f"a{i}: posts(limit: 1) {{ title }}" for i in range(16)) + " }"
EXPENSIVE = "{ posts(limit: 100) { comments(limit: 100) { body } } }"
TWO_OPERATIONS = "query A { posts(limit: 1) { title } } query B { posts(limit: 1) { id } }"
# Unnamed multi-operation documents whose first operation would be refused on its own: the
# document is refused as a whole (no operation selected), nothing of it may run.
HIDDEN_ADMIN = "query A { auditLog(limit: 1) { action } } query B { posts(limit: 1) { id } }"
HIDDEN_DEEP = "query A " + DEEP + " query B { posts(limit: 1) { id } }"
MUTATION = 'mutation { createPost(input: {title: "t", body: "b"}) { post { id } } }'
SMALL_BODY = 2_000


@dataclass(frozen=True)
class Hostile:
    step: Step
    code: str
    status: int
    settings: GuardConfig = BASE


HOSTILE = {
    "too-deep": Hostile(post({"query": DEEP}), "DEPTH_LIMIT_EXCEEDED", 200),
    "too-many-aliases": Hostile(post({"query": ALIASES}), "ALIAS_LIMIT_EXCEEDED", 200),
    "over-max-cost": Hostile(post({"query": EXPENSIVE}), "COST_ESTIMATED_TOO_EXPENSIVE", 200),
    "syntax-error": Hostile(post({"query": "{ posts { title }"}), "GRAPHQL_PARSE_FAILED", 200),
    "unknown-field": Hostile(
        post({"query": "{ postz { title } }"}), "GRAPHQL_VALIDATION_FAILED", 200
    ),
    "two-operations-no-name": Hostile(post({"query": TWO_OPERATIONS}), "BAD_REQUEST", 200),
    "two-operations-first-admin-only": Hostile(post({"query": HIDDEN_ADMIN}), "BAD_REQUEST", 200),
    "two-operations-first-too-deep": Hostile(post({"query": HIDDEN_DEEP}), "BAD_REQUEST", 200),
    "mutation-over-get": Hostile(get({"query": MUTATION}), "METHOD_NOT_ALLOWED", 405),
    "non-json-body": Hostile(post(b'{"query": "{ posts { title } }"'), "BAD_REQUEST", 400),
    "batch-over-max-batch": Hostile(
        post([{"query": "{ posts(limit: 1) { title } }"}] * 6), "BATCH_LIMIT_EXCEEDED", 400
    ),
    "oversized-body": Hostile(
        post({"query": "{ posts(limit: 1) { title } }" + " " * SMALL_BODY}),
        "PAYLOAD_TOO_LARGE",
        413,
        config(max_body_bytes=SMALL_BODY),
    ),
}


def hostile_params() -> list[Any]:
    params = []
    for door in ALL:
        for name, case in HOSTILE.items():
            if door in SOCKET_DOORS and not case.step.over_socket:
                continue  # a transport-level case (GET, raw body, batch): HTTP only
            if door in SOCKET_DOORS and name == "oversized-body":
                continue  # over a socket a frame over max_body_bytes closes it (1009)
            if door in STRAWBERRY_SOCKETS and name == "syntax-error":
                continue  # Strawberry's handlers: test_a_syntax_error_closes_a_socket_with_4400
            params.append(pytest.param(door, name, id=f"{door}-{name}"))
    return params


@pytest.mark.parametrize(("door", "case"), hostile_params())
async def test_the_hostile_corpus(door: str, case: str, caplog: pytest.LogCaptureFixture) -> None:
    hostile = HOSTILE[case]
    (want,), (seen,) = await compare(door, [hostile.step], caplog, settings=hostile.settings)
    # The reference itself, as the README documents it; then the door, absolutely too (the
    # comparison above already holds it to the reference's answer).
    for answered in (want, seen):
        assert codes(answered.answer) == [hostile.code]
        assert "data" not in answered.answer.body, "a request error carries no data"
        assert [e["codes"] for e in answered.log["events"]] == [[hostile.code]]
    assert want.answer.status == hostile.status


@pytest.mark.parametrize("door", STRAWBERRY_SOCKETS)
async def test_a_syntax_error_closes_a_socket_with_4400(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    # graphql-transport-ws: Strawberry's handler parses the document before the operation
    # starts and closes the socket with 4400, the protocol's Bad Request (README,
    # "Subscriptions over WebSocket"); the refusal is still one coded security event.
    step = HOSTILE["syntax-error"].step
    (seen,) = await run(door, demo, BASE, [step], caplog)
    assert seen.answer.body == {"<closed>": 4400}
    assert [e["codes"] for e in seen.log["events"]] == [["GRAPHQL_PARSE_FAILED"]]


# -- the budget --------------------------------------------------------------------------------

CHEAP = "{ posts(limit: 2) { title } }"  # 5 points (posts weighs 5)


@pytest.mark.parametrize("door", HTTP)
async def test_the_budget(door: str, caplog: pytest.LogCaptureFixture) -> None:
    # 12 points pay for two requests; the third is refused, 429 with Retry-After.
    settings = config(budget_capacity=12, budget_restore_rate=0)
    headers = bearer(token(sub="7"))
    steps = [post({"query": CHEAP}, headers) for _ in range(3)]
    _, seen = await compare(door, steps, caplog, settings=settings)
    first, second, third = (s.answer for s in seen)
    assert first.body["extensions"]["cost"]["throttleStatus"] == {
        "maximumAvailable": 12,
        "currentlyAvailable": 7,
        "restoreRate": 0,
        "counted": "field_cost",
    }
    assert first.headers["x-ratelimit-limit"] == "12"
    assert first.headers["x-ratelimit-remaining"] == "7"
    assert first.headers["x-ratelimit-cost-counted"] == "field_cost"
    assert second.headers["x-ratelimit-remaining"] == "2"
    assert third.status == 429 and "retry-after" in third.headers
    assert codes(third) == ["RATE_LIMITED"] and "data" not in third.body


# -- persisted queries -------------------------------------------------------------------------

APQ_QUERY = "{ posts(limit: 2) { title } }"
APQ = {
    "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(APQ_QUERY.encode()).hexdigest()}
}


@pytest.mark.parametrize("door", HTTP)
async def test_apq_over_post(door: str, caplog: pytest.LogCaptureFixture) -> None:
    steps = [
        post({"extensions": APQ}),  # a miss: the protocol's 200 PERSISTED_QUERY_NOT_FOUND
        post({"query": APQ_QUERY, "extensions": APQ}),  # registration
        post({"extensions": APQ}),  # a hit: the hash alone
    ]
    _, seen = await compare(door, steps, caplog, settings=config(persisted_mode="apq"))
    miss, registered, hit = (s.answer for s in seen)
    assert codes(miss) == ["PERSISTED_QUERY_NOT_FOUND"] and "data" not in miss.body
    assert registered.body["data"]["posts"] and hit.body["data"] == registered.body["data"]


@pytest.mark.parametrize("door", HTTP)
async def test_apq_over_get(door: str, caplog: pytest.LogCaptureFixture) -> None:
    extensions = json.dumps(APQ)
    steps = [
        get({"extensions": extensions}),
        get({"query": APQ_QUERY, "extensions": extensions}),
        get({"extensions": extensions}),
    ]
    _, seen = await compare(door, steps, caplog, settings=config(persisted_mode="apq"))
    miss, registered, hit = (s.answer for s in seen)
    assert codes(miss) == ["PERSISTED_QUERY_NOT_FOUND"] and "data" not in miss.body
    assert registered.body["data"]["posts"] and hit.body["data"] == registered.body["data"]


SAFELIST = config(persisted_mode="safelist", persisted_manifest=str(DEMO_MANIFEST))
LISTED = MANIFEST["RecentPosts"]


@pytest.mark.parametrize("door", ALL)
async def test_a_safelisted_operation_runs(door: str, caplog: pytest.LogCaptureFixture) -> None:
    envelope = {
        "variables": {"limit": 2},
        "operationName": "RecentPosts",
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": LISTED["id"]}},
    }
    if door in STRAWBERRY_SOCKETS:
        # Strawberry's WebSocket handlers pass no `extensions` to the schema: no hash reaches
        # the guard, so a safelist refuses every operation over a socket, coded (README,
        # "Subscriptions over WebSocket"), even with its listed text.
        envelope["query"] = LISTED["body"]
        (seen,) = await run(door, demo, SAFELIST, [post(envelope)], caplog)
        assert codes(seen.answer) == ["PERSISTED_QUERY_ID_REQUIRED"]
        assert "data" not in seen.answer.body
        return
    _, (seen,) = await compare(door, [post(envelope)], caplog, settings=SAFELIST)
    assert len(seen.answer.body["data"]["posts"]) == 2


@pytest.mark.parametrize("door", STRAWBERRY_SOCKETS)
async def test_a_hash_alone_closes_a_socket_with_4400(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = {
        "variables": {"limit": 2},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": LISTED["id"]}},
    }
    (seen,) = await run(door, demo, SAFELIST, [post(envelope)], caplog)
    assert seen.answer.body == {"<closed>": 4400}


@pytest.mark.parametrize("door", ALL)
async def test_an_unlisted_text_is_refused_under_a_safelist(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    (want,), (seen,) = await compare(door, [post({"query": APQ_QUERY})], caplog, settings=SAFELIST)
    for answered in (want, seen):
        assert codes(answered.answer) == ["PERSISTED_QUERY_ID_REQUIRED"]
        assert "data" not in answered.answer.body
    assert want.answer.status == 400


# -- JWT and the principal ----------------------------------------------------------------------


@pytest.mark.parametrize("door", ALL)
async def test_a_valid_token_sees_an_authenticated_field(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    step = post({"query": "{ viewer { id name email } }"}, bearer(token("users:email", sub="1")))
    _, (seen,) = await compare(door, [step], caplog)
    assert seen.answer.body["data"]["viewer"]["id"] == "1"
    assert seen.answer.body["data"]["viewer"]["email"]


@pytest.mark.parametrize("door", ALL)
async def test_a_bad_token_is_401_with_www_authenticate(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    forged = token("admin", sub="1", secret="not-the-demo-secret-" + "x" * 32)
    (want,), (seen,) = await compare(
        door, [post({"query": "{ viewer { id } }"}, bearer(forged))], caplog
    )
    for answered in (want, seen):
        assert codes(answered.answer) == ["UNAUTHENTICATED"]
        assert "data" not in answered.answer.body
    assert want.answer.status == 401
    assert want.answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("door", ALL)
async def test_no_token_sees_the_authenticated_field_refused(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    _, (seen,) = await compare(door, [post({"query": "{ viewer { id } }"})], caplog)
    assert codes(seen.answer) == ["UNAUTHORIZED_FIELD_OR_TYPE"]
    assert seen.answer.body["data"] == {"viewer": None}


@pytest.mark.parametrize("door", ALL)
async def test_resolvers_see_the_principal(door: str, caplog: pytest.LogCaptureFixture) -> None:
    step = post({"query": "{ viewer { id } }"}, bearer(token("users:read", sub="2")))
    _, (seen,) = await compare(door, [step], caplog)
    assert seen.answer.body["data"] == {"viewer": {"id": "2"}}


# -- masking and tracebacks ---------------------------------------------------------------------

MAX_ERRORS = 3
FAILING = "{ fine " + " ".join(f"b{i}: boom" for i in range(8)) + " }"


@pytest.mark.parametrize("door", ALL)
async def test_a_resolver_error_is_masked(door: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = config(max_errors=MAX_ERRORS)
    (want,), (seen,) = await compare(
        door, [post({"query": FAILING})], caplog, settings=settings, build=boom
    )
    assert SECRET not in seen.answer.text and "hunter2" not in seen.answer.text
    assert seen.answer.body["data"]["fine"] == "fine"
    assert set(codes(seen.answer)) == {"INTERNAL_SERVER_ERROR"}
    # The operator hears of the failure, at most max_errors tracebacks for the request.
    for answered in (want, seen):
        assert 1 <= answered.log["tracebacks"] <= MAX_ERRORS


# -- the log ------------------------------------------------------------------------------------

LOGGED = {
    "unknown-field": (post({"query": "{ postz { title } }"}), BASE),
    "too-deep": (post({"query": DEEP}), BASE),
    "non-json-body": (post(b"{not json"), BASE),
    "bad-token": (
        post({"query": "{ posts(limit: 1) { title } }"}, bearer(token(sub="1", secret="y" * 40))),
        BASE,
    ),
    "unauthorized-field": (
        post({"query": "{ auditLog(limit: 1) { id } }"}, bearer(token("users:read", sub="3"))),
        BASE,
    ),
}


@pytest.mark.parametrize(
    ("door", "case"),
    [
        pytest.param(door, case, id=f"{door}-{case}")
        for case, (step, _) in LOGGED.items()
        for door in ALL
        if step.over_socket or door not in SOCKET_DOORS  # a raw body is HTTP only
    ],
)
async def test_the_log_says_who_was_refused_once(
    door: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    step, settings = LOGGED[case]
    caplog.set_level(logging.INFO)
    (want,) = await run(REFERENCE, demo, settings, [step], caplog)
    (seen,) = await run(door, demo, settings, [step], caplog)
    socket = door in SOCKET_DOORS
    reference_log = {
        "events": [
            {**event, "client": event["client"] is not None if socket else event["client"]}
            for event in want.log["events"]
        ],
        "tracebacks": want.log["tracebacks"],
    }
    assert len(want.log["events"]) == 1 and want.log["tracebacks"] == 0
    assert seen.log == reference_log, "; ".join(differences(seen.log, reference_log))


# -- subscriptions, both protocols ----------------------------------------------------------------

SOCKET_REFERENCE = f"ws:{TRANSPORT_WS}:create_app"
COUNTDOWN = "subscription { countdown(start: 3) }"


@pytest.mark.parametrize("door", LEGACY_SOCKETS + QUERY_SOCKETS[1:])
async def test_a_subscription_streams_alike(door: str, caplog: pytest.LogCaptureFixture) -> None:
    _, (seen,) = await compare(
        door, [post({"query": COUNTDOWN})], caplog, reference=SOCKET_REFERENCE
    )
    assert [event["data"]["countdown"] for event in seen.answer.events] == [3, 2, 1]


SUBSCRIPTION_REFUSALS = {
    "too-many-aliases": (
        post({"query": "subscription { a: countdown(start: 1) }"}),
        config(max_aliases=0),
        "ALIAS_LIMIT_EXCEEDED",
    ),
    "unknown-field": (
        post({"query": "subscription { countdowns }"}),
        BASE,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "bad-token": (
        post({"query": COUNTDOWN}, bearer(token(sub="1", secret="z" * 40))),
        BASE,
        "UNAUTHENTICATED",
    ),
}


@pytest.mark.parametrize("case", list(SUBSCRIPTION_REFUSALS))
@pytest.mark.parametrize("door", LEGACY_SOCKETS + QUERY_SOCKETS[1:])
async def test_a_refused_subscription_is_coded_alike(
    door: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    step, settings, code = SUBSCRIPTION_REFUSALS[case]
    (want,), (seen,) = await compare(
        door, [step], caplog, settings=settings, reference=SOCKET_REFERENCE
    )
    assert codes(want.answer) == [code] and codes(seen.answer) == [code]


# -- Strawberry's own views: the extension alone -------------------------------------------------

# What the extension decides from its hooks: every verdict on an operation. The transport is
# the view's own there (its words for a malformed body, its batching, GET's rules), and the
# syntax error Strawberry reports itself: those cases are the views' (README).
EXTENSION_CASES = [
    name
    for name, case in HOSTILE.items()
    if case.step.params is None
    and isinstance(case.step.body, dict)
    and name not in ("syntax-error", "oversized-body")
]


@pytest.mark.parametrize("operation", list(ACCEPTED))
@pytest.mark.parametrize("door", list(EXTENSION_DOORS))
async def test_the_extension_alone_answers_the_accepted_corpus_alike(
    door: str, operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    step = post(
        {
            "query": MANIFEST[operation]["body"],
            "variables": ACCEPTED[operation],
            "operationName": operation,
        }
    )
    (want,) = await run(REFERENCE, demo, BASE, [step], caplog)
    (seen,) = await run(door, demo, BASE, [step], caplog)
    assert seen.answer.status == 200 and want.answer.body["data"]
    assert seen.answer.body.get("data") == want.answer.body["data"]
    assert codes(seen.answer) == codes(want.answer)


@pytest.mark.parametrize("case", EXTENSION_CASES)
@pytest.mark.parametrize("door", list(EXTENSION_DOORS))
async def test_the_extension_alone_refuses_the_hostile_corpus_alike(
    door: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    hostile = HOSTILE[case]
    (seen,) = await run(door, demo, hostile.settings, [hostile.step], caplog)
    assert codes(seen.answer) == [hostile.code]
    assert seen.answer.body.get("data") is None, "nothing ran"
    assert [e["codes"] for e in seen.log["events"]] == [[hostile.code]]
