"""The collapsed document (fragments inlined, identical selections merged) is what validation
and execution see: same verdicts as graphql-core on the document as sent, same results, and
no duplication form makes validation super-linear (issue 13)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from graphql import GraphQLSchema, execute_sync, parse, print_ast, specified_rules, validate
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries

from gqlguard import Guard, GuardConfig
from gqlguard.collapse import collapse, collapse_document
from gqlguard.guard import graphql_schema_of
from gqlguard.testing import hostile_documents, valid_queries
from schema_example.schema import build_schema as build_demo_schema

from .conftest import examples

DEMO = build_demo_schema(GuardConfig(), guarded=False)
SCHEMA: GraphQLSchema = graphql_schema_of(DEMO)
# Limits off: only validation decides, so verdicts compare with graphql-core's alone.
OPEN = GuardConfig.unlimited(introspection="on", mask_errors=False)


def graphql_core_accepts(query: str) -> bool | None:
    """graphql-core's verdict; None when it gave up ("Validation aborted.": its field-merge
    rule found the document too costly to compare, which is no verdict on the document)."""
    errors = validate(SCHEMA, parse(query), specified_rules)
    if any(error.message == "Validation aborted." for error in errors):
        return None
    return not errors


def guard_accepts(query: str) -> bool:
    operations = [d for d in parse(query).definitions if d.kind == "operation_definition"]
    name = operations[0].name.value if operations and operations[0].name else None
    verdict = Guard(SCHEMA, OPEN).check(query, operation_name=name, document_only=True)
    return verdict.accepted


# Every duplication form of the issue, and graphql-core's conflict kinds, as data:
# (document, valid?) — the verdict graphql-core gives the document as sent.
CASES: list[tuple[str, bool]] = [
    ("{ posts(limit: 1) { id id id } }", True),
    ("{ posts(limit: 1) { id } posts(limit: 1) { title } }", True),
    ("{ a: posts(limit: 1) { id } a: posts(limit: 2) { id } }", False),
    ("{ a: posts(limit: 1) { id } a: users { totalCount } }", False),
    ("{ posts(limit: 1) { t: id t: title } }", False),
    ("{ posts(limit: 1) { ...A ...B } } fragment A on Post { id } fragment B on Post { id }", True),
    ("{ posts(limit: 1) { ...A ...A ...A } } fragment A on Post { author { name } }", True),
    (
        "{ posts(limit: 1) { ...A ...B } } fragment A on Post { x: id } fragment B on Post { x: title }",
        False,
    ),
    ("{ posts(limit: 1) { author { name } author { name id } } }", True),
    ("{ posts(limit: 1) { author { n: name } author { n: id } } }", False),
    (
        "{ posts(limit: 1) { author { posts(limit: 1) { id } } author { posts(limit: 2) { id } } } }",
        False,
    ),
    ('{ search(term: "a") { ... on User { x: name } ... on Post { x: title } } }', True),
    ('{ search(term: "a") { ... on User { x: name } ... on Post { x: id } } }', False),
    ('{ search(term: "a") { ... on User { id } ... on User { id name } } }', True),
    ("query A { posts(limit: 1) { x: id x: title } } query B { __typename }", False),
    ("{ posts(limit: 1) { author author { name } } }", False),
    ("{ posts(limit: 1) { id } } fragment Unused on Post { id }", False),
    ("{ posts(limit: 1) { ...Missing } }", False),
    ("{ posts(limit: 1) { ...A } } fragment A on Post { ...B } fragment B on Post { ...A }", False),
    ("{ posts(limit: 1) { ...A } } fragment A on Post { id } fragment A on Post { id }", False),
    ("{ posts(limit: 1) { ...A } } fragment A on User { id }", False),
    ("query($v: Boolean!) { posts(limit: 1) { id @include(if: $v) id } }", True),
    (
        "query($v: Boolean!) { posts(limit: 1) { ...A } } fragment A on Post { id @skip(if: $v) }",
        True,
    ),
    ("query($v: Int) { posts(limit: 1) { ...A } } fragment A on Post { id }", False),
    ("{ posts(limit: 1) { ...A } } fragment A on Post { comments(limit: $n) { id } }", False),
    (
        "{ posts(limit: 1) { ... @include(if: true) { id } ... @include(if: true) { title } } }",
        True,
    ),
    ("{ posts(limit: 1) { id } } type Extra { a: Int }", False),
]


@pytest.mark.parametrize(("query", "valid"), CASES)
def test_verdicts_match_graphql_core_on_every_duplication_form(query: str, valid: bool) -> None:
    assert graphql_core_accepts(query) is valid  # the data is right
    assert guard_accepts(query) is valid


@settings(max_examples=examples(120))
@given(
    query=st.one_of(
        valid_queries(DEMO),
        queries(SCHEMA, mode=Mode.NEGATIVE).map(str),
        hostile_documents(DEMO, GuardConfig()),
    )
)
def test_verdicts_match_graphql_core_on_generated_documents(query: str) -> None:
    try:
        parse(query)
    except Exception:
        assume(False)
    operations = [d for d in parse(query).definitions if d.kind == "operation_definition"]
    assume(len(operations) == 1)
    expected = graphql_core_accepts(query)
    assume(expected is not None)
    assert guard_accepts(query) == expected


def _duplicated(query: str, times: int) -> str:
    """``query`` with its root selection set's body repeated ``times`` times."""
    text = print_ast(parse(query))
    body = text[text.index("{") + 1 : text.rindex("}")]
    return text[: text.index("{") + 1] + body * times + "}"


