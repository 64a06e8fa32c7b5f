"""Parsed documents are graphql-core's while held, and freed by reference counting when
dropped (gqlguard/token_chain.py): a flood of unique documents leaves no cyclic garbage for a
full collection to stop the server on."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from graphql import Token

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
        gc.collect(1)  # the young generations; what survives is old from now on
        assert tokens_named("Flood") == 3 * 3  # executed: kept in the window
        assert tokens_named("floodUnknownField") == 0  # refused: dropped, freed at once
        for n in range(20):  # first sightings of other texts push them out of the window
            answer = await client.post("/graphql", json={"query": f"{{ __typename }}\n# {n}"})
            assert answer.json()["data"] == {"__typename": "Query"}
        gc.collect(1)
    assert tokens_named("Flood", "floodUnknownField") == 0
