"""Issue 24, item 2: one protection at a time — exemptions of known persisted operations and
accept/reject callbacks, the same at every door."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from graphql import build_schema
from strawberry.asgi import GraphQL

from gqlguard import Guard, GuardConfig
from gqlguard.config import ConfigError
from gqlguard.guard import Verdict
from gqlguard.manifest import MANIFEST_FORMAT
from gqlguard.starlette import create_app
from gqlguard.strawberry import GuardExtension

from .conftest import PREFLIGHT


@strawberry.type
class Node:
    @strawberry.field
    def name(self) -> str:
        return "n"

    @strawberry.field
    def child(self) -> Node:
        return Node()


@strawberry.type
class Query:
    @strawberry.field
    def node(self) -> Node:
        return Node()


SDL = "type Node { name: String! child: Node! } type Query { node: Node! }"
# Depth 5 (over the limit of 3 below): the operator's known, persisted report.
DEEP = "query Deep { node { child { child { child { name } } } } }"
# The same operation name on another text: a client's claim, not the known document.
SPOOFED = "query Deep { node { child { child { child { child { name } } } } } }"


def manifest(tmp_path: Path, *bodies: tuple[str, str]) -> Path:
    path = tmp_path / "manifest.json"
    operations = [
        {
            "id": hashlib.sha256(body.encode()).hexdigest(),
            "name": name,
            "type": "query",
            "body": body,
        }
        for name, body in bodies
    ]
    path.write_text(json.dumps({"format": MANIFEST_FORMAT, "version": 1, "operations": operations}))
    return path


# The graphql-core schema's node: a dict that is its own child, read by the default resolver.
_NODE: dict[str, Any] = {"name": "n"}
_NODE["child"] = _NODE


def resolve_node(*_: Any) -> dict[str, Any]:
    return _NODE


DOORS = ["create_app_graphql_core", "create_app_strawberry", "strawberry_view", "execute_sync"]
Callbacks = dict[str, Callable[[Verdict, Any], None] | None]


async def ask(door: str, query: str, config: GuardConfig, **callbacks: Any) -> dict[str, Any]:
    """One operation at ``door``: the response body (``data`` and ``errors``)."""
    if door == "create_app_graphql_core":
        schema = build_schema(SDL)
        schema.query_type.fields["node"].resolve = resolve_node  # type: ignore[union-attr]
        app: Any = create_app(schema, config, **callbacks)
    else:
        strawberry_schema = strawberry.Schema(
            query=Query, extensions=[GuardExtension(config, **callbacks)]
        )
        if door == "execute_sync":
            result = await asyncio.to_thread(strawberry_schema.execute_sync, query)
            body: dict[str, Any] = {"data": result.data}
            if result.errors:
                body["errors"] = [error.formatted for error in result.errors]
            return body
        app = (
            create_app(strawberry_schema, config)
            if door == "create_app_strawberry"
            else GraphQL(strawberry_schema, graphql_ide=None)
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.post("/graphql", json={"query": query}, headers=PREFLIGHT)
    result_body: dict[str, Any] = response.json()
    return result_body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


# -- exemptions -------------------------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("by", ["name", "id"])
async def test_an_exempt_persisted_operation_is_served_over_a_limit_and_logged(
    door: str, by: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = manifest(tmp_path, ("Deep", DEEP))
    exemption = (
        {"exempt_operations": ("Deep",)}
        if by == "name"
        else {"exempt_persisted_ids": (hashlib.sha256(DEEP.encode()).hexdigest(),)}
    )
    config = GuardConfig(max_depth=3, persisted_manifest=str(path), **exemption)
    with caplog.at_level(logging.INFO, logger="gqlguard.security"):
        served = await ask(door, DEEP, config)
    assert codes(served) == []
    assert served["data"]["node"]["child"]["child"]["child"]["name"] == "n"
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gqlguard.security"]
    exempted = [event for event in events if event.get("exempt")]
    assert [(e["event"], e["codes"]) for e in exempted] == [("measured", ["DEPTH_LIMIT_EXCEEDED"])]
    assert exempted[0]["metrics"]["depth"] == 5
    # The client's operation name on another text exempts nothing.
    assert codes(await ask(door, SPOOFED, config)) == ["DEPTH_LIMIT_EXCEEDED"]


async def test_an_exempt_document_still_passes_the_pre_parse_limits_and_validation(
    tmp_path: Path,
) -> None:
    invalid = "query Bad { node { child { child { child { nope } } } } }"
    path = manifest(tmp_path, ("Deep", DEEP), ("Bad", invalid))
    exempt = {"persisted_manifest": str(path), "exempt_operations": ("Deep", "Bad")}
    guard = Guard(build_schema(SDL), GuardConfig(max_depth=3, **exempt))
    assert guard.check(DEEP).accepted
    assert [e.code.value for e in guard.check(invalid).errors] == ["GRAPHQL_VALIDATION_FAILED"]
    tight = Guard(build_schema(SDL), GuardConfig(max_depth=3, max_tokens=10, **exempt))
    assert [e.code.value for e in tight.check(DEEP).errors] == ["TOKEN_LIMIT_EXCEEDED"]


def test_an_exemption_must_name_an_operation_of_the_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="persisted_manifest, which is unset"):
        GuardConfig(exempt_operations=("Deep",))
    path = manifest(tmp_path, ("Deep", DEEP))
    with pytest.raises(ConfigError, match=r"exempt_operations 'Depp'.*not in the manifest"):
        Guard(
            build_schema(SDL),
            GuardConfig(persisted_manifest=str(path), exempt_operations=("Depp",)),
        )
    with pytest.raises(ConfigError, match="exempt_persisted_ids 'abc'"):
        Guard(
            build_schema(SDL), GuardConfig(persisted_manifest=str(path), exempt_persisted_ids="abc")
        )


# -- callbacks --------------------------------------------------------------------------------


@pytest.mark.parametrize("door", DOORS)
async def test_accept_and_reject_callbacks_run_once_per_operation_at_every_door(door: str) -> None:
    accepted: list[Verdict] = []
    rejected: list[Verdict] = []

    def on_accept(verdict: Verdict, context: Any) -> None:
        accepted.append(verdict)

    def on_reject(verdict: Verdict, context: Any) -> None:
        rejected.append(verdict)

    config = GuardConfig(max_depth=3)
    await ask(door, "{ node { name } }", config, on_accept=on_accept, on_reject=on_reject)
    assert (len(accepted), len(rejected)) == (1, 0)
    assert accepted[0].analysis is not None and accepted[0].analysis.depth == 2
    body = await ask(door, DEEP, config, on_accept=on_accept, on_reject=on_reject)
    assert codes(body) == ["DEPTH_LIMIT_EXCEEDED"]
    assert (len(accepted), len(rejected)) == (1, 1)
    assert [error.code.value for error in rejected[0].errors] == ["DEPTH_LIMIT_EXCEEDED"]


@pytest.mark.parametrize("door", DOORS)
async def test_a_raising_callback_changes_nothing_and_is_logged(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(verdict: Verdict, context: Any) -> None:
        raise RuntimeError("the callback's own bug")

    with caplog.at_level(logging.INFO, logger="gqlguard.security"):
        body = await ask(door, "{ node { name } }", GuardConfig(), on_accept=broken)
    assert (body["data"], codes(body)) == ({"node": {"name": "n"}}, [])
    failed = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "gqlguard.security" and "check_callback_failed" in r.getMessage()
    ]
    assert [(event["error"], event["level"]) for event in failed] == [("RuntimeError", "error")]
    assert not any(record.exc_info for record in caplog.records)


def test_an_async_callback_is_a_configuration_error() -> None:
    async def on_reject(verdict: Verdict, context: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="not async"):
        Guard(build_schema(SDL), GuardConfig(), on_reject=on_reject)


def test_guard_extension_checks_its_settings_at_start_not_at_the_first_request(
    tmp_path: Path,
) -> None:
    path = manifest(tmp_path, ("Deep", DEEP))

    async def on_accept(verdict: Verdict, context: Any) -> None:
        return None

    with pytest.raises(ConfigError, match="not async"):
        GuardExtension(GuardConfig(), on_accept=on_accept)
    with pytest.raises(ConfigError, match="exempt_operations 'Nope'"):
        GuardExtension(GuardConfig(persisted_manifest=str(path), exempt_operations=("Nope",)))
    with pytest.raises(ConfigError, match="measure_log"):
        GuardExtension(GuardConfig(measure_log=str(tmp_path / "missing" / "measure.log")))


def test_an_exempt_body_must_hold_only_its_operation(tmp_path: Path) -> None:
    two = "query MonthlyReport { node { name } } query Evil { node { child { name } } }"
    path = manifest(tmp_path, ("MonthlyReport", two))
    config = GuardConfig(persisted_manifest=str(path), exempt_operations=("MonthlyReport",))
    with pytest.raises(ConfigError, match="must hold that one operation only"):
        Guard(build_schema(SDL), config)


def test_each_guard_writes_its_own_measure_log(tmp_path: Path) -> None:
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    guards = [
        Guard(build_schema(SDL), GuardConfig(mode="measure", measure_log=str(path)))
        for path in (first, second)
    ]
    guards[0].check("query One { node { name } }")
    guards[1].check("query Two { node { name } }")
    guards[1].check("query Three { node { name } }")
    operations = [
        [json.loads(line)["operation"] for line in path.read_text().splitlines()]
        for path in (first, second)
    ]
    assert operations == [["One"], ["Two", "Three"]]


async def test_a_batch_refused_by_one_element_writes_one_event_and_checks_no_further(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    schema = build_schema(SDL)
    schema.query_type.fields["node"].resolve = resolve_node  # type: ignore[union-attr]
    app = create_app(
        schema,
        GuardConfig(max_depth=3),
        on_accept=lambda verdict, context: seen.append("accept"),
        on_reject=lambda verdict, context: seen.append("reject"),
    )
    batch = [{"query": "{ node { name } }"}, {"query": DEEP}, {"query": "{ node { name } }"}]
    with caplog.at_level(logging.INFO, logger="gqlguard.security"):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            response = await http.post("/graphql", json=batch, headers=PREFLIGHT)
    assert response.status_code == 400 and codes(response.json()) == ["DEPTH_LIMIT_EXCEEDED"]
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gqlguard.security"]
    assert [(e["event"], e["codes"]) for e in events] == [("rejected", ["DEPTH_LIMIT_EXCEEDED"])]
    # The first element's check accepted it; the batch stops at the second (none runs).
    assert seen == ["accept", "reject"]
