"""The pre-parse floor on graphql-core's field-merge work (gqlguard.prescan.field_merge_floor):
never more than the rule spends on the same text, so refusing on it changes no verdict but
the stage; and a text whose floor passes the budget is refused before it is parsed."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError, build_schema, parse, specified_rules
from hypothesis import given, settings
from hypothesis import strategies as st

from gqlguard import ErrorCode, Guard, GuardConfig, GuardRejection
from gqlguard.prescan import field_merge_ceiling, field_merge_floor
from gqlguard.testing import hostile_documents, valid_queries
from gqlguard.validation import validate_as_sent
from gqlguard.work import WorkMeter, work_budget

from .conftest import examples

SCHEMA = build_schema(
    """
    directive @tag(on: String, fragment: Boolean) on FIELD | INLINE_FRAGMENT | FRAGMENT_SPREAD
    interface Pet { name: String on: String }
    type Dog implements Pet { name: String on: String barks: Boolean owner: Human }
    type Cat implements Pet { name: String on: String meows: Boolean }
    type Human { name: String fragment: String pets(first: Int, where: Filter): [Pet] }
    input Filter { name: String on: String }
    type Query { dog: Dog pet: Pet human(id: ID): Human on: String fragment: String }
    """
)
NAMES = ["name", "on", "fragment", "barks", "owner", "pets", "dog", "pet", "human", "query"]
FRAGMENTS = ["A", "B", "C", "Missing"]


@st.composite
def selections(draw: st.DrawFn, depth: int = 0) -> str:
    """Selection sets with duplicates, aliases, arguments holding object values, directives,
    inline fragments with and without type conditions, spreads and comments."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 9 if depth < 3 else 5))
        name = draw(st.sampled_from(NAMES))
        if choice <= 2:
            parts.append(name)
        elif choice == 3:
            parts.append(f"{draw(st.sampled_from(NAMES))}: {name}")
        elif choice == 4:
            parts.append(f'{name}(where: {{name: "x {{ y y }}", on: "a"}}) @tag(on: "on")')
        elif choice == 5:
            parts.append(f"...{draw(st.sampled_from(FRAGMENTS))} # ... on Q {{ a a }}\n")
        elif choice == 6:
            parts.append(f"{name} {draw(selections(depth + 1))}")
        elif choice == 7:
            parts.append(f"... on Dog {draw(selections(depth + 1))}")
        elif choice == 8:
            parts.append(f"... @tag(fragment: true) {draw(selections(depth + 1))}")
        else:
            parts.append(f"...{draw(st.sampled_from(FRAGMENTS))} @tag")
    return "{ " + " ".join(parts) + " }"


@st.composite
def documents(draw: st.DrawFn) -> str:
    text = ""
    if draw(st.booleans()):
        text += '"""a description { a a }""" '
    text += 'query Q($f: Filter = {name: "a", on: "b"}) ' + draw(selections())
    for fragment in draw(st.lists(st.sampled_from(FRAGMENTS[:3]), max_size=3, unique=True)):
        text += f" fragment {fragment} on Dog {draw(selections(1))}"
    if draw(st.booleans()):
        text += " type Extra { name: String name: String }"
    return text


def _spent_by_graphql_core(text: str) -> int | None:
    """What graphql-core's field-merge rule spends on ``text``; None when it cannot parse
    it, or stops at its own budget (500,000 units: what it would spend is not known)."""
    try:
        document = parse(text)
    except GraphQLSyntaxError:
        return None
    meter = WorkMeter(10**12)
    try:
        validate_as_sent(SCHEMA, document, specified_rules, meter, max_errors=10**6)
    except GuardRejection:
        return None
    return meter.stages.get("field merging", 0)


@settings(max_examples=examples(300), deadline=None)
@given(text=documents())
def test_the_floor_never_passes_what_graphql_cores_rule_spends(text: str) -> None:
    spent = _spent_by_graphql_core(text)
    assert spent is not None, text  # the grammar above writes documents graphql-core parses
    floor = field_merge_floor(text, room=10**12)
    assert floor <= spent
    assert field_merge_ceiling(text) >= floor  # the cheap gate never hides a floor


@settings(max_examples=examples(100), deadline=None)
@given(text=st.one_of(valid_queries(SCHEMA), hostile_documents(SCHEMA)))
def test_the_floor_holds_on_the_testing_kits_documents(text: str) -> None:
    spent = _spent_by_graphql_core(text)
    if spent is not None:
        assert field_merge_floor(text, room=10**12) <= spent


def test_the_floor_counts_what_the_rule_is_certain_to_spend() -> None:
    # 40 copies of one field: 2 units for each of the 780 pairs, and the rule spends them.
    text = "{ " + "name " * 40 + "}"
    assert field_merge_floor(text, room=10**12) == 2 * 780
    spent = _spent_by_graphql_core(text)
    assert spent is not None and spent >= 2 * 780


BUDGET = work_budget(GuardConfig())


@pytest.mark.parametrize(
    "text",
    [
        "{ dog { " + "name " * 200 + "} }",
        "{ dog { " + "... on Dog { name } " * 70 + "} }",
        "{ dog { "
        + " ".join(f"...F{n}" for n in range(70))
        + " } } "
        + " ".join(f"fragment F{n} on Dog {{ name }}" for n in range(70)),
    ],
    ids=["one name", "inline fragments", "distinct fragments"],
)
def test_a_text_past_the_floor_is_refused_before_it_is_parsed(text: str) -> None:
    guard = Guard(SCHEMA, GuardConfig())
    refused = guard.check(text)
    assert [error.code for error in refused.errors] == [ErrorCode.WORK_LIMIT_EXCEEDED]
    assert refused.errors[0].extra["stage"] == "field merging"
    # The same text cut short of its last brace: graphql-core cannot parse it, and the
    # answer is still the floor's, so nothing parsed it first.
    unparsed = guard.check(text.rsplit("}", 1)[0])
    assert [error.code for error in unparsed.errors] == [ErrorCode.WORK_LIMIT_EXCEEDED]


def test_a_text_under_the_floor_is_checked_as_before() -> None:
    guard = Guard(SCHEMA, GuardConfig())
    text = "{ dog { " + "name " * 20 + "} }"  # 380 units of certain comparisons
    assert field_merge_floor(text, room=BUDGET) < BUDGET
    assert guard.check(text).accepted


_SPREADS = " ".join(f"...F{n}" for n in range(20))
_DEFINED = " ".join(f"fragment F{n} on Query {{ name }}" for n in range(20))
_FIELDS = " ".join(["name: Int"] * 50)


@pytest.mark.parametrize(
    "text",
    [
        # an inline fragment whose directive has arguments joins its parent's collection
        f"{{ {_SPREADS} ... @tag(fragment: true) {{ {_SPREADS} }} }} {_DEFINED}",
        f'{{ {_SPREADS} ... on Query @tag(on: "x") {{ {_SPREADS} }} }} {_DEFINED}',
        # type-system definitions named like executable keywords open no selection set
        f"{{ name }} type query {{ {_FIELDS} }}",
        f"{{ name }} extend type subscription {{ {_FIELDS} }}",
        f"{{ name }} input fragment {{ {_FIELDS} }}",
    ],
    ids=["directive arguments", "type condition and arguments", "type query", "extend", "input"],
)
def test_shapes_found_by_review_stay_under_the_rule(text: str) -> None:
    spent = _spent_by_graphql_core(text)
    assert spent is not None
    assert field_merge_floor(text, room=10**12) <= spent