@settings(max_examples=examples(40))
@given(query=valid_queries(DEMO), times=st.integers(1, 4))
def test_collapsed_documents_execute_to_identical_results(query: str, times: int) -> None:
    duplicated = _duplicated(query, times)
    assume(graphql_core_accepts(duplicated))
    original = execute_sync(SCHEMA, parse(duplicated))
    collapsed = execute_sync(
        SCHEMA, collapse_document(parse(duplicated), SCHEMA, max_selections=None)
    )
    # Key order included: the executor's field grouping is what collapsing does.
    assert json.dumps(original.data) == json.dumps(collapsed.data)
    assert bool(original.errors) == bool(collapsed.errors)


def test_a_collapsed_document_holds_each_duplicate_once() -> None:
    fragments = " ".join(f"fragment F{i} on Post {{ author {{ name }} }}" for i in range(50))
    spreads = " ".join(f"...F{i}" for i in range(50))
    query = "{ posts(limit: 1) { " + "author { name } " * 50 + spreads + " } } " + fragments
    result = collapse(parse(query), SCHEMA, max_selections=None)
    assert not result.anomalous
    assert print_ast(result.document).split() == [
        "{",
        "posts(limit:",
        "1)",
        "{",
        "author",
        "{",
        "name",
        "}",
        "}",
        "}",
    ]


def test_inlining_is_budgeted_for_operations_that_do_not_run() -> None:
    levels = 20
    bomb = " ".join(
        f"fragment L{i} on Post {{ x: author {{ posts(limit: 1) {{ ...L{i + 1} }} }} y: author {{ posts(limit: 1) {{ ...L{i + 1} }} }} }}"
        for i in range(levels)
    )
    query = (
        "query Run { __typename } query Other { posts(limit: 1) { ...L0 } } "
        + bomb
        + f" fragment L{levels} on Post {{ id }}"
    )
    verdict = Guard(
        SCHEMA, GuardConfig(max_tokens=None, max_characters=None, max_depth=None)
    ).check(query, operation_name="Run")
    assert [e.code.value for e in verdict.errors] == ["FIELD_LIMIT_EXCEEDED"]


def _check_seconds(guard: Guard, query: str, name: str | None, rounds: int = 5) -> float:
    best = float("inf")
    for n in range(rounds):
        started = time.process_time()
        guard.check(f"{query} # {n} {time.time_ns()}", operation_name=name)
        best = min(best, time.process_time() - started)
    return best


SHAPES = {
    "repeats": lambda n: "{ posts(limit: 1) { " + "id " * n + "} }",
    "nested repeats": lambda n: "{ posts(limit: 1) { " + "author { name } " * n + "} }",
    "different fragments": lambda n: (
        "{ posts(limit: 1) { "
        + " ".join(f"...F{i}" for i in range(n))
        + " } } "
        + " ".join(f"fragment F{i} on Post {{ author {{ name }} }}" for i in range(n))
    ),
    "operation not selected": lambda n: (
        "query A { __typename } query B { posts(limit: 1) { " + "author { name } " * n + "} }"
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_doubling_the_duplication_does_not_quadruple_the_check(shape: Any) -> None:
    """Linear, not quadratic: twice the duplicates cost about twice (CPU time, best of 5,
    measured side by side; graphql-core's own rule costs four times)."""
    guard = Guard(SCHEMA, GuardConfig(max_tokens=None, max_characters=None))
    name = "A" if "query A" in shape(1) else None
    single = _check_seconds(guard, shape(60), name)
    double = _check_seconds(guard, shape(120), name)
    assert double / single < 3.0, (single, double)
