"""Schema reconnaissance: introspection in every disguise, suggestions, masked errors, clairvoyance."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import strawberry
from graphql import get_introspection_query

from gqlguard import GuardConfig
from gqlguard.starlette import create_app
from gqlguard.strawberry import GuardExtension

from .conftest import PREFLIGHT, make_client
from .servers import serve

SCHEMA_NAMES = re.compile(
    r"\b(User|Post|Comment|Product|Order|OrderStatus|SearchResult|UserConnection|Role|"
    r"CreatePostInput|PlaceOrderInput|OrderItemInput|Review|AuditEntry)\b"
)

DISGUISES: dict[str, dict[str, Any]] = {
    "plain": {"query": "{ __schema { queryType { name } } }"},
    "type": {"query": '{ __type(name: "User") { fields { name } } }'},
    "alias": {"query": "{ s: __schema { types { name } } }"},
    "named fragment": {
        "query": "query { ...F } fragment F on Query { __schema { types { name } } }"
    },
    "inline fragment": {"query": "{ ... on Query { __schema { types { name } } } }"},
    "second operation": {
        "query": "query A { __typename } query B { __schema { types { name } } }",
        "operationName": "B",
    },
    "comments and BOM between tokens": {
        "query": "\ufeff{ # look away\n \ufeff__schema # here\n { types { name } } }"
    },
    "skipped": {"query": "{ __schema @skip(if: true) { types { name } } __typename }"},
}


@pytest.mark.parametrize("payload", list(DISGUISES.values()), ids=list(DISGUISES))
async def test_introspection_is_off_in_every_disguise(
    payload: dict[str, Any], resolver_calls: list[int]
) -> None:
    async with make_client() as client:
        response = await client.post("/graphql", json=payload)
    body = response.json()
    assert [error["extensions"]["code"] for error in body["errors"]] == ["INTROSPECTION_DISABLED"]
    assert body.get("data") is None
    assert "__schema" not in response.text.replace("\\u005f", "_").split('"errors"')[0]
    assert resolver_calls == []  # nothing was executed


async def test_introspection_escaped_in_json_and_sent_by_get_and_batch() -> None:
    escaped = b'{"query": "{ \\u005f\\u005fschema { types { name } } }"}'
    async with make_client() as client:
        by_escape = await client.post(
            "/graphql", content=escaped, headers={"content-type": "application/json"}
        )
        by_get = await client.get(
            "/graphql", params={"query": "{ __schema { types { name } } }"}, headers=PREFLIGHT
        )
        by_batch = await client.post(
            "/graphql",
            json=[{"query": "{ __typename }"}, {"query": '{ __type(name: "Query") { name } }'}],
        )
    for response in (by_escape, by_get):
        assert response.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    first, second = by_batch.json()
    assert first == {"data": {"__typename": "Query"}, "extensions": first["extensions"]}
    assert second["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"


async def test_typename_is_always_allowed() -> None:
    async with make_client() as client:
        response = await client.post(
            "/graphql", json={"query": "{ __typename posts(limit: 1) { __typename } }"}
        )
    assert response.json()["data"] == {"__typename": "Query", "posts": [{"__typename": "Post"}]}


STANDARD = get_introspection_query(descriptions=True)
CIRCULAR = (
    "{ __schema { types { fields { type { fields { type { fields { type { fields { name }"
    " } } } } } } } } }"
)
DEEP_OF_TYPE = "{ __schema { types { " + "ofType { " * 14 + "name" + " }" * 14 + " } } }"
TWICE_STANDARD = (
    STANDARD.replace("__schema", "a: __schema", 1).replace(
        "query IntrospectionQuery {", "query IntrospectionQuery { b: __schema { ...Twice } "
    )
    + " fragment Twice on __Schema { types { ...FullType } }"
)


async def test_standard_introspection_passes_when_allowed_and_crafted_ones_do_not() -> None:
    config = GuardConfig(introspection="on")
    async with make_client(config) as client:
        standard = await client.post("/graphql", json={"query": STANDARD})
        rejected = {
            name: await client.post("/graphql", json={"query": query})
            for name, query in {
                "circular": CIRCULAR,
                "ofType chain": DEEP_OF_TYPE,
                "twice the standard": TWICE_STANDARD,
            }.items()
        }
    data = standard.json()["data"]["__schema"]
    assert "errors" not in standard.json()
    assert {"User", "Post", "Query"} <= {t["name"] for t in data["types"]}
    codes = {
        name: [e["extensions"]["code"] for e in r.json()["errors"]] for name, r in rejected.items()
    }
    assert codes["circular"][0] in {"COST_ESTIMATED_TOO_EXPENSIVE", "GRAPHQL_VALIDATION_FAILED"}
    assert codes["ofType chain"] == ["DEPTH_LIMIT_EXCEEDED"]
    assert "COST_ESTIMATED_TOO_EXPENSIVE" in codes["twice the standard"]
    for response in rejected.values():
        assert response.json().get("data") is None


async def test_introspection_does_not_widen_the_limits_of_ordinary_fields() -> None:
    deep = "posts(limit: 1) { author { " * 6 + "name" + " } }" * 6  # depth 13
    async with make_client(GuardConfig(introspection="on")) as client:
        response = await client.post(
            "/graphql", json={"query": "{ __schema { queryType { name } } " + deep + " }"}
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"


async def test_scopes_policy_asks_the_hook_and_denies_when_it_fails() -> None:
    calls: list[Any] = []

    def allow(context: Any) -> bool:
        calls.append(context)
        if context["request"].headers.get("x-role") == "broken":
            raise RuntimeError("hook bug")
        return context["request"].headers.get("x-role") == "admin"

    config = GuardConfig(introspection="scopes")
    schema = strawberry.Schema(
        query=Tiny, extensions=[GuardExtension(config, introspection_allowed=allow)]
    )
    app = create_app(schema, config)
    import httpx

    query = {"query": "{ __schema { queryType { name } } }"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        admin = await client.post("/graphql", json=query, headers={"x-role": "admin"})
        other = await client.post("/graphql", json=query, headers={"x-role": "guest"})
        broken = await client.post("/graphql", json=query, headers={"x-role": "broken"})
    assert admin.json()["data"] == {"__schema": {"queryType": {"name": "Tiny"}}}
    assert other.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert broken.json()["errors"][0]["extensions"]["code"] == "INTROSPECTION_DISABLED"
    assert len(calls) == 3


@strawberry.type
class Tiny:
    @strawberry.field
    def ok(self) -> int:
        return 1

    @strawberry.field
    def boom(self) -> int | None:
        raise RuntimeError("database password is hunter2 at /srv/app/db.py")


# -- suggestions and masking ------------------------------------------------------------

PROBES: dict[str, dict[str, Any]] = {
    "unknown field": {"query": "{ posts { titl } }"},
    "clairvoyance probe": {"query": "{ IAmWrongField }"},
    "unknown argument": {"query": "{ posts(limt: 1) { title } }"},
    "unknown type in variables": {"query": "query($x: Strin) { posts { title } }"},
    "unknown directive": {"query": "{ posts @skp(if: true) { title } }"},
    "misspelled enum value": {
        "query": "query($s: OrderStatus!) { __typename }",
        "variables": {"s": "PAYED"},
    },
    "unknown input field": {
        "query": "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }",
        "variables": {"i": {"title": "t", "body": "b", "bodyy": "x"}},
    },
    "missing subselection": {"query": "{ posts }"},
    "64 guessed siblings": {
        "query": "{ " + " ".join(f"guess{i}" for i in range(64)) + " posts { title } }"
    },
    "64 guessed arguments": {
        "query": "{ posts(" + ", ".join(f"arg{i}: 1" for i in range(64)) + ") { title } }"
    },
}


@pytest.mark.parametrize("payload", list(PROBES.values()), ids=list(PROBES))
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
async def test_probes_get_generic_errors_and_no_suggestions(
    payload: dict[str, Any], masked: bool, resolver_calls: list[int]
) -> None:
    config = GuardConfig(mask_errors=masked, max_tokens=None)
    async with make_client(config) as client:
        response = await client.post("/graphql", json=payload)
    body = response.json()
    assert response.status_code == 200
    assert body.get("data") is None
    assert "Did you mean" not in response.text
    assert {error["extensions"]["code"] for error in body["errors"]} == {
        "GRAPHQL_VALIDATION_FAILED"
    }
    assert len(body["errors"]) <= config.max_errors
    assert resolver_calls == []  # nothing was executed
    if masked:
        assert len(body["errors"]) == 1
        assert "locations" not in body["errors"][0]
        assert "'" not in body["errors"][0]["message"]
    leaked = set(SCHEMA_NAMES.findall(response.text)) - set(
        SCHEMA_NAMES.findall(json.dumps(payload))
    )
    assert not leaked


async def test_unmasked_messages_keep_the_clients_own_words() -> None:
    async with make_client(GuardConfig.development()) as client:
        response = await client.post("/graphql", json={"query": "{ posts { titl } }"})
    message = response.json()["errors"][0]["message"]
    assert "'titl'" in message
    assert "'Post'" not in message and "<hidden>" in message


async def test_200_unknown_fields_give_a_handful_of_errors() -> None:
    query = "{ " + " ".join(f"f{i}" for i in range(200)) + " }"
    for masked in (True, False):
        async with make_client(GuardConfig(mask_errors=masked)) as client:
            body = (await client.post("/graphql", json={"query": query})).json()
        assert 1 <= len(body["errors"]) <= 5


async def test_resolver_errors_are_masked_capped_and_logged_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import httpx

    config = GuardConfig(max_aliases=None, max_tokens=None, max_errors=3)
    schema = strawberry.Schema(query=Tiny, extensions=[GuardExtension(config)])
    app = create_app(schema, config)
    query = "{ ok " + " ".join(f"b{i}: boom" for i in range(1_000)) + " }"
    caplog.set_level(logging.ERROR, logger="gqlguard.execution")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.post(
            "/graphql", json={"query": query}, headers={"x-request-id": "req-42"}
        )
    body = response.json()
    assert response.status_code == 200
    assert body["data"]["ok"] == 1 and body["data"]["b999"] is None
    assert len(body["errors"]) == 3
    for error in body["errors"]:
        assert error["message"] == "Unexpected error."
        assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
        assert error["path"][0].startswith("b")
    assert "hunter2" not in response.text and "/srv" not in response.text
    logged = [r for r in caplog.records if r.name == "gqlguard.execution"]
    assert logged and "req-42" in logged[0].getMessage() and "hunter2" in logged[0].getMessage()


def test_development_preset_unmasks_but_keeps_every_limit() -> None:
    development = GuardConfig.development()
    assert development.mask_errors is False
    assert development.introspection == "on"
    assert development.max_depth == GuardConfig().max_depth
    assert development.max_cost == GuardConfig().max_cost


# -- a real attacker: clairvoyance -------------------------------------------------------

WORDLIST = [
    # real names of the demo schema
    "posts", "title", "users", "name", "email", "search", "limit", "viewer", "product",
    # decoys
    "banana", "secretFlag", "password", "adminPanel", "salary",
]  # fmt: skip
ROOT_AND_BUILTIN = {"Query", "Mutation", "Subscription", "String", "ID", "Int", "Float", "Boolean"}


def _clairvoyance(url: str, words: list[str], tmp_path: Path) -> dict[str, Any] | None:
    wordlist = tmp_path / "words.txt"
    wordlist.write_text("\n".join(words) + "\n")
    output = tmp_path / "schema.json"
    executable = shutil.which("clairvoyance", path=str(Path(sys.executable).parent))
    assert executable is not None, "clairvoyance is a dev dependency"
    subprocess.run(
        [executable, "-w", str(wordlist), "-o", str(output), "-m", "1", url],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if not output.exists():
        return None  # it gave up: nothing recovered
    schema: dict[str, Any] = json.loads(output.read_text())["data"]["__schema"]
    return schema


def _recovered_names(schema: dict[str, Any] | None) -> set[str]:
    names: set[str] = set()
    for named in (schema or {}).get("types", []):
        names.add(named["name"])
        for field in named.get("fields") or []:
            names.add(field["name"])
            ref = field["type"]
            while ref:
                if ref.get("name"):
                    names.add(ref["name"])
                ref = ref.get("ofType")
            for argument in field.get("args") or []:
                names.add(argument["name"])
    return names


@pytest.mark.slow
def test_clairvoyance_learns_the_schema_of_an_unguarded_server(tmp_path: Path) -> None:
    # The control: the same tool, the same schema, no gqlguard. It must learn names.
    with serve("tests.unguarded_app:app") as url:
        recovered = _recovered_names(_clairvoyance(url, ["posts", "title", "banana"], tmp_path))
    assert "Post" in recovered


@pytest.mark.slow
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_clairvoyance_learns_nothing_from_the_demo(masked: bool, tmp_path: Path) -> None:
    env = {} if masked else {"GQLGUARD_MASK_ERRORS": "false"}
    with serve(env=env) as url:
        schema = _clairvoyance(url, WORDLIST, tmp_path)
    recovered = _recovered_names(schema)
    types = {named["name"] for named in (schema or {}).get("types", [])}
    assert types <= ROOT_AND_BUILTIN
    assert recovered <= set(WORDLIST) | ROOT_AND_BUILTIN | {"dummy"}
