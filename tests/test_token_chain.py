"""Parsed documents are graphql-core's while held, and freed by reference counting when
dropped (gqlguard/token_chain.py): a flood of unique documents leaves no cyclic garbage for a
full collection to stop the server on."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import pytest
from graphql import Token

from gqlguard import GuardRejection
from gqlguard.parsing import parse_document

from .conftest import make_client

LIMITS = {"max_characters": None, "max_tokens": None, "max_comments": None}


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    """Only what reference counting and explicit young collections free (a full collection
    would free cycles too, later, holding the interpreter while it walks them)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def tokens_named(*values: str) -> int:
    return sum(1 for held in gc.get_objects() if type(held) is Token and held.value in values)


def test_a_held_document_keeps_graphql_cores_token_chain() -> None:
    document, _ = parse_document("{ a b # note\n c }", **LIMITS)
    gc.collect()
    assert document.loc is not None
    token: Token | None = document.loc.start_token
    kinds = []
    while token is not None:
        kinds.append(token.kind.value)
        if token.next is not None:
            assert token.next.prev is token
        token = token.next
    assert kinds == ["<SOF>", "{", "Name", "Name", "Comment", "Name", "}", "<EOF>"]


def test_a_dropped_document_is_freed_without_the_cycle_collector(
    no_cycle_collector: None,
) -> None:
    document, _ = parse_document("{ " + "Flood " * 300 + "}", **LIMITS)
    assert tokens_named("Flood") == 300
    del document
    assert tokens_named("Flood") == 0


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("{ " + "Flood " * 300, {}),  # a syntax error at the end
        ("{ " + "Flood " * 300 + "}", {"parser_options": {"no_location": True}}),
    ],
)
def test_tokens_no_document_holds_are_freed_at_once(
    no_cycle_collector: None, text: str, options: dict[str, object]
) -> None:
    document = None
    with contextlib.suppress(GuardRejection):
        document, _ = parse_document(text, **{**LIMITS, **options})  # type: ignore[arg-type]
    assert tokens_named("Flood") == 0
    assert document is None or document.loc is None


async def test_documents_the_guard_lets_go_leave_nothing_for_a_full_collection(
    no_cycle_collector: None,
) -> None:
    # As in a server: a request's own cycles (Strawberry's and graphql-core's execution
    # contexts hold the document) are young and go at the next young collection; the
    # documents outlive it in the cache's window, so they are old when they are let go.
    executed = "query Q { ...Flood ...Flood } fragment Flood on Query { __typename }"
    invalid = "{ floodUnknownField }"
    async with make_client() as client:
        for n in range(3):
            for query in (executed, invalid):
                answer = await client.post("/graphql", json={"query": f"{query}\n# {n}"})
                assert answer.status_code in (200, 400)
        # A refused document is dropped at once: no collection should be needed to free it.
        assert cycles_of_a_young_collection("Flood", "floodUnknownField") == 0
        assert tokens_named("Flood") == 3 * 3  # executed: kept in the window, old from now on
        assert tokens_named("floodUnknownField") == 0
        # The cache's window holds the last 16 first sightings: 20 other texts push them out.
        for n in range(20):
            answer = await client.post("/graphql", json={"query": f"{{ __typename }}\n# {n}"})
            assert answer.json()["data"] == {"__typename": "Query"}
        assert cycles_of_a_young_collection("Flood", "floodUnknownField") == 0
    assert tokens_named("Flood", "floodUnknownField") == 0


def cycles_of_a_young_collection(*values: str) -> int:
    """Collect the young generations (what survives is old from then on); how many tokens
    named ``values`` it freed: tokens freed by a collection were in cycles (graphql-core's
    chain), the others went when they were dropped."""
    before = tokens_named(*values)
    gc.collect(1)
    return before - tokens_named(*values)
