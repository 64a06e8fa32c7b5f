"""Real clients against the demo under uvicorn (issue 16): Apollo Client 4 (APQ over POST and
GET, a safelist built from the manifest), Apollo's manifest generator, graphql-http's audit,
graphql-ws's createClient on the WebSocket door (the README's browser-style client,
examples/countdown.mjs, run by tests/interop/subscribe.mjs).

The node packages are pinned by tests/interop/package-lock.json and installed with `npm ci`
(`make interop`). Without node these tests skip with the reason; under CI=true they fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from gqlguard.manifest import build_manifest, read_operation_files

from .servers import ROOT, require, serve

pytestmark = [pytest.mark.interop, pytest.mark.slow]

INTEROP = ROOT / "tests" / "interop"
MANIFEST = ROOT / "persisted_queries" / "manifest.json"
# What graphql-http's audit checks with `query Type($name: String!) { __type(name: $name) … }`:
# introspection, so with the defaults (introspection off) these two do not pass.
NEEDS_INTROSPECTION = {"2EA1", "28B9"}
PACKAGES = json.loads((INTEROP / "package.json").read_text(encoding="utf-8"))["dependencies"]
# The demo's countdown(start: 3) yields 3, 2, 1 and completes.
COUNTDOWN = [{"countdown": 3}, {"countdown": 2}, {"countdown": 1}]
# One field, 60 directives: over the demo's max_directives (50). The limit answers before
# validation, which would refuse the repeated @include too (GRAPHQL_VALIDATION_FAILED).
DIRECTIVE_FLOOD = "subscription { countdown(start: 3) " + "@include(if: true) " * 60 + "}"
# How graphql-ws closes a connection it no longer needs (lazy: once its last operation ended).
CLIENT_CLOSE = {"code": 1000, "reason": "Normal Closure"}


@pytest.fixture(scope="module")
def node() -> Iterator[str]:
    binary = shutil.which("node")
    require(
        binary is not None and shutil.which("npm") is not None, "node and npm are not installed"
    )
    assert binary is not None
    if not all((INTEROP / "node_modules" / name).is_dir() for name in PACKAGES):
        subprocess.run(["npm", "ci", "--silent"], cwd=INTEROP, check=True, timeout=600)
    yield binary


def run_node(node: str, *arguments: str) -> Any:
    run = subprocess.run(
        [node, *arguments], cwd=INTEROP, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(run.stdout)


def code(request: dict[str, Any]) -> str | None:
    errors = request["response"].get("errors") or [{}]
    value: str | None = errors[0].get("extensions", {}).get("code")
    return value


def sent_query(request: dict[str, Any]) -> bool:
    return "query" in (request["body"] or {}) or "query=" in request["url"]


def test_apollo_client_4_apq_over_post(node: str) -> None:
    with serve(env={"GQLGUARD_PERSISTED_MODE": "apq"}) as url:
        outcome = run_node(node, "apollo.mjs", url, "apq-post")
    steps = [(r["method"], sent_query(r), code(r)) for r in outcome["requests"]]
    # Hash only (unknown), then hash + query (registered), then hash only (a hit).
    assert steps == [
        ("POST", False, "PERSISTED_QUERY_NOT_FOUND"),
        ("POST", True, None),
        ("POST", False, None),
    ]
    first, second = outcome["results"]
    assert first == second and len(first["posts"]) == 2


def test_apollo_client_4_apq_over_get_with_shared_caching(node: str) -> None:
    env = {
        "GQLGUARD_PERSISTED_MODE": "apq",
        "GQLGUARD_PERSISTED_GET_CACHE_CONTROL": "public, max-age=300",
    }
    with serve(env=env) as url:
        outcome = run_node(node, "apollo.mjs", url, "apq-get")
    steps = [(r["method"], sent_query(r), code(r), r["cacheControl"]) for r in outcome["requests"]]
    assert steps == [
        ("GET", False, "PERSISTED_QUERY_NOT_FOUND", "private, no-cache, must-revalidate"),
        ("POST", True, None, "no-store"),
        ("GET", False, None, "public, max-age=300"),  # the only response a CDN may keep
    ]
    assert outcome["results"][0] == outcome["results"][1]


def test_apollos_generator_writes_our_manifest_byte_for_byte(node: str) -> None:
    output = INTEROP / "apollo-manifest.json"
    output.unlink(missing_ok=True)
    generator = INTEROP / "node_modules" / ".bin" / "generate-persisted-query-manifest"
    subprocess.run([str(generator)], cwd=INTEROP, capture_output=True, check=True, timeout=120)
    try:
        theirs = output.read_bytes()
    finally:
        output.unlink(missing_ok=True)
    committed = MANIFEST.read_bytes()
    written = build_manifest(read_operation_files(MANIFEST.parent)).to_json().encode()
    # Names and ids first, for a readable failure; then every byte, of the committed file and
    # of what `gqlguard manifest build` writes now.
    assert [(o["name"], o["id"]) for o in json.loads(theirs)["operations"]] == [
        (o["name"], o["id"]) for o in json.loads(committed)["operations"]
    ]
    assert committed == theirs
    assert written == theirs


def test_apollo_client_4_on_the_safelist_gets_full_data_cache_first(node: str) -> None:
    with serve(env={"GQLGUARD_PERSISTED_MODE": "safelist"}) as url:
        outcome = run_node(node, "apollo.mjs", url, "safelist", str(MANIFEST))
    (request,) = outcome["requests"]  # the second query is answered from the cache
    assert not sent_query(request) and code(request) is None
    user = outcome["results"][0]["user"]
    assert user["__typename"] == "User" and user["posts"][0]["author"]["__typename"] == "User"
    assert outcome["results"][0] == outcome["results"][1]


def test_graphql_http_audit_with_introspection_on_is_clean(node: str) -> None:
    with serve(env={"GQLGUARD_INTROSPECTION": "on"}) as url:
        results = run_node(node, "audit.mjs", url)
    problems = [r for r in results if r["status"] in {"error", "warn"}]
    assert problems == []
    assert len(results) > 50


def test_graphql_http_audit_with_the_defaults_differs_only_where_introspection_is_needed(
    node: str,
) -> None:
    with serve() as url:
        results = run_node(node, "audit.mjs", url)
    assert {r["id"] for r in results if r["status"] in {"error", "warn"}} == NEEDS_INTROSPECTION


def test_graphql_ws_client_from_the_demos_own_origin_gets_the_countdown_in_order(
    node: str,
) -> None:
    with serve() as url:
        outcome = run_node(node, "subscribe.mjs", url, "same-origin")
    assert outcome["origin"] == url.removesuffix("/graphql")  # what a page the demo serves sends
    assert [event.get("data") for event in outcome["events"]] == COUNTDOWN
    assert [event for event in outcome["events"] if "errors" in event] == []
    assert outcome["error"] is None
    # The server ended the subscription with `complete`, and the client then closed.
    assert outcome["closed"] == CLIENT_CLOSE


def test_graphql_ws_client_from_another_site_is_refused_at_the_handshake(node: str) -> None:
    with serve() as url:
        refused = run_node(node, "subscribe.mjs", url, "cross-site")
        # The same server, the same client, the page's own origin: only the Origin differs.
        accepted = run_node(node, "subscribe.mjs", url, "same-origin")
    assert refused["origin"] == "https://evil.example"
    assert refused["events"] == []
    # HTTP 403 instead of the upgrade (as `ws` reports it; a page's error Event has no text),
    # then the close a failed handshake gets in every client: 1006, no close frame.
    assert refused["error"] == {"event": "error", "message": "Unexpected server response: 403"}
    assert refused["closed"] == {"code": 1006, "reason": ""}
    assert [event.get("data") for event in accepted["events"]] == COUNTDOWN
    assert accepted["error"] is None


def test_graphql_ws_client_with_a_hostile_subscribe_gets_a_coded_error_and_no_event(
    node: str,
) -> None:
    with serve() as url:
        outcome = run_node(node, "subscribe.mjs", url, "same-origin", DIRECTIVE_FLOOD)
    assert outcome["events"] == []
    # The protocol's `error` message, coded, with the measure (expose_limits is on).
    assert outcome["error"]["codes"] == ["DIRECTIVE_LIMIT_EXCEEDED"]
    (error,) = outcome["error"]["errors"]
    assert error["extensions"] == {"code": "DIRECTIVE_LIMIT_EXCEEDED", "measured": 60, "limit": 50}
    # Not a close from the server: the connection stayed open until the client closed it.
    assert outcome["closed"] == CLIENT_CLOSE
