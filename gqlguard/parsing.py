"""Pre-parse limits: characters, lexical tokens, comments and nesting, before parsing.

The character cap is checked first; then :func:`~gqlguard.prescan.prescan` counts tokens,
comments and bracket nesting at C speed and stops at the first one over its limit, so a token
flood, a megabyte of comments or 10,000 nested brackets is refused before graphql-core's
pure-Python lexer runs. Then graphql-core's own parser builds the document — the one parser,
so the document every rule, the executor and the resolvers see is graphql-core's to the last
token (token chain, ``token_count``, copy and pickle included); its own counters
(``max_lexical_tokens`` / ``max_comments``) stay on as a backstop. O(limit) for a refused
document.

>>> document, scan = parse_document("{ a }", max_characters=10, max_tokens=10, max_comments=10)
>>> (document.definitions[0].kind, scan.tokens)
('operation_definition', 3)
>>> try:
...     parse_document("{ a b c }", max_characters=None, max_tokens=4, max_comments=None)
... except GuardRejection as rejection:
...     print(rejection.error.code)
TOKEN_LIMIT_EXCEEDED
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import DocumentNode, GraphQLSyntaxError, Source
from graphql.language.parser import Parser

from .errors import ErrorCode, GuardError, GuardRejection
from .pacing import PACE, Pacer
from .prescan import Prescan, field_merge_ceiling, field_merge_floor, prescan
from .token_chain import release_chain, release_tokens_with
from .work import FIELD_MERGING, work_exceeded

__all__ = ["GuardRejection", "parse_document"]


def parse_document(
    query: str,
    *,
    max_characters: int | None,
    max_tokens: int | None,
    max_comments: int | None,
    source: Source | None = None,
    parser_options: Mapping[str, Any] | None = None,
    work_budget: int | None = None,
) -> tuple[DocumentNode, Prescan]:
    """Parse ``query`` under the pre-parse limits or raise :class:`GuardRejection`; also
    returns the pre-scan's counts (``tokens`` excludes comments, as ``max_tokens`` does).
    ``source`` (whose body is ``query``) and ``parser_options`` (graphql-core's ``parse``
    keywords) are for callers that stand in for ``graphql.parse``. With ``work_budget``, a
    text whose tokens and certain field-merge comparisons
    (:func:`~gqlguard.prescan.field_merge_floor`) already pass it is refused
    (``WORK_LIMIT_EXCEEDED``) before it is parsed: the validation it would reach is certain
    to stop at the budget."""
    if max_characters is not None and len(query) > max_characters:
        raise GuardRejection(
            GuardError(
                ErrorCode.CHARACTER_LIMIT_EXCEEDED,
                "Document is too long.",
                measured=len(query),
                limit=max_characters,
            )
        )
    scan = prescan(query, max_tokens=max_tokens, max_comments=max_comments)
    if scan.over is not None:
        raise GuardRejection(_over_limit(scan, max_tokens, max_comments))
    if work_budget is not None:
        read = scan.tokens + scan.comments
        room = work_budget - read
        if field_merge_ceiling(query) > room:  # else the floor cannot pass the room
            floor = field_merge_floor(query, room=room)
            if floor > room:
                raise GuardRejection(work_exceeded(FIELD_MERGING, read + floor, work_budget))
    options: dict[str, Any] = {
        "no_location": False,
        "max_lexical_tokens": max_tokens,
        "max_comments": max_comments,
        **(parser_options or {}),
    }
    pacer = PACE.get()
    body = source if source is not None else Source(query)
    parser = Parser(body, **options) if pacer is None else _PacedParser(body, pacer, **options)
    # Every token read is freed by reference counting once nothing holds it, document or
    # not (gqlguard/token_chain.py): a flood of texts that fail to parse leaves no cycles.
    try:
        document = parser.parse_document()
    except RecursionError:
        nested = True
    except GraphQLSyntaxError as syntax_error:
        error = _classify_syntax_error(parser, syntax_error, max_tokens, max_comments)
        release_chain(parser._lexer.token)
        raise GuardRejection(error) from None
    else:
        if document.loc is not None:
            release_tokens_with(document)
        else:  # parsed without locations: no node holds a token
            release_chain(parser._lexer.token)
        return document, scan
    release_chain(parser._lexer.token)
    # Raised outside the except block so the huge recursion traceback is not kept alive.
    assert nested
    raise GuardRejection(
        GuardError(ErrorCode.DEPTH_LIMIT_EXCEEDED, "Document is nested too deeply.")
    )


class _PacedParser(Parser):
    """graphql-core's parser, ticking a :class:`~gqlguard.pacing.Pacer` at every token."""

    def __init__(self, source: Source, pacer: Pacer, **options: Any) -> None:
        super().__init__(source, **options)
        self._pacer = pacer

    def advance_lexer(self) -> None:
        super().advance_lexer()
        self._pacer.tick()


def _over_limit(scan: Prescan, max_tokens: int | None, max_comments: int | None) -> GuardError:
    if scan.over == "tokens":
        return GuardError(
            ErrorCode.TOKEN_LIMIT_EXCEEDED,
            "Document has too many tokens.",
            measured=scan.tokens,
            limit=max_tokens,
        )
    if scan.over == "comments":
        return GuardError(
            ErrorCode.TOKEN_LIMIT_EXCEEDED,
            "Document has too many comments.",
            measured=scan.comments,
            limit=max_comments,
            extra={"counted": "comments"},
        )
    return GuardError(ErrorCode.DEPTH_LIMIT_EXCEEDED, "Document is nested too deeply.")


def _classify_syntax_error(
    parser: Parser,
    syntax_error: GraphQLSyntaxError,
    max_tokens: int | None,
    max_comments: int | None,
) -> GuardError:
    # graphql-core reports its limits as syntax errors; its counters (a versioned internal
    # API, pinned by our graphql-core range) tell which one tripped, without reading text.
    lexical_tokens: int = parser._lexical_token_counter
    comments: int = parser._lexer._comment_count
    if max_tokens is not None and lexical_tokens > max_tokens:
        return GuardError(
            ErrorCode.TOKEN_LIMIT_EXCEEDED,
            "Document has too many tokens.",
            measured=lexical_tokens,
            limit=max_tokens,
        )
    position = next(iter(syntax_error.positions or ()), -1)
    # The lexer stops *on* the first comment over the limit, before counting it.
    if (
        max_comments is not None
        and comments >= max_comments
        and parser._lexer.source.body[position : position + 1] == "#"
    ):
        return GuardError(
            ErrorCode.TOKEN_LIMIT_EXCEEDED,
            "Document has too many comments.",
            measured=comments + 1,
            limit=max_comments,
            extra={"counted": "comments"},
        )
    location = syntax_error.locations[0] if syntax_error.locations else None
    extra = {"line": location.line, "column": location.column} if location else {}
    # The syntax message names only punctuation and the token found, never schema names.
    return GuardError(ErrorCode.GRAPHQL_PARSE_FAILED, syntax_error.message, extra=extra)
