"""The work meter bounds what checking a document costs, by construction: every stage that
reads a new document charges one deterministic meter, graphql-core's field-merge comparisons
included, and a refusal depending on the text alone is remembered (issue 21)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import ASTValidationRule, GraphQLSchema, specified_rules

from bench.amplification import WITHIN
from bench.work import SCHEMA, legitimate_documents
from gqlguard import Guard, GuardConfig
from gqlguard.prescan import prescan
from gqlguard.work import work_budget
from schema_example.schema import DEMO_POLICIES

FLOODS = [
    "`id` x 600",
    "`author { name }` x 247",
    "`__typename` x 990",
    "aliases to one name (15) x 40",
    "different fragments, same field x 60",
    "nested repeats 6 x 6 x 6",
]


@pytest.mark.parametrize("name", sorted(legitimate_documents()))
def test_legitimate_documents_spend_at_most_a_quarter_of_the_budget(name: str) -> None:
    verdict = Guard(SCHEMA, GuardConfig(), policies=DEMO_POLICIES).check(
        legitimate_documents()[name], document_only=True
    )
    assert verdict.accepted, verdict.formatted_errors()
    assert 0 < verdict.work <= work_budget(GuardConfig()) / 4


@pytest.mark.parametrize("name", FLOODS)
def test_duplication_floods_inside_every_limit_are_refused_by_the_meter(name: str) -> None:
    verdict = Guard(SCHEMA, GuardConfig(), policies=DEMO_POLICIES).check(WITHIN[name])
    assert [error.code.value for error in verdict.errors] == ["WORK_LIMIT_EXCEEDED"]
    extensions = verdict.formatted_errors()[0]["extensions"]
    assert extensions["stage"] == "field merging"
    assert extensions["measured"] > extensions["limit"] == work_budget(GuardConfig())


def test_the_meter_is_deterministic_and_graphql_cores_verdict_without_it() -> None:
    text = WITHIN["nested repeats 6 x 6 x 6"]
    unlimited = GuardConfig(max_work=10**9)
    first = Guard(SCHEMA, unlimited, policies=DEMO_POLICIES).check(text, document_only=True)
    second = Guard(SCHEMA, unlimited, policies=DEMO_POLICIES).check(text, document_only=True)
    assert first.accepted and first.work == second.work > work_budget(GuardConfig())
    # the budget is the only difference: just above the units spent, the document passes
    assert (
        Guard(SCHEMA, GuardConfig(max_work=first.work), policies=DEMO_POLICIES)
        .check(text, document_only=True)
        .accepted
    )
    assert (
        not Guard(SCHEMA, GuardConfig(max_work=first.work - 1), policies=DEMO_POLICIES)
        .check(text)
        .accepted
    )


def test_the_budget_follows_the_token_limit_or_the_explicit_setting() -> None:
    assert work_budget(GuardConfig(max_tokens=500)) == 2 * work_budget(GuardConfig(max_tokens=250))
    assert work_budget(GuardConfig(max_work=123)) == 123


@pytest.mark.parametrize(
    "text",
    [
        WITHIN["`author { name }` x 247"],  # refused by the meter
        "{ posts(limit: 1) { title } ",  # a syntax error
        "{ postz { title } }",  # a validation failure
    ],
)
def test_a_replayed_refusal_is_answered_from_memory_without_validating_again(text: str) -> None:
    validated: list[str] = []

    class Recording(ASTValidationRule):  # a user's rule: it runs whenever validation does
        def enter_document(self, *_: Any) -> None:
            validated.append("document")

    rules = [*specified_rules, Recording]
    guard = Guard(SCHEMA, GuardConfig(), policies=DEMO_POLICIES, validation_rules=rules)
    first = guard.check(text)
    reached = len(validated)
    replays = [guard.check(text) for _ in range(5)]
    assert not first.accepted
    assert [r.formatted_errors() for r in replays] == [first.formatted_errors()] * 5
    assert len(validated) == reached  # no replay reached validation
    guard.check("{ posts(limit: 1) { title } }")
    assert len(validated) == reached + 1  # which a new text does


def test_a_refused_choice_of_operation_is_not_remembered_for_the_text() -> None:
    # "Must provide operation name." depends on the request's operationName, not on the
    # text: the same text with a name must pass (it was refused from memory, for everyone).
    guard = Guard(SCHEMA, GuardConfig(), policies=DEMO_POLICIES)
    text = "query A { posts(limit: 1) { title } } query B { posts(limit: 1) { id } }"
    assert [e.code.value for e in guard.check(text).errors] == ["BAD_REQUEST"]
    assert [e.code.value for e in guard.check(text, None, "Z").errors] == ["BAD_REQUEST"]
    assert guard.check(text, None, "B").accepted


def test_rejection_memory_is_bounded_in_bytes(library: GraphQLSchema) -> None:
    guard = Guard(library, GuardConfig(rejection_cache_max_bytes=5_000))
    for n in range(200):
        guard.check(f"{{ nope{n} }}")
    assert 0 < guard.rejections.bytes <= 5_000
    assert len(guard.rejections) < 200


def _scan_seconds(text: str) -> float:
    import time

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        prescan(text, max_tokens=None, max_comments=10)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "make",
    [
        lambda n: '"' + '\\"' * n + "\\\n",
        lambda n: '{ a(s: "' + '\\"' * n + '\\\n "' + "#" * 50 + '" }',
        lambda n: '"""' + '\\"""' * n,
        lambda n: '"' * n,
    ],
)
def test_the_pre_scan_is_linear_on_unterminated_strings(make: Any) -> None:
    # Side by side in one run: doubling the text must not quadruple the time (the patterns
    # these replace took 250 ms at 7,000 escapes and 4x that at 14,000).
    small, large = _scan_seconds(make(20_000)), _scan_seconds(make(80_000))
    assert large < 8 * max(small, 1e-5)


@pytest.mark.parametrize("name", ["persisted Viewer", "persisted Search", "github-style dashboard"])
def test_the_cache_estimates_what_a_document_retains_within_a_fifth(name: str) -> None:
    # The byte budget (cache_max_bytes) is only a bound if the estimate is near the truth.
    from bench.cache_bytes import corpus, retained_and_estimated

    retained, estimated = retained_and_estimated(corpus()[name])
    assert 1 / 1.2 <= estimated / retained <= 1.2, (retained, estimated)


def test_two_checks_of_one_new_document_at_once_count_their_work_apart() -> None:
    # The off-loop worker and the loop (or two threads) may check the same new text at once:
    # each counts on its own, neither is charged the other's work. Made deterministic with
    # a user's rule (public hook) that checks the same text again from inside validation.
    text = "{ posts(limit: 1) { " + "title " * 40 + "} }"
    measured = Guard(SCHEMA, GuardConfig(max_work=10**9), policies=DEMO_POLICIES).check(text)
    assert measured.accepted and measured.work > 1000
    inner: list[Any] = []

    class ChecksAgainInside(ASTValidationRule):
        def enter_document(self, *_: Any) -> None:
            if not inner:
                inner.append(None)
                inner[0] = guard.check(text)

    budget = int(measured.work * 1.5)  # one check fits, two counted together would not
    guard = Guard(
        SCHEMA,
        GuardConfig(max_work=budget),
        policies=DEMO_POLICIES,
        validation_rules=[*specified_rules, ChecksAgainInside],
    )
    outer = guard.check(text)
    assert inner[0].accepted, inner[0].formatted_errors()
    assert outer.accepted, outer.formatted_errors()
    assert outer.work == inner[0].work == measured.work
