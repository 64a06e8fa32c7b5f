"""Issue 23: no schema oracle. A name the caller may not know (one the schema lacks, or, with
``hide_unauthorized_fields``, one it may not use) is answered exactly like a misspelt one
whatever limit the document is over; a field it may not use never counts toward a limit
(its weight is never `measured`); documents naming only usable fields keep the
cheapest-check-first order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from graphql import ASTValidationRule, ValidationContext, build_schema, specified_rules

from gqlguard import DIRECTIVES_SDL, Guard, GuardConfig
from gqlguard.starlette import create_app
from schema_example.app import demo_config
from schema_example.schema import DEMO_POLICIES
from schema_example.schema import build_schema as build_demo_schema

from .test_authorization import post, token

# Twelve levels under the field (max_depth is 10).
DEEP = "actor {" + " posts(limit: 1) { author {" * 5 + " id" + " } }" * 5 + " }"
ALIASES = " ".join(f"a{i}: id" for i in range(40))

# Documents over one limit each because of what they ask of `auditLog` (admin only).
OVER_A_LIMIT = {
    "cost": "{ NAME(limit: 100) { actor { posts(limit: 100) { title } } } }",
    "depth": "{ NAME(limit: 1) { " + DEEP + " } }",
    "aliases": "{ NAME(limit: 1) { " + ALIASES + " } }",
    "list size": "{ NAME(limit: 100000) { id } }",
    "cost beside a usable field": (
        "{ posts(limit: 100) { comments(limit: 100) { body } } NAME(limit: 1) { id } }"
    ),
    "fragment": "{ ...F } fragment F on Query { NAME(limit: 1000) { actor { id } } }",
}
CHEAP = "{ NAME(limit: 1) { id } }"


def _as(name: str, text: str) -> str:
    return text.replace("NAME", name)


@pytest.mark.parametrize("mode", ["filter", "reject", "dry_run"])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("limit", list(OVER_A_LIMIT), ids=list(OVER_A_LIMIT))
async def test_hidden_names_answer_like_misspelt_ones_over_every_limit(
    mode: str, masked: bool, limit: str
) -> None:
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "mask_errors": masked, "authorization_mode": mode}
    )
    text = OVER_A_LIMIT[limit]
    hidden, context = await post(_as("auditLog", text), token("users:read"), config)
    unknown, _ = await post(_as("auditLogz", text), token("users:read"), config)
    assert hidden.status_code == unknown.status_code
    assert hidden.text.replace("auditLog", "auditLogz") == unknown.text, limit
    assert "GRAPHQL_VALIDATION_FAILED" in hidden.text
    assert not context.get("resolved")
    # The admin may know it: then the limit answers, as for any usable field.
    admin, _ = await post(_as("auditLog", text), token("admin"), config)
    assert "GRAPHQL_VALIDATION_FAILED" not in admin.text


@pytest.mark.parametrize("masked", [True, False])
async def test_a_hidden_mutation_answers_like_a_misspelt_one(masked: bool) -> None:
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "mask_errors": masked, "max_cost": 1}
    )
    text = 'mutation { NAME(id: "1") }'
    hidden, _ = await post(_as("deleteUser", text), token("users:read"), config)
    unknown, _ = await post(_as("deleteUserz", text), token("users:read"), config)
    assert hidden.text.replace("deleteUser", "deleteUserz") == unknown.text


@pytest.mark.parametrize("mode", ["filter", "reject"])
@pytest.mark.parametrize("limit", list(OVER_A_LIMIT), ids=list(OVER_A_LIMIT))
async def test_without_hiding_a_denied_field_never_trips_a_limit(mode: str, limit: str) -> None:
    # The demo's default: masked errors, unauthorized fields not hidden. A denied field
    # never runs, so its cost, depth and aliases count for nothing: the expensive document
    # gets the answer the cheap one gets, and nothing tells its weight.
    config = demo_config().model_copy(update={"authorization_mode": mode})
    text = OVER_A_LIMIT[limit]
    if "posts(limit: 100) { comments" in text:
        return  # over a limit with what the caller may use: see the next test
    expensive, _ = await post(_as("auditLog", text), token("users:read"), config)
    cheap, _ = await post(_as("auditLog", CHEAP), token("users:read"), config)
    assert expensive.json()["errors"] == cheap.json()["errors"]
    assert expensive.json().get("data") == cheap.json().get("data")
    assert "measured" not in expensive.text and "LIMIT" not in expensive.text
    assert "EXPENSIVE" not in expensive.text
    # A name the schema lacks is answered by validation, whatever the document costs.
    misspelt, _ = await post(_as("auditLogz", text), token("users:read"), config)
    assert [e["extensions"]["code"] for e in misspelt.json()["errors"]] == [
        "GRAPHQL_VALIDATION_FAILED"
    ]


async def test_measured_never_includes_the_weight_of_a_denied_field() -> None:
    config = demo_config().model_copy(update={"authorization_mode": "reject"})
    usable = "{ posts(limit: 100) { comments(limit: 100) { body } } }"
    alone, _ = await post(usable, token("users:read"), config)
    assert alone.json()["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    with_denied, _ = await post(
        usable[:-1] + " auditLog(limit: 100) { actor { id } } }", token("users:read"), config
    )
    # Over the limit with what it may use, but naming what it may not: authorization
    # answers (as for the cheap form), never the cost, which would price `auditLog`.
    assert [e["extensions"]["code"] for e in with_denied.json()["errors"]] == [
        "UNAUTHORIZED_FIELD_OR_TYPE"
    ]
    assert "measured" not in with_denied.text


def recording_guard(config: GuardConfig) -> tuple[Guard, list[str]]:
    """A guard on the demo schema whose validation says, through a rule of its own, each
    time it runs (a public hook: the rules a guard validates with)."""
    validated: list[str] = []

    class Recording(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            validated.append("ran")

    schema = build_demo_schema(demo_config(), guarded=False)
    rules = [*specified_rules, Recording]
    return Guard(schema, config, validation_rules=rules, policies=DEMO_POLICIES), validated


def test_documents_naming_only_usable_fields_keep_the_cheapest_check_first() -> None:
    guard, validated = recording_guard(GuardConfig())
    known = guard.check("{ posts(limit: 100) { comments(limit: 100) { body } } }")
    assert known.errors[0].code.value == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert validated == []  # refused by the limit, never validated
    unknown = guard.check("{ posts(limit: 100) { comments(limit: 100) { bodyz } } }")
    assert unknown.errors[0].code.value == "GRAPHQL_VALIDATION_FAILED"
    assert validated == ["ran"]


# Found by an attacker's run: with hiding, every answer — variable errors, unmasked
# validation messages, the work meter — must be the misspelt name's.
HIDDEN_PAIRS = {
    "variables": ("query($x: Int!) { posts(limit: $x) { title } NAME { id } }", None),
    "bad argument": ('{ NAME(limit: "x") { id } }', None),
    "unknown subfield": ("{ NAME { nope } }", None),
    "no subselection": ("{ NAME }", None),
    "mutation variables": ("mutation($id: ID!) { deleteNAME(id: $id) }", None),
}


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("shape", list(HIDDEN_PAIRS), ids=list(HIDDEN_PAIRS))
async def test_every_hidden_answer_is_a_misspelt_one(masked: bool, shape: str) -> None:
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "mask_errors": masked}
    )
    text, variables = HIDDEN_PAIRS[shape]
    real = "User" if "deleteNAME" in text else "auditLog"
    hidden_text = text.replace("deleteNAME", "deleteUser").replace("NAME", "auditLog")
    unknown_text = text.replace("deleteNAME", "deleteUserz").replace("NAME", "auditLogz")
    hidden, _ = await post(hidden_text, token("users:read"), config, variables=variables)
    unknown, _ = await post(unknown_text, token("users:read"), config, variables=variables)
    misspelt = real + "z" if real == "auditLog" else "Userz"
    assert hidden.text.replace(real, misspelt) == unknown.text, shape


@pytest.mark.parametrize("repeats", [40, 60, 63, 66, 70, 90])
async def test_the_work_meter_cannot_tell_a_hidden_field_from_a_misspelt_one(repeats: int) -> None:
    config = demo_config().model_copy(update={"hide_unauthorized_fields": True})
    text = "{ NAME(limit: 1) { " + " ".join(["id"] * repeats) + " } }"
    hidden, _ = await post(_as("auditLog", text), token("users:read"), config)
    unknown, _ = await post(_as("auditLogz", text), token("users:read"), config)
    assert hidden.text.replace("auditLog", "auditLogz") == unknown.text


async def test_introspection_shows_only_the_principals_schema() -> None:
    # AuditEntry is reachable only through admin-only `auditLog`: a hidden type is as
    # unknown as a misspelt one, in fragments and in introspection alike.
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "introspection": "on", "mask_errors": False}
    )
    reader = token("users:read")
    named, _ = await post('{ __type(name: "AuditEntry") { name } }', reader, config)
    misspelt, _ = await post('{ __type(name: "AuditEntryz") { name } }', reader, config)
    assert named.json()["data"] == misspelt.json()["data"] == {"__type": None}
    types, _ = await post("{ __schema { types { name } } }", reader, config)
    names = {t["name"] for t in types.json()["data"]["__schema"]["types"]}
    assert "AuditEntry" not in names and "User" in names
    spread, _ = await post("{ ... on AuditEntry { id } }", reader, config)
    spread_z, _ = await post("{ ... on AuditEntryz { id } }", reader, config)
    assert spread.text.replace("AuditEntry", "AuditEntryz") == spread_z.text
    admin, _ = await post('{ __type(name: "AuditEntry") { name } }', token("admin"), config)
    assert admin.json()["data"] == {"__type": {"name": "AuditEntry"}}


def test_a_replayed_hidden_refusal_is_answered_from_the_cache() -> None:
    guard, validated = recording_guard(GuardConfig(hide_unauthorized_fields=True))
    for _ in range(3):
        verdict = guard.check("{ auditLog(limit: 1) { id } }")
        assert verdict.errors[0].code.value == "GRAPHQL_VALIDATION_FAILED"
    assert validated == ["ran"]  # the document and its refusal for this kind stay cached


# Found by a second attacker's run.


async def test_a_principal_that_may_query_nothing_still_knows_nothing() -> None:
    schema = build_schema(
        DIRECTIVES_SDL
        + 'type Query { secret: Secret @requiresScopes(scopes: [["admin"]]) }'
        + " type Secret { code: String }"
    )
    config = GuardConfig(hide_unauthorized_fields=True, mask_errors=False, introspection="on")
    guard = Guard(schema, config)
    hidden = guard.check("{ secret { nope } }").formatted_errors()
    misspelt = guard.check("{ secreq { nope } }").formatted_errors()
    assert json.dumps(hidden).replace("secret", "secreq") == json.dumps(misspelt)
    assert guard.check("{ __typename }").accepted
    app = create_app(schema, config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        found = await c.post("/graphql", json={"query": '{ __type(name: "Secret") { name } }'})
    assert found.json()["data"] == {"__type": None}


async def test_remembered_refusals_are_never_another_principals() -> None:
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "mask_errors": False}
    )
    app = create_app(build_demo_schema(config), config)
    text = "{ auditLog { idz } product(id: 1) { margin } }"
    misspelt = "{ auditLoq { idz } product(id: 1) { margim } }"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:

        async def ask(query: str, scope: str) -> str:
            headers = {"authorization": f"Bearer {token(scope)}"}
            return (await c.post("/graphql", json={"query": query}, headers=headers)).text

        await ask(text, "admin users:email")  # refused for the admin: `idz`
        reader = await ask(text, "users:read")
        reader_misspelt = await ask(misspelt, "users:read")
    assert reader.replace("auditLog", "auditLoq").replace("margin", "margim") == reader_misspelt


async def test_the_mutation_root_and_hidden_input_types_are_unknown_too() -> None:
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "introspection": "on", "mask_errors": False}
    )
    mutation, _ = await post("mutation { __typename }", None, config)
    # What a schema without that root answers (graphql-core's words, through the guard).
    absent = Guard(build_schema("type Query { a: Int }"), config).check("mutation { __typename }")
    assert mutation.json() == {"errors": absent.formatted_errors()}
    roots, _ = await post(
        "{ __schema { mutationType { name } subscriptionType { name } } }", None, config
    )
    assert roots.json()["data"] == {
        "__schema": {"mutationType": None, "subscriptionType": {"name": "Subscription"}}
    }
    typed, _ = await post('{ __type(name: "PlaceOrderInput") { name } }', None, config)
    assert typed.json()["data"] == {"__type": None}
    variable, _ = await post("query($x: PlaceOrderInput) { __typename }", None, config)
    variable_z, _ = await post("query($x: PlaceOrderInpuz) { __typename }", None, config)
    assert variable.text.replace("PlaceOrderInput", "PlaceOrderInpuz") == variable_z.text


def test_with_hiding_every_policy_runs_whatever_the_document_names() -> None:
    calls: list[str] = []

    def slow(principal: Any, request: Any) -> bool:
        calls.append("slow")  # a policy doing I/O: its time must not tell a name exists
        return False

    schema = build_schema(
        DIRECTIVES_SDL + 'type Query { b: Int @policy(policies: [["slow"]]) c: Int }'
    )
    guard = Guard(schema, GuardConfig(hide_unauthorized_fields=True), policies={"slow": slow})
    guard.check("{ b c }")
    named = len(calls)
    guard.check("{ bz c }")
    assert named == 1 and len(calls) == 2  # the misspelt document ran it too


async def test_a_hash_for_a_document_a_principal_may_not_know_is_a_miss() -> None:
    config = demo_config().model_copy(
        update={"hide_unauthorized_fields": True, "persisted_mode": "apq"}
    )
    app = create_app(build_demo_schema(config), config)
    query = "{ auditLog(limit: 1) { id } }"
    sha = hashlib.sha256(query.encode()).hexdigest()
    never = hashlib.sha256(b"{ never }").hexdigest()

    def apq(digest: str) -> dict[str, Any]:
        return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}

    admin = {"authorization": f"Bearer {token('admin')}"}
    reader = {"authorization": f"Bearer {token('users:read')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        stored = await c.post("/graphql", json={"query": query, **apq(sha)}, headers=admin)
        assert "errors" not in stored.json()
        known = await c.post("/graphql", json=apq(sha), headers=reader)
        unknown = await c.post("/graphql", json=apq(never), headers=reader)
        again = await c.post("/graphql", json=apq(sha), headers=admin)
    assert known.status_code == unknown.status_code
    assert known.json() == unknown.json()
    assert known.headers.get("cache-control") == unknown.headers.get("cache-control")
    assert "errors" not in again.json()  # the admin's registration still serves the admin


async def test_an_authenticated_get_is_never_marked_for_shared_caches() -> None:
    from gqlguard.authorization import Principal

    config = demo_config().model_copy(
        update={
            "persisted_mode": "apq",
            "persisted_get_cache_control": "public, max-age=300",
            "csrf_prevention": False,
        }
    )

    def api_key(request: Any) -> Principal | None:
        key = request.headers.get("x-api-key")
        return Principal("9", frozenset({"admin"})) if key == "k" else None

    app = create_app(build_demo_schema(config), config, authenticate=api_key)
    query = "{ auditLog(limit: 1) { id } }"
    sha = hashlib.sha256(query.encode()).hexdigest()
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha}})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await c.post(
            "/graphql",
            json={"query": query, "extensions": json.loads(extensions)},
            headers={"x-api-key": "k"},
        )
        got = await c.get("/graphql", params={"extensions": extensions}, headers={"x-api-key": "k"})
    assert got.status_code == 200 and "errors" not in got.json()
    assert "public" not in got.headers.get("cache-control", "")
