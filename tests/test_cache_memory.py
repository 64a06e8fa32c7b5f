"""What a cached document learns after it is cached — per kind of principal, per variable
values — is counted in the cache's bytes and bounded, and a request's own variable values are
never kept past it: otherwise one cached document, asked again with a large variable value
each time, would hold memory the cache's ``cache_max_bytes`` never sees."""

from __future__ import annotations

import gc
import itertools
import logging
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from graphql import build_schema

from gqlguard import DIRECTIVES_SDL, Guard, GuardConfig
from gqlguard.authorization import Principal
from gqlguard.document_cache import ANALYSES_PER_OPERATION, KINDS_PER_DOCUMENT

SCOPES = [f"s{n}" for n in range(10)]
SDL = (
    DIRECTIVES_SDL
    + "type Query {\n"
    + "  books(first: Int): [Book!]!\n"
    + '    @listSize(slicingArguments: ["first"], requireOneSlicingArgument: false)\n'
    + "".join(
        f'  f{n}: Int @requiresScopes(scopes: [["{scope}"]])\n' for n, scope in enumerate(SCOPES)
    )
    + "}\ntype Book { id: ID! title: String }\n"
)
EVERY_FIELD = "{ books(first: 2) { id } " + " ".join(f"f{n}" for n in range(len(SCOPES))) + " }"
BY_VARIABLES = (
    "query Q($n: Int, $t: Boolean = false) { books(first: $n) { id title @include(if: $t) } }"
)


def new_guard(config: GuardConfig | None = None) -> Guard:
    return Guard(build_schema(SDL), config or GuardConfig())


def kinds() -> Iterator[Principal]:
    """Principals of distinct kinds denied as many fields each: every five of ten scopes."""
    for scopes in itertools.combinations(SCOPES, 5):
        yield Principal("someone", frozenset(scopes))


@pytest.fixture(autouse=True)
def _no_event_records() -> Iterator[None]:
    # pytest keeps every log record: they are not the cache's memory.
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def held_and_counted(guard: Guard, checks: Callable[[], object]) -> tuple[int, int]:
    """What ``checks`` left the process holding (tracemalloc, after a collection) and what
    the guard's cache counted for it."""
    gc.collect()
    tracemalloc.start()
    try:
        before, estimated = tracemalloc.get_traced_memory()[0], guard.cached_bytes
        checks()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held, guard.cached_bytes - estimated


def cached(guard: Guard, query: str) -> None:
    guard.check(query)
    guard.check(query)  # kept from its second sighting on
    assert guard.cached_bytes > 0


@pytest.mark.parametrize(
    "config",
    [
        GuardConfig(),
        GuardConfig(authorization_mode="reject"),
        GuardConfig(hide_unauthorized_fields=True),
    ],
    ids=["filter", "reject", "hide"],
)
def test_each_kind_of_principal_is_counted_up_to_a_cap(config: GuardConfig) -> None:
    guard, fresh = new_guard(config), new_guard(config)
    cached(guard, EVERY_FIELD)
    grown = []
    for principal in itertools.islice(kinds(), KINDS_PER_DOCUMENT + 8):
        before = guard.cached_bytes
        verdict = guard.check(EVERY_FIELD, principal=principal)
        grown.append(guard.cached_bytes - before)
        first = fresh.check(f"# fresh\n{EVERY_FIELD}", principal=principal)
        assert [e.code for e in verdict.errors] == [e.code for e in first.errors]
        assert verdict.authorization.paths == first.authorization.paths
    # The anonymous kind came with the document; each new kind costs bytes, until the cap.
    assert all(size > 0 for size in grown[: KINDS_PER_DOCUMENT - 1]), grown
    # Then each takes the oldest one's place, its bytes given back: the anonymous kind's
    # first, then kinds of the same size.
    assert grown[KINDS_PER_DOCUMENT:] == [0] * 8


