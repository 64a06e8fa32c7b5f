"""The fast parser builds exactly graphql-core's AST (node classes, fields, locations), and
never accepts what graphql-core refuses: anything outside its grammar goes to graphql-core."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError, parse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries

from gqlguard import GuardConfig
from gqlguard.fastparse import fast_parse, parse_executable
from gqlguard.guard import graphql_schema_of
from gqlguard.testing import hostile_documents, hostile_value_requests, valid_queries
from schema_example.schema import build_schema as build_demo_schema

from .conftest import examples

DEMO = build_demo_schema(GuardConfig())


def assert_same_as_graphql_core(text: str) -> None:
    try:
        expected = parse(text)
    except (GraphQLSyntaxError, RecursionError):
        assert fast_parse(text) is None  # never accepts what graphql-core refuses
        return
    ours = fast_parse(text)
    if ours is not None:
        # Dataclass equality: every field of every node, locations (start, end) included.
        assert ours == expected
        assert [d.loc for d in ours.definitions] == [d.loc for d in expected.definitions]
    assert parse_executable(text) == expected


CASES = [
    "{ a }",
    "query { a }",
    'query Q($a: Int = 1, $b: [String!]! = ["x"] @d) @o { a: b(c: $a) @i(if: true) { d } }',
    "{ ...F ... on T { a } ... @skip(if: $v) { b } } fragment F on T @f { c }",
    '{ a(o: {x: [1, -2, 3.5e-3, "s", true, false, null, ENUM, {}, []]}) }',
    "mutation M { a } subscription S { b }",
    "\ufeff{ a, b,, c }\n# comment\n",
    '{ a(s: "with \\"escape\\"") }',
    '{ a(s: """block\n  string""") }',
    "type Query { a: Int }",
    '"description" query { a }',
    "{ a(x: 00) }",
    "{ a(x: 1a) }",
    "{ a(x: .5) }",
    "{ a(x: 1.) }",
    "{ }",
    "{ a() }",
    "query Q() { a }",
    "fragment on on T { a }",
    "{ ... on }",
    "query($a: Int = $b) { a }",
    "{ a",
    "{ a } }",
    '{ a(s: "unterminated) }',
    '{ a(s: "tab\tinside") }',
    '{ a(s: "bell\x07inside") }',
    "{ 'single' }",
    "{ a & b }",
    "",
    "   ",
    "# only a comment",
    "{ true false null on fragment query }",
]


@pytest.mark.parametrize("text", CASES)
def test_the_fast_parser_agrees_with_graphql_core(text: str) -> None:
    assert_same_as_graphql_core(text)


@settings(max_examples=examples(150))
@given(
    st.one_of(
        valid_queries(DEMO),
        queries(graphql_schema_of(DEMO), mode=Mode.NEGATIVE).map(str),
        hostile_documents(DEMO, GuardConfig()),
        hostile_value_requests(DEMO).map(lambda request: request[0]),
    )
)
def test_the_fast_parser_agrees_with_graphql_core_on_generated_documents(text: str) -> None:
    assert_same_as_graphql_core(text)


PIECES = st.sampled_from(
    [
        "{", "}", "(", ")", "[", "]", ":", "=", "@", "$", "!", "...", ",", " ", "\n",
        "a", "on", "query", "fragment", "true", "null", "1", "-2", "3.5", '"s"', "# c\n",
    ]
)  # fmt: skip


@settings(max_examples=examples(300))
@given(st.lists(PIECES, max_size=40).map(" ".join))
def test_the_fast_parser_never_accepts_token_soup_graphql_core_refuses(text: str) -> None:
    assert_same_as_graphql_core(text)
