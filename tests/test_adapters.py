"""One document, four doors: analyze(), graphql-core rules, the Strawberry extension, HTTP."""

from __future__ import annotations

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
