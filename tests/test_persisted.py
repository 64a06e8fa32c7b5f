"""Persisted queries: manifest CLI, APQ and documentId over HTTP, safelisting, stores."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from gqlguard import GuardConfig
from gqlguard.cli import main as cli
from gqlguard.manifest import Manifest, ManifestError, build_manifest
from gqlguard.persisted import LocalStore, PersistedQueries
from gqlguard.starlette import create_app
from schema_example.app import DEMO_MANIFEST, demo_config
from schema_example.schema import build_schema as build_demo_schema

from .conftest import PREFLIGHT, guarded_app
from .servers import REDIS_URL, RedisServer, serve

MANIFEST = Manifest.load(DEMO_MANIFEST)
RECENT = next(op for op in MANIFEST.operations if op.name == "RecentPosts")
NO_CACHE = "private, no-cache, must-revalidate"
UNLISTED = "{ posts(limit: 2) { id title } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(sha256: Any, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256}}


def client(mode: str = "apq", **changes: Any) -> httpx.AsyncClient:
    config = demo_config().model_copy(
        update={"persisted_mode": mode, "persisted_manifest": str(DEMO_MANIFEST), **changes}
    )
    app = guarded_app(build_demo_schema(config), config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


def code_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


# -- the manifest ---------------------------------------------------------------------------


def test_committed_manifest_is_current_and_within_limits(capsys: Any) -> None:
    assert cli(["manifest", "check", "persisted_queries/"]) == 0
    assert "10 operations within every limit" in capsys.readouterr().out
    assert len(MANIFEST.operations) >= 8
    kinds = {op.type for op in MANIFEST.operations}
    assert kinds == {"query", "mutation"}


def test_ids_are_reproducible_whatever_the_files_look_like() -> None:
    tidy = build_manifest(
        {
            "a.graphql": "query Feed { posts(limit: 1) { ...P } }",
            "b.graphql": "fragment P on Post { id ...Q }\nfragment Q on Post { title }",
        }
    )
    messy = build_manifest(
        {
            "z.graphql": "# fragments first, odd spacing\nfragment Q on Post{title}",
            "y.graphql": "fragment P on Post {\n id\n ...Q }  query Feed{posts(limit:1){...P}}",
        }
    )
    assert tidy.to_json() == messy.to_json()
    (operation,) = tidy.operations
    # Apollo's order: the operation, then its fragments by name; printed by graphql-core.
    assert operation.body.index("query Feed") < operation.body.index("fragment P")
    assert operation.body.index("fragment P") < operation.body.index("fragment Q")
    assert operation.id == sha(operation.body)


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({"a.graphql": "query A { a } query A { b }"}, "operation A is also defined"),
        ({"a.graphql": "{ a }"}, "anonymous operation"),
        ({"a.graphql": "query A { ...Missing }"}, "unknown fragment Missing"),
        ({"a.graphql": "query A { a"}, "a.graphql:1:12"),
        ({"a.graphql": "type T { a: Int }"}, "only operations and fragments"),
        ({"a.graphql": "fragment F on Q { a }", "b.graphql": "fragment F on Q { b }"}, "also"),
    ],
)
def test_build_errors_are_clear(sources: dict[str, str], message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        build_manifest(sources)


def test_check_fails_on_a_stale_manifest_and_names_refused_operations(
    tmp_path: Path, capsys: Any
) -> None:
    operations = tmp_path / "ops"
    operations.mkdir()
    (operations / "feed.graphql").write_text("query Feed { posts(limit: 2) { title } }")
    assert cli(["manifest", "build", str(operations)]) == 0
    assert cli(["manifest", "check", str(operations)]) == 0
    # The same operations, reformatted (a newline added at the end): not Apollo's bytes.
    manifest = operations / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")
    capsys.readouterr()
    assert cli(["manifest", "check", str(operations)]) == 1
    assert "not byte for byte what gqlguard manifest build writes" in capsys.readouterr().err
    assert cli(["manifest", "build", str(operations)]) == 0
    (operations / "feed.graphql").write_text("query Feed { posts(limit: 3) { title } }")
    capsys.readouterr()
    assert cli(["manifest", "check", str(operations)]) == 1
    assert "stale (changed Feed)" in capsys.readouterr().err
    deep = "query Deep { posts(limit: 1) { author { posts(limit: 1) { author { name } } } } }"
    (operations / "deep.graphql").write_text(deep)
    config = tmp_path / "limits.toml"
    config.write_text("[tool.gqlguard]\nmax_depth = 4\n")
    assert cli(["manifest", "build", str(operations), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "Deep: DEPTH_LIMIT_EXCEEDED" in err and "(measured 5, limit 4)" in err
    assert "manifest not written" in err
    (operations / "deep.graphql").write_text("query Bad { nope }")
    assert cli(["manifest", "build", str(operations)]) == 1
    assert "Bad: GRAPHQL_VALIDATION_FAILED" in capsys.readouterr().err


def test_a_tampered_manifest_never_loads(tmp_path: Path) -> None:
    document = json.loads(DEMO_MANIFEST.read_text())
    document["operations"][0]["body"] = "query Evil { auditLog { action } }"
    tampered = tmp_path / "manifest.json"
    tampered.write_text(json.dumps(document))
    with pytest.raises(ManifestError, match="not the sha256 of its body"):
        Manifest.load(tampered)
    config = GuardConfig(persisted_mode="safelist", persisted_manifest=str(tampered))
    with pytest.raises(ManifestError):
        PersistedQueries(config)  # a server with an unusable safelist does not start


# -- APQ and documentId over HTTP -------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_apq_miss_register_hit(method: str, resolver_calls: list[int]) -> None:
    query = "{ posts(limit: 2) { title } }"
    hash_only = {"extensions": apq(sha(query))}
    full = {"query": query, "extensions": apq(sha(query))}

    async def send(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
        if method == "POST":
            return await http.post("/graphql", json=body)
        params = {
            key: json.dumps(value) if key == "extensions" else value for key, value in body.items()
        }
        return await http.get("/graphql", params=params, headers=PREFLIGHT)

    async with client("apq") as http:
        miss = await send(http, hash_only)
        assert miss.status_code == 200  # Apollo's client retries with the query on a 200 miss
        assert miss.json()["errors"][0] == {
            "message": "PersistedQueryNotFound",
            "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
        }
        assert miss.headers["cache-control"] == NO_CACHE
        registered = await send(http, full)
        hit = await send(http, hash_only)
    assert registered.status_code == hit.status_code == 200
    assert registered.json()["data"] == hit.json()["data"]
    assert len(hit.json()["data"]["posts"]) == 2
    assert resolver_calls[-2:] == [3, 3]  # posts + 2 titles, both times; the miss ran nothing
    assert len(resolver_calls) == 2


async def test_document_id_runs_safelisted_operations_in_every_mode_but_off() -> None:
    body = {"documentId": f"sha256:{RECENT.id}", "variables": {"limit": 1}}
    for mode in ("apq", "log_unknown", "safelist"):
        async with client(mode) as http:
            response = await http.post("/graphql", json=body)
        assert response.status_code == 200, mode
        assert len(response.json()["data"]["posts"]) == 1
    async with client("off") as http:
        refused = await http.post("/graphql", json=body)
    assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
    assert refused.headers["cache-control"] == NO_CACHE


async def test_hash_mismatch_is_400_and_neither_runs_nor_registers(
    resolver_calls: list[int],
) -> None:
    query = "{ posts(limit: 1) { title } }"
    wrong = sha("{ posts(limit: 9) { title } }")
    async with client("apq") as http:
        mismatch = await http.post("/graphql", json={"query": query, "extensions": apq(wrong)})
        document = await http.post(
            "/graphql", json={"query": query, "documentId": f"sha256:{RECENT.id}"}
        )
        later = await http.post("/graphql", json={"extensions": apq(wrong)})
    assert (mismatch.status_code, code_of(mismatch)) == (400, "PERSISTED_QUERY_HASH_MISMATCH")
    assert (document.status_code, code_of(document)) == (400, "PERSISTED_QUERY_HASH_MISMATCH")
    assert mismatch.headers["cache-control"] == NO_CACHE
    assert code_of(later) == "PERSISTED_QUERY_NOT_FOUND"
    assert resolver_calls == []


async def test_registration_only_after_every_check_passes() -> None:
    deep = "{ posts(limit: 1) { author { posts(limit: 1) { author { name } } } } }"
    invalid = "{ posts(limit: 1) { nope } }"
    async with client("apq", max_depth=4) as http:
        for query, code in ((deep, "DEPTH_LIMIT_EXCEEDED"), (invalid, "GRAPHQL_VALIDATION_FAILED")):
            refused = await http.post(
                "/graphql", json={"query": query, "extensions": apq(sha(query))}
            )
            assert code_of(refused) == code
            again = await http.post("/graphql", json={"extensions": apq(sha(query))})
            assert code_of(again) == "PERSISTED_QUERY_NOT_FOUND"


async def test_safelist_mode_refuses_raw_queries_unknown_ids_and_registrations(
    resolver_calls: list[int],
) -> None:
    async with client("safelist") as http:
        raw = await http.post(
            "/graphql", json={"query": RECENT.body, "operationName": "RecentPosts"}
        )
        unknown = await http.post("/graphql", json={"extensions": apq(sha(UNLISTED))})
        registration = await http.post(
            "/graphql", json={"query": UNLISTED, "extensions": apq(sha(UNLISTED))}
        )
        listed = await http.post(
            "/graphql", json={"extensions": apq(RECENT.id), "variables": {"limit": 2}}
        )
    assert (raw.status_code, code_of(raw)) == (400, "PERSISTED_QUERY_ID_REQUIRED")
    assert (unknown.status_code, code_of(unknown)) == (404, "PERSISTED_QUERY_NOT_IN_LIST")
    assert (registration.status_code, code_of(registration)) == (404, "PERSISTED_QUERY_NOT_IN_LIST")
    for refused in (raw, unknown, registration):
        assert refused.headers["cache-control"] == NO_CACHE
        assert "data" not in refused.json()
    assert listed.status_code == 200 and len(listed.json()["data"]["posts"]) == 2
    assert len(resolver_calls) == 1  # only the listed operation ran


async def test_apq_registrations_never_extend_the_safelist() -> None:
    store = LocalStore(MANIFEST)
    config = demo_config().model_copy(update={"persisted_mode": "apq"})
    apq_stage = PersistedQueries(config, store)
    lookup = await apq_stage.lookup(UNLISTED, apq(sha(UNLISTED)))
    await apq_stage.register(lookup)
    safelist = PersistedQueries(config.model_copy(update={"persisted_mode": "safelist"}), store)
    assert (await apq_stage.lookup(None, apq(sha(UNLISTED)))).query == UNLISTED
    with pytest.raises(Exception, match="not in the safelist"):
        await safelist.lookup(None, apq(sha(UNLISTED)))


HOSTILE = {
    "uppercase": {"extensions": apq(RECENT.id.upper())},
    "63 characters": {"extensions": apq(RECENT.id[:63])},
    "65 characters": {"extensions": apq(RECENT.id + "0")},
    "trailing newline": {"extensions": apq(RECENT.id + "\n")},
    "integer": {"extensions": apq(12345)},
    "list": {"extensions": apq([RECENT.id])},
    "null": {"extensions": apq(None)},
    "unicode digits": {"extensions": apq("٣" * 64)},
    "fullwidth": {"extensions": apq("\uff41" * 64)},
    "version 2": {"extensions": apq(RECENT.id, version=2)},
    "version string": {"extensions": apq(RECENT.id, version="1")},
    "version true": {"extensions": apq(RECENT.id, version=True)},
    "persistedQuery not an object": {"extensions": {"persistedQuery": RECENT.id}},
    "documentId md5": {"documentId": "md5:" + "0" * 32},
    "documentId without prefix": {"documentId": RECENT.id},
    "documentId number": {"documentId": 7},
    "two different ids": {"documentId": f"sha256:{sha('x')}", "extensions": apq(RECENT.id)},
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_ids_are_400_and_change_nothing(
    body: dict[str, Any], resolver_calls: list[int]
) -> None:
    async with client("apq") as http:
        response = await http.post("/graphql", json={**body, "query": UNLISTED})
        hash_only = await http.post("/graphql", json=body)
        assert (await http.post("/graphql", json={"extensions": apq(sha(UNLISTED))})).json()[
            "errors"
        ][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"  # nothing was registered
    for refused in (response, hash_only):
        assert refused.status_code == 400
        assert code_of(refused) == "BAD_REQUEST"
        assert refused.headers["cache-control"] == NO_CACHE
    assert resolver_calls == []


async def test_log_unknown_logs_raw_queries_outside_the_safelist(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gqlguard.security")
    async with client("log_unknown") as http:
        listed = await http.post("/graphql", json={"query": RECENT.body, "variables": {"limit": 1}})
        unknown = await http.post("/graphql", json={"query": UNLISTED})
    assert listed.status_code == unknown.status_code == 200
    events = [
        json.loads(r.getMessage()) for r in caplog.records if "unknown_operation" in r.getMessage()
    ]
    assert [event["sha256"] for event in events] == [sha(UNLISTED)]
    assert events[0]["request_id"] == unknown.headers["x-request-id"]


async def test_a_persisted_hit_reuses_the_checked_document(monkeypatch: pytest.MonkeyPatch) -> None:
    from gqlguard import document_cache as guard_module

    parsed: list[str] = []
    original = guard_module.parse_document

    def counting(query: str, **options: Any) -> Any:
        parsed.append(query)
        return original(query, **options)

    monkeypatch.setattr(guard_module, "parse_document", counting)
    async with client("safelist") as http:
        for limit in (1, 2, 1, 2, 3):
            response = await http.post(
                "/graphql",
                json={"documentId": f"sha256:{RECENT.id}", "variables": {"limit": limit}},
            )
            assert len(response.json()["data"]["posts"]) == limit
            # The cost follows the variables; the document is parsed and validated once.
            assert response.json()["extensions"]["cost"]["requestedQueryCost"] == 5 + limit * 7
    assert parsed == [RECENT.body]


async def test_batches_answer_persisted_errors_per_element() -> None:
    async with client("apq") as http:
        response = await http.post(
            "/graphql",
            json=[
                {"extensions": apq(sha(UNLISTED))},
                {"documentId": f"sha256:{RECENT.id}", "variables": {"limit": 1}},
            ],
        )
    assert response.status_code == 200
    first, second = response.json()
    assert first["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert len(second["data"]["posts"]) == 1
    assert response.headers["cache-control"] == NO_CACHE


async def test_get_cannot_run_a_persisted_mutation() -> None:
    create = next(op for op in MANIFEST.operations if op.type == "mutation")
    async with client("safelist") as http:
        response = await http.get(
            "/graphql", params={"documentId": f"sha256:{create.id}"}, headers=PREFLIGHT
        )
    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"


# -- Redis -----------------------------------------------------------------------------------


def test_manifest_push_replaces_the_redis_safelist(redis_prefix: str, tmp_path: Path) -> None:
    import redis

    push = ["manifest", "push", "--redis", REDIS_URL, "--prefix", redis_prefix]
    assert cli([*push, "persisted_queries/"]) == 0
    safelist = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert safelist.hget(f"{redis_prefix}safelist", RECENT.id) == RECENT.body
    assert safelist.hlen(f"{redis_prefix}safelist") == len(MANIFEST.operations)
    smaller = Manifest(tuple(op for op in MANIFEST.operations if op.id != RECENT.id))
    (tmp_path / "manifest.json").write_text(smaller.to_json())
    assert cli([*push, str(tmp_path)]) == 0
    assert safelist.hget(f"{redis_prefix}safelist", RECENT.id) is None
    assert safelist.hlen(f"{redis_prefix}safelist") == len(MANIFEST.operations) - 1


@pytest.mark.slow
def test_two_processes_share_apq_registrations_through_redis(redis_prefix: str) -> None:
    env = {
        "GQLGUARD_PERSISTED_MODE": "apq",
        "GQLGUARD_PERSISTED_STORE": "redis",
        "GQLGUARD_PERSISTED_KEY_PREFIX": redis_prefix,
        "GQLGUARD_REDIS_URL": REDIS_URL,
    }
    query = "{ posts(limit: 3) { id } }"
    with serve(env=env) as first, serve(env=env) as second:
        miss = httpx.post(second, json={"extensions": apq(sha(query))}, timeout=10)
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = httpx.post(
            first, json={"query": query, "extensions": apq(sha(query))}, timeout=10
        )
        assert registered.status_code == 200
        hit = httpx.post(second, json={"extensions": apq(sha(query))}, timeout=10)
        assert hit.json()["data"] == registered.json()["data"]
        get_hit = httpx.get(
            second,
            params={"extensions": json.dumps(apq(sha(query)))},
            headers=PREFLIGHT,
            timeout=10,
        )
        assert get_hit.json()["data"] == registered.json()["data"]
    import redis

    ttl = redis.Redis.from_url(REDIS_URL).ttl(f"{redis_prefix}apq:{sha(query)}")
    assert 0 < ttl <= 86_400


@pytest.mark.slow
async def test_redis_stopped_mid_test(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer(tmp_path)
    try:
        outside_manifest = "{ posts(limit: 1) { id } }"
        for mode in ("apq", "safelist"):
            config = demo_config().model_copy(
                update={
                    "persisted_mode": mode,
                    "persisted_manifest": str(DEMO_MANIFEST),
                    "persisted_store": "redis",
                    "redis_url": server.url,
                    "persisted_key_prefix": f"{mode}:",
                }
            )
            app = create_app(build_demo_schema(config), config)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://demo"
            ) as http:
                if mode == "apq":
                    body = {"query": outside_manifest, "extensions": apq(sha(outside_manifest))}
                    assert (await http.post("/graphql", json=body)).status_code == 200
                    before = await http.post(
                        "/graphql", json={"extensions": apq(sha(outside_manifest))}
                    )
                    assert before.json()["data"] == {"posts": [{"id": "1"}]}
                    server.kill()
                caplog.clear()
                caplog.set_level(logging.INFO, logger="gqlguard.persisted")
                for _ in range(3):
                    listed = await http.post(
                        "/graphql",
                        json={"documentId": f"sha256:{RECENT.id}", "variables": {"limit": 1}},
                    )
                    assert listed.status_code == 200  # the local manifest answers
                    assert len(listed.json()["data"]["posts"]) == 1
                    registered = await http.post(
                        "/graphql", json={"extensions": apq(sha(outside_manifest))}
                    )
                    expected = (
                        "PERSISTED_QUERY_NOT_FOUND"
                        if mode == "apq"
                        else "PERSISTED_QUERY_NOT_IN_LIST"
                    )
                    assert code_of(registered) == expected
                    assert registered.status_code < 500
                outages = [r for r in caplog.records if "unreachable" in r.getMessage()]
                assert len(outages) == 1  # logged once, not per request
    finally:
        server.kill()


async def test_the_strawberry_extension_alone_speaks_apq() -> None:
    # Strawberry's own ASGI view, no gqlguard Starlette app: the extension runs the stage.
    from strawberry.asgi import GraphQL

    config = GuardConfig(persisted_mode="apq", persisted_manifest=str(DEMO_MANIFEST))
    app = GraphQL(build_demo_schema(config))
    query = "{ posts(limit: 2) { title } }"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://x"
    ) as http:
        miss = await http.post("/graphql", json={"extensions": apq(sha(query))})
        mismatch = await http.post(
            "/graphql", json={"query": UNLISTED, "extensions": apq(sha(query))}
        )
        registered = await http.post(
            "/graphql", json={"query": query, "extensions": apq(sha(query))}
        )
        hit = await http.post("/graphql", json={"extensions": apq(sha(query))})
        listed = await http.post(
            "/graphql", json={"extensions": apq(RECENT.id), "variables": {"limit": 1}}
        )
    assert (miss.status_code, code_of(miss)) == (200, "PERSISTED_QUERY_NOT_FOUND")
    assert (mismatch.status_code, code_of(mismatch)) == (400, "PERSISTED_QUERY_HASH_MISMATCH")
    assert miss.headers["cache-control"] == mismatch.headers["cache-control"] == NO_CACHE
    assert hit.json()["data"] == registered.json()["data"]
    assert len(hit.json()["data"]["posts"]) == 2
    assert len(listed.json()["data"]["posts"]) == 1


async def test_a_raw_query_can_never_name_a_cached_persisted_document() -> None:
    async with client("apq") as http:
        hit = await http.post(
            "/graphql", json={"documentId": f"sha256:{RECENT.id}", "variables": {"limit": 1}}
        )
        spoof = await http.post("/graphql", json={"query": f"sha256:{RECENT.id}"})
    assert len(hit.json()["data"]["posts"]) == 1
    assert code_of(spoof) == "GRAPHQL_PARSE_FAILED"


# -- other clients' persisted-document maps (issue 16) -----------------------------------------


@pytest.mark.parametrize("file_name", ["persisted-documents.json", "persisted-queries.json"])
def test_codegen_and_relay_maps_build_a_checked_manifest(
    file_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = "query Titles { posts(limit: 2) { title } }"
    deep = "query Deep { " + "posts(limit: 1) { author { " * 6 + "name" + " } }" * 6 + " }"
    path = tmp_path / file_name
    path.write_text(json.dumps({sha(good): good}))
    assert cli(["manifest", "build", str(path), "--schema", "schema_example.schema:schema"]) == 0
    built = Manifest.load(tmp_path / "manifest.json")
    assert [(op.id, op.body) for op in built.operations] == [(sha(good), good)]
    # The same limit checks as for .graphql files.
    path.write_text(json.dumps({"relay-md5-like-id": deep}))
    assert cli(["manifest", "build", str(path), "--schema", "schema_example.schema:schema"]) == 1
    assert "DEPTH_LIMIT_EXCEEDED" in capsys.readouterr().err


def test_a_map_whose_key_is_not_the_hash_of_its_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({"0" * 64: "query A { __typename }"}))
    assert cli(["manifest", "build", str(path), "--schema", "schema_example.schema:schema"]) == 2
