"""One document, four doors: analyze(), graphql-core rules, the Strawberry extension, HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, specified_rules, validate

from gqlguard import GuardConfig, analyze, rules

from .conftest import make_client

QUERY = """
query Feed {
  a: posts(limit: 2) { ...P }
  b: posts(limit: 3) { ...P title @include(if: true) }
}
fragment P on Post { id t: title author { name n: name } }
"""


async def test_metrics_agree_across_every_adapter(demo_schema: object) -> None:
    measured = analyze(demo_schema, QUERY)
    assert (measured.depth, measured.aliases, measured.fields, measured.directives) == (3, 6, 13, 1)

    just_under = GuardConfig(max_depth=measured.depth - 1, max_aliases=measured.aliases - 1)
    rule = rules.limits_rule(just_under)
    codes = {
        e.extensions["code"]
        for e in validate(demo_schema._schema, parse(QUERY), [*specified_rules, rule])  # type: ignore[attr-defined]
    }
    assert codes == {"DEPTH_LIMIT_EXCEEDED", "ALIAS_LIMIT_EXCEEDED"}
    at_limit = GuardConfig(max_depth=measured.depth, max_aliases=measured.aliases)
    assert validate(demo_schema._schema, parse(QUERY), [rules.limits_rule(at_limit)]) == []  # type: ignore[attr-defined]

    from schema_example.schema import build_schema

    strawberry_result = build_schema(just_under).execute_sync(QUERY)
    assert strawberry_result.errors is not None
    assert strawberry_result.errors[0].extensions == {
        "code": "DEPTH_LIMIT_EXCEEDED",
        "measured": measured.depth,
        "limit": measured.depth - 1,
    }
    ok = build_schema(at_limit).execute_sync(QUERY)
    assert ok.errors is None
    assert ok.extensions is not None
    assert ok.extensions["cost"]["requestedQueryCost"] == measured.field_cost

    async with make_client(just_under) as client:
        over = (await client.post("/graphql", json={"query": QUERY})).json()
    assert over["errors"][0]["extensions"]["measured"] == measured.depth


@pytest.mark.parametrize(
    "factory", [rules.depth_limit_rule, rules.alias_limit_rule, rules.field_limit_rule]
)
def test_single_limit_rules_are_built_once_and_reusable(
    demo_schema: object, factory: object
) -> None:
    rule = factory(1)  # type: ignore[operator]
    document = parse("{ a: posts(limit: 1) { b: title } }")
    first = validate(demo_schema._schema, document, [rule])  # type: ignore[attr-defined]
    second = validate(demo_schema._schema, document, [rule])  # type: ignore[attr-defined]
    assert len(first) == len(second) == 1


async def test_strawberry_async_execution_is_guarded_too(demo_schema: object) -> None:
    result = await demo_schema.execute(
        "{ " + " ".join(f"a{i}: __typename" for i in range(20)) + " }"
    )  # type: ignore[attr-defined]
    assert result.errors[0].extensions["code"] == "ALIAS_LIMIT_EXCEEDED"
    assert result.data is None


# -- one configuration per app, hook failures answered with a code (issue 15 findings) ---------


def test_a_config_that_differs_from_the_extensions_refuses_to_start() -> None:
    from gqlguard.starlette import create_app
    from schema_example.schema import build_schema

    schema = build_schema(GuardConfig(max_depth=2))
    with pytest.raises(ValueError, match="differs"):
        create_app(schema, GuardConfig(max_depth=20))


async def test_without_a_config_the_app_enforces_the_extensions() -> None:
    import httpx

    from gqlguard.starlette import create_app
    from schema_example.schema import build_schema

    app = create_app(build_schema(GuardConfig(max_depth=2)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post(
            "/graphql", json={"query": "{ posts(limit: 1) { author { name } } }"}
        )
    assert response.json()["errors"][0]["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"


@pytest.mark.parametrize("hook", ["authenticate", "context_getter"])
async def test_a_failing_user_hook_is_a_coded_answer_never_a_500(hook: str) -> None:
    import httpx

    from gqlguard.starlette import create_app
    from schema_example.schema import build_schema

    def broken(request: object) -> dict[str, object]:
        raise RuntimeError("secret internals")

    config = GuardConfig()
    app = create_app(build_schema(config), config, **{hook: broken})  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code < 500
    expected = "UNAUTHENTICATED" if hook == "authenticate" else "INTERNAL_SERVER_ERROR"
    assert response.json()["errors"][0]["extensions"]["code"] == expected
    assert "secret internals" not in response.text and "data" not in response.json()


async def _strawberry_view_post(body: dict[str, object]) -> object:
    import httpx
    from strawberry.asgi import GraphQL

    from schema_example.schema import build_schema

    view = GraphQL(build_schema(GuardConfig()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=view), base_url="http://s") as c:
        return await c.post("/", json=body)


async def test_under_strawberrys_view_a_rejection_is_logged_once_and_never_by_strawberry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    await _strawberry_view_post({"query": "{ a" + " { a" * 12 + " }" * 13})
    await _strawberry_view_post({"query": "{ viewer { name } }"})  # a filter-mode denial
    assert [r.name for r in caplog.records if r.name.startswith("strawberry")] == []
    assert [r.name for r in caplog.records if r.name == "gqlguard.security"] == [
        "gqlguard.security",
        "gqlguard.security",
    ]


async def test_under_strawberrys_view_an_apq_hash_without_persisted_queries_is_not_supported() -> (
    None
):
    digest = "a" * 64
    response: Any = await _strawberry_view_post(
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    )
    assert response.status_code == 200  # Apollo's client then resends with the query
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
    assert response.headers["cache-control"] == "private, no-cache, must-revalidate"