def test_variable_dependent_analyses_are_counted_the_oldest_replaced() -> None:
    guard = new_guard()
    cached(guard, BY_VARIABLES)
    grown = []
    for n in range(ANALYSES_PER_OPERATION + 6):
        before = guard.cached_bytes
        variables = {"n": n, "t": n % 2 == 0}
        verdict = guard.check(BY_VARIABLES, variables)
        grown.append(guard.cached_bytes - before)
        assert verdict.analysis == new_guard().check(BY_VARIABLES, variables).analysis
    # The analysis without variables came with the document; each new one costs bytes,
    # and past the cap takes the oldest one's place (the same size here).
    assert all(size > 0 for size in grown[: ANALYSES_PER_OPERATION - 1]), grown
    assert grown[ANALYSES_PER_OPERATION - 1 :] == [0] * 7
    # The replaced values are worked out again, and kept again, counted again.
    before = guard.cached_bytes
    assert guard.check(BY_VARIABLES, {"n": 0, "t": True}).accepted
    assert guard.cached_bytes == before


def test_a_requests_large_variable_values_are_never_kept() -> None:
    guard = new_guard()
    cached(guard, BY_VARIABLES)

    def large_values() -> None:
        for n in range(ANALYSES_PER_OPERATION):
            # 200 kB each, read by the analysis (the slicing argument), refused by coercion.
            verdict = guard.check(BY_VARIABLES, {"n": str(n) * 200_000, "t": True})
            assert not verdict.accepted

    held, counted = held_and_counted(guard, large_values)
    assert held < 200_000, held  # 16 kept values would hold 3.2 MB
    assert counted == 0


def test_what_each_kind_holds_is_counted_never_under() -> None:
    # Denied repeats: each kind's decision holds every denied node and root selection.
    query = "{ books(first: 1) { id } " + " ".join(f"f{n % 10}" for n in range(60)) + " }"
    guard = new_guard()
    principals = list(itertools.islice(kinds(), 20))
    warm = query.replace("{ books", "{ warm: books", 1)
    for principal in principals:  # the process's own first-time allocations, elsewhere
        guard.check(warm, principal=principal)
    cached(guard, query)

    def each_kind() -> None:
        for principal in principals:
            assert guard.check(query, principal=principal).authorization.paths

    held, counted = held_and_counted(guard, each_kind)
    assert held <= counted <= 1.5 * held, (held, counted)


@pytest.mark.parametrize("policy", [True, False], ids=["with a policy", "without"])
def test_what_each_operation_holds_is_counted_never_under(policy: bool) -> None:
    # Per operation: its analysis, and with a policy in the schema the coordinates it
    # selects and the policies they need (a hundred coordinates each here).
    fields = [f"a{n}" for n in range(100)]
    rule = '@policy(policies: [["open"]])' if policy else ""
    schema = build_schema(
        DIRECTIVES_SDL
        + f"type Query {{ x: X memo: String {rule} }}\n"
        + "type X { " + " ".join(f"{name}: Int" for name in fields) + " }\n"
    )  # fmt: skip
    policies = {"open": lambda *_: True} if policy else {}
    guard = Guard(schema, GuardConfig(max_fields=10_000), policies=policies)
    operations = [f"query Q{n} {{ x {{ ...F }} memo }}" for n in range(6)]
    document = "\n".join([*operations, "fragment F on X { " + " ".join(fields) + " }"])
    for _ in range(2):
        assert guard.check(document, operation_name="Q0").accepted

    def each_operation() -> None:
        for n in range(1, 6):
            assert guard.check(document, operation_name=f"Q{n}").accepted

    held, counted = held_and_counted(guard, each_operation)
    assert held <= counted <= 1.5 * held, (held, counted)


def test_a_kept_analysis_answers_only_values_of_the_same_type() -> None:
    # To Python 1 == True; to the analysis `true` is no list size: each its own analysis.
    guard = new_guard()
    cached(guard, BY_VARIABLES)
    for first, then in (({"n": True}, {"n": 1}), ({"n": 3}, {"n": 3.0}), ({"t": 0}, {"t": False})):
        guard.check(BY_VARIABLES, first)
        assert (
            guard.check(BY_VARIABLES, then).analysis
            == new_guard().check(BY_VARIABLES, then).analysis
        )
