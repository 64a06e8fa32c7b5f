"""A parsed document's token chain, released with the document instead of by the cycle
collector.

graphql-core links a document's tokens both ways (``token.prev`` and ``token.next``): every
parsed document holds a reference cycle per pair of tokens, so a document that is dropped is
not freed by reference counting — its tokens wait for the cycle collector, and a document
that lived through a few young collections (a request's length) waits for a full one. Under
a flood of unique documents (each parsed, checked, perhaps executed, then dropped) those
full collections came every second or so and each held the interpreter for tens of
milliseconds: most of what a legitimate client's slowest requests waited for.

When the ``DocumentNode`` object itself is freed (nothing refers to it any more: not the
document cache, not a request, not the user's code), its tokens' back links are cleared, so
the chain is a plain list and reference counting frees it at once. While that object is
referenced, its chain is graphql-core's to the last token. What sees ``prev = None`` from
then on (a deliberate choice: docs/architecture.md): a node kept alone past its document (a
``GraphQLError``'s ``nodes``, say), and a shallow copy of the document or a visitor's edit of
it (they share its locations and tokens) that outlives the original. A parse that builds no
document holding its tokens (a syntax error, a limit, a parse without locations) has its
chain released at once (:func:`release_chain`).

>>> from graphql import parse
>>> document = parse("{ a }")
>>> first = document.loc.start_token
>>> release_tokens_with(document)
>>> first.next.prev is first  # the document is alive: the chain is whole
True
>>> del document
>>> first.next.prev is None  # freed: the back links went with it
True
"""

from __future__ import annotations

import weakref

from graphql import DocumentNode, Token

__all__ = ["release_chain", "release_tokens_with"]

# The documents being watched, by the id of their weak reference (the reference, not the
# document: a node's hash walks its whole tree), with the first token of each chain.
_watched: dict[int, tuple[weakref.ref[DocumentNode], Token]] = {}


def release_tokens_with(document: DocumentNode) -> None:
    """Clear ``document``'s token back links when the document is freed."""
    location = document.loc
    if location is None:  # parsed without locations: no node holds a token
        return
    reference = weakref.ref(document, _unlink)
    _watched[id(reference)] = (reference, location.start_token)


def release_chain(token: Token) -> None:
    """Clear the back links of the chain ``token`` belongs to, now: the tokens of a parse
    that built no document holding them (a syntax error, a nesting or token limit, a parse
    without locations), which nothing else can reach."""
    ahead = token.next
    behind: Token | None = token
    while behind is not None:
        previous = behind.prev
        behind.prev = None
        behind = previous
    while ahead is not None:
        ahead.prev = None
        ahead = ahead.next


def _unlink(
    reference: weakref.ref[DocumentNode],
    # Bound at definition: documents freed while the interpreter shuts down still find it.
    registry: dict[int, tuple[weakref.ref[DocumentNode], Token]] = _watched,
) -> None:
    watched = registry.pop(id(reference), None)
    if watched is None:
        return
    token: Token | None = watched[1]
    while token is not None:
        token.prev = None
        token = token.next
