"""A check made again answers what a first check answers.

The guard keeps what an accepted check of an operation decided for a kind of principal
(gqlguard.document_cache's ``accepted``), so a repeat skips the stages that would only find
it again. What a request can change — its variables, its policies' outcomes, its principal,
the operation types its transport allows, the batch it is part of, the hooks and logs asked
per request — must be asked again: each test here sends a sequence of requests to one guard
and compares every verdict with a fresh guard's first check of the same request.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from graphql import build_schema

from gqlguard import DIRECTIVES_SDL, Guard, GuardConfig
from gqlguard.authorization import Principal
from gqlguard.guard import Verdict
from gqlguard.policies import PolicyRequest

SDL = (
    DIRECTIVES_SDL
    + """
type Query {
  books(first: Int = 5): [Book!]!
  book(id: ID!): Book
  secret: String @authenticated
  ledger: String @requiresScopes(scopes: [["audit"]])
  memo: String @policy(policies: [["open"]])
  stats: Int @requiresScopes(scopes: [["ops"], ["dev"], ["qa"]])
  depth: Book
}
type Book { id: ID! title: String author: Book }
type Mutation { touch: Int }
"""
)

ALICE = Principal("alice", frozenset({"audit"}), {"sub": "alice"})
BOB = Principal("bob", frozenset(), {"sub": "bob"})
ANONYMOUS = Principal.anonymous()


POLICY_CALLS: list[str | None] = []


def _open(principal: Principal, request: PolicyRequest) -> bool:
    POLICY_CALLS.append(principal.subject)
    return request.headers.get("x-open") == "yes"


def new_guard(config: GuardConfig | None = None, **options: Any) -> Guard:
    return Guard(build_schema(SDL), config or GuardConfig(), policies={"open": _open}, **options)


def check(guard: Guard, query: str, principal: Principal, **request: Any) -> Verdict:
    headers = request.pop("headers", {})
    evaluation = guard.policies.evaluation(principal, PolicyRequest(headers))
    return guard.check(query, principal=principal, policies=evaluation, **request)


def outcome(verdict: Verdict) -> tuple[Any, ...]:
    """Everything a door reads of a verdict."""
    return (
        [(error.code, error.message) for error in verdict.errors],
        verdict.analysis,
        verdict.authorization,
        verdict.policies,
        verdict.pending_policies,
        verdict.watches_objects,
        verdict.work,
        verdict.accepted,
    )


def assert_repeats_answer_as_first_checks(
    requests: list[tuple[str, Principal, dict[str, Any]]], config: GuardConfig | None = None
) -> list[Verdict]:
    seasoned = new_guard(config)
    verdicts = []
    for _ in range(3):  # seen once, kept, then answered from what was kept
        for query, principal, request in requests:
            repeated = check(seasoned, query, principal, **dict(request))
            first = check(new_guard(config), query, principal, **dict(request))
            assert outcome(repeated) == outcome(first), (query, principal.subject, request)
            verdicts.append(repeated)
    return verdicts


def test_each_kind_of_principal_is_decided_for_itself() -> None:
    query = "{ books { id title } secret ledger }"
    verdicts = assert_repeats_answer_as_first_checks(
        [(query, ALICE, {}), (query, ANONYMOUS, {}), (query, BOB, {}), (query, ALICE, {})]
    )
    denied = [sorted(v.authorization.fields) for v in verdicts[:4]]
    assert denied == [[], [("Query", "ledger"), ("Query", "secret")], [("Query", "ledger")], []]


def test_policies_are_asked_again_on_every_request() -> None:
    query = "{ memo books { id } }"
    verdicts = assert_repeats_answer_as_first_checks(
        [
            (query, BOB, {"headers": {"x-open": "yes"}}),
            (query, BOB, {"headers": {"x-open": "no"}}),
            (query, BOB, {"headers": {"x-open": "yes"}}),
        ]
    )
    assert [v.policies for v in verdicts[:3]] == [{"open"}, set(), {"open"}]
    assert [v.authorization.allowed for v in verdicts[:3]] == [True, False, True]


def test_variables_are_coerced_again_on_every_request() -> None:
    query = "query ($id: ID!) { book(id: $id) { title } }"
    verdicts = assert_repeats_answer_as_first_checks(
        [
            (query, BOB, {"variables": {"id": "1"}}),
            (query, BOB, {"variables": {"id": {"not": "an id"}}}),
            (query, BOB, {"variables": {}}),
            (query, BOB, {"variables": {"id": 7}}),
        ]
    )
    assert [v.accepted for v in verdicts[:4]] == [True, False, False, True]


def test_the_operation_types_a_transport_allows_are_asked_again() -> None:
    verdicts = assert_repeats_answer_as_first_checks(
        [
            ("mutation { touch }", BOB, {}),
            ("mutation { touch }", BOB, {"operation_types": {"query"}}),
            ("{ books { id } }", BOB, {"operation_types": {"query"}}),
        ]
    )
    assert [v.errors[0].code.value if v.errors else None for v in verdicts[:3]] == [
        None,
        "METHOD_NOT_ALLOWED",
        None,
    ]


def test_a_batch_element_is_measured_with_the_batch_again() -> None:
    config = GuardConfig(max_cost=20, batch_cost="sum")
    query = "{ books(first: 5) { id } }"
    verdicts = assert_repeats_answer_as_first_checks(
        [(query, BOB, {}), (query, BOB, {"spent": (18.0, 18.0)}), (query, BOB, {})], config
    )
    assert [v.accepted for v in verdicts[:3]] == [True, False, True]


def test_the_introspection_hook_is_asked_on_every_request() -> None:
    answers = iter([True, False, True, False, True, False])
    guard = new_guard(
        GuardConfig(introspection="scopes"), introspection_allowed=lambda _: next(answers)
    )
    accepted = [check(guard, "{ __schema { queryType { name } } }", BOB).accepted for _ in range(6)]
    assert accepted == [True, False, True, False, True, False]


def test_callbacks_and_denial_logs_come_on_every_repeat(caplog: pytest.LogCaptureFixture) -> None:
    accepted: list[Verdict] = []
    guard = new_guard(on_accept=lambda verdict, _: accepted.append(verdict))
    with caplog.at_level(logging.INFO, logger="gqlguard.security"):
        for _ in range(4):
            assert check(guard, "{ secret books { id } }", ANONYMOUS).accepted  # filtered
    assert len(accepted) == 4
    messages = [record.getMessage() for record in caplog.records]
    assert sum('"event": "unauthorized"' in message for message in messages) == 4


def test_a_limit_being_rolled_out_is_logged_on_every_repeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = new_guard(GuardConfig(max_depth=2, measure_limits=["max_depth"]))
    with caplog.at_level(logging.INFO, logger="gqlguard.security"):
        for _ in range(4):
            assert check(guard, "{ depth { author { author { id } } } }", BOB).accepted
    messages = [record.getMessage() for record in caplog.records]
    assert sum("DEPTH_LIMIT_EXCEEDED" in message for message in messages) == 4


def test_a_check_asks_each_policy_once_when_no_verdict_is_kept_for_it() -> None:
    guard = new_guard()
    query = "query ($id: ID!) { book(id: $id) { title } memo }"
    for _ in range(2):  # kept for Bob's kind, granted the policy
        assert check(guard, query, BOB, variables={"id": "1"}, headers={"x-open": "yes"}).accepted
    POLICY_CALLS.clear()
    guard.check(query, {"id": "1"}, principal=ALICE)  # another kind: the whole check runs
    guard.check(query, {"id": {"no": 1}}, principal=BOB)  # refused variables
    guard.check(query, {"id": "1"}, principal=BOB, operation_types={"mutation"})
    assert POLICY_CALLS == ["alice", "bob", "bob"]


def test_a_document_keeps_verdicts_for_a_few_kinds_of_principal_each_counted() -> None:
    guard = new_guard()
    query = "{ books { id } }"
    kinds = [
        Principal(subject, frozenset(scopes))
        for subject in (None, "someone")
        for scopes in ([], ["ops"], ["dev"], ["qa"], ["ops", "dev"])
    ]
    check(guard, query, kinds[0])
    check(guard, query, kinds[0])  # kept from its second sighting, with one kind's verdict
    kept_one = guard.cached_bytes
    held = []
    for principal in kinds[1:]:
        check(guard, query, principal)
        held.append(guard.cached_bytes - kept_one)
    grown = [after - before for before, after in zip([0, *held], held, strict=False)]
    # Each new kind is counted: its decision, and for the first four kinds a kept verdict.
    with_verdict, decision_only = grown[0], grown[3]
    assert with_verdict > decision_only > 0
    assert grown == [with_verdict] * 3 + [decision_only] * 6
    assert_repeats_answer_as_first_checks([(query, principal, {}) for principal in kinds])
