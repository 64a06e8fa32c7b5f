"""A machine search for slow documents (issue 21): Hypothesis generates documents from a grammar
that reaches fragments on interfaces, unions and objects, nested and alternating conditions,
directives with variables, strings with escapes and trailing backslashes, block strings and
comments, and steers with ``target()`` toward the most work units and the most CPU per check.

Every document it finds must hold the bound: the work meter never passes its budget on an
accepted document, the guard's verdict on validity is graphql-core's, and the check's CPU stays
within a small multiple of what graphql-core alone spends on the same text (or of the realistic
query's check, when that is larger) — measured side by side, never as an absolute time.
`make fuzz` runs the same search long; a slow document it finds becomes a row of
bench/amplification.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from graphql import GraphQLSyntaxError, parse, validate
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from bench.amplification import REALISTIC
from bench.work import SCHEMA
from gqlguard import Guard, GuardConfig
from gqlguard.work import work_budget
from schema_example.schema import DEMO_POLICIES

from .conftest import examples

GUARD = Guard(SCHEMA, GuardConfig(mask_errors=False), policies=DEMO_POLICIES)
BUDGET = work_budget(GuardConfig())
# What a selection may hold on each type of the demo schema (leaves, then nested fields).
LEAVES = {
    "Node": ["id", "__typename"],
    "User": ["id", "name", "role"],
    "Post": ["id", "title", "body"],
    "Product": ["id", "name", "price"],
    "SearchResult": ["__typename"],
}
NESTED = {
    "Node": [],
    "User": [("posts(limit: 2)", "Post")],
    "Post": [("author", "User"), ("comments(limit: 2) { id author", "User")],
    "Product": [("reviews(limit: 2) { id author", "User")],
    "SearchResult": [],
}
CONDITIONS = ["", " @include(if: $a)", " @skip(if: $b)", " @include(if: true)", " @skip(if: $a)"]
STRINGS = ['"x"', '"a\\"b"', '"\\\\"', '"""blo\\"""ck"""', '"\\u00e9"', '"tail\\\\"']
NARROWINGS = {
    "Node": ["User", "Post", "Product", "Node"],
    "SearchResult": ["User", "Post", "Product"],
    "User": ["Node", "User"],
    "Post": ["Node", "Post"],
    "Product": ["Node", "Product"],
}


@st.composite
def documents(draw: st.DrawFn) -> str:
    fragments: dict[str, str] = {}

    def selection(on: str, depth: int) -> str:
        parts: list[str] = []
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["leaf", "leaf", "nested", "inline", "spread", "alias"]))
            condition = draw(st.sampled_from(CONDITIONS))
            if kind == "nested" and NESTED[on] and depth < 4:
                head, child = draw(st.sampled_from(NESTED[on]))
                inner = selection(child, depth + 1)
                closing = " }" if "{" in head else ""
                parts.append(f"{head}{condition} {{ {inner} }}{closing}")
            elif kind in ("inline", "spread") and depth < 5:
                narrowed = draw(st.sampled_from(NARROWINGS[on]))
                body = selection(narrowed, depth + 1)
                if kind == "inline":
                    parts.append(f"... on {narrowed}{condition} {{ {body} }}")
                else:
                    name = f"F{len(fragments)}"
                    fragments[name] = f"fragment {name} on {narrowed} {{ {body} }}"
                    parts.append(f"...{name}{condition}")
                    if draw(st.booleans()):  # reuse: graphql-core memoizes fragment pairs
                        parts.append(f"...{name}")
            elif kind == "alias":
                field = draw(st.sampled_from(LEAVES[on]))
                alias = draw(st.sampled_from(["x", f"{field.strip('_')}Alias"]))  # x may clash
                parts.append(f"{alias}: {field}{condition}")
            else:
                parts.append(draw(st.sampled_from(LEAVES[on])) + condition)
        return " ".join(parts * draw(st.integers(1, 3)))  # duplicated selections

    root = draw(st.sampled_from(['node(id: "1")', "search(term: %s)"]))
    on = "Node" if root.startswith("node") else "SearchResult"
    root = root % draw(st.sampled_from(STRINGS)) if "%s" in root else root
    body = selection(on, 1)
    comment = draw(st.sampled_from(["", "# note\n", "#" * 20 + "\n"]))
    text = (
        f"query Q($a: Boolean = true, $b: Boolean = false) {comment}"
        f"{{ {root} @include(if: $a) @skip(if: $b) {{ {body} }} }}"
    )
    return " ".join([text, *fragments.values()])


def _cpu(action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return best


def _graphql_core_alone(text: str) -> bool:
    try:
        return not validate(SCHEMA, parse(text))
    except GraphQLSyntaxError:
        return False


_unique = iter(range(10**9))


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(documents())
def test_no_generated_document_breaks_the_bound_or_graphql_cores_verdict(text: str) -> None:
    verdict = Guard(
        SCHEMA, GuardConfig(mask_errors=False, max_work=10**9), policies=DEMO_POLICIES
    ).check(text, document_only=True)
    target(float(verdict.work), label="work units")
    codes = [error.code.value for error in verdict.errors]
    valid = _graphql_core_alone(text)
    if verdict.accepted or codes == ["GRAPHQL_VALIDATION_FAILED"]:
        assert verdict.accepted is valid, (codes, text)
    # With the default budget: refused past it, or accepted within it.
    bounded = GUARD.check(text, document_only=True)
    assert bounded.work <= BUDGET
    # CPU, side by side in this run, on unique texts (no cache helps).
    ours = _cpu(lambda: GUARD.check(f"{text}\n#{next(_unique)}", document_only=True))
    target(ours * 1e3, label="check CPU ms")
    theirs = _cpu(lambda: _graphql_core_alone(text))
    realistic = _cpu(lambda: GUARD.check(f"{REALISTIC}\n#{next(_unique)}"))
    assert ours <= 4 * max(theirs, realistic), (ours, theirs, realistic, text)
