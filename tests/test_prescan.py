"""The pre-scan counts exactly what graphql-core's lexer counts (issue 13), and refuses an
over-limit document in a small fraction of the time graphql-core needs to parse it."""

from __future__ import annotations

import time

import pytest
from graphql import GraphQLSyntaxError, Source, parse
from graphql.language import Lexer, TokenKind
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gqlguard import Guard, GuardConfig
from gqlguard.prescan import prescan
from gqlguard.testing import hostile_documents, valid_queries
from schema_example.schema import DEMO_POLICIES
from schema_example.schema import build_schema as build_demo_schema

from .conftest import examples

DEMO = build_demo_schema(GuardConfig())


def lexed(text: str) -> tuple[int, int]:
    """(tokens, comments) as graphql-core's lexer reads them."""
    lexer = Lexer(Source(text))
    tokens = 0
    token = lexer.advance()
    while token.kind is not TokenKind.EOF:
        tokens += 1
        token = lexer.advance()
    comments = 0
    node = token
    while node is not None:
        comments += node.kind is TokenKind.COMMENT
        node = node.prev
    return tokens, comments


def assert_counts_equal_the_lexer(text: str) -> None:
    try:
        expected = lexed(text)
    except GraphQLSyntaxError:
        assume(False)
        return
    scan = prescan(text, max_nesting=None)
    assert (scan.tokens, scan.comments) == expected


PIECES = st.sampled_from(
    [
        "{", "}", "(", ")", "[", "]", ":", "=", "@", "$", "!", "|", "&", "...",
        "name", "_x9", "query", "on", "0", "-7", "12", "1.0e-5", "3.25E+10", "-0.5",
        '"s"', '"a\\"b"', '"\\u00e9\\n"', '"#not a comment"', '"é 中"',
        '"""block"""', '"""a \\""" b"""', '"""line\n"two" ""\n"""', '""""""',
    ]
)  # fmt: skip
IGNORED = st.sampled_from([" ", "\t", ",", "\n", "\r\n", "\r", "\ufeff", " # a comment\n", "#\n"])


@settings(max_examples=examples(300))
@given(st.lists(st.tuples(PIECES, IGNORED), max_size=60))
def test_counts_equal_the_lexer_on_generated_token_streams(parts: list[tuple[str, str]]) -> None:
    assert_counts_equal_the_lexer("".join(piece + gap for piece, gap in parts))


@settings(max_examples=examples(100))
@given(st.one_of(valid_queries(DEMO), hostile_documents(DEMO, GuardConfig())))
def test_counts_equal_the_lexer_on_generated_documents(text: str) -> None:
    assert_counts_equal_the_lexer(text)


@pytest.mark.parametrize(
    "text",
    [
        "{ a }",
        "\ufeff{a,b}",
        "{ a # x\n }",
        '{ a(s: """x\\"""y""") }',
        "{ ...F }",
        "{ a(n: 1.0e-5) }",
    ],
)
def test_the_reported_tokens_are_what_max_tokens_counts(text: str) -> None:
    tokens, comments = lexed(text)
    at = Guard(DEMO, GuardConfig(max_tokens=tokens, max_comments=comments), policies=DEMO_POLICIES)
    under = Guard(DEMO, GuardConfig(max_tokens=tokens - 1), policies=DEMO_POLICIES)
    assert "TOKEN_LIMIT_EXCEEDED" not in {e.code.value for e in at.check(text).errors}
    refused = under.check(text).errors
    assert [e.code.value for e in refused] == ["TOKEN_LIMIT_EXCEEDED"]
    assert refused[0].measured == tokens


OVER_LIMIT = {
    "tokens": "{ posts(limit: 1) { " + "title author { name } " * 300 + "} }",
    "comments": "{ posts(limit: 1) { id } }\n" + "# c\n" * 1_100,
}


@pytest.mark.parametrize("text", list(OVER_LIMIT.values()), ids=list(OVER_LIMIT))
def test_an_over_limit_document_is_refused_before_graphql_core_would_parse_it(text: str) -> None:
    guard = Guard(DEMO, GuardConfig(), policies=DEMO_POLICIES)

    # Interleaved round by round: a noisy moment of the shared machine weighs on both sides.
    # This thread's CPU only: the process's would count a thread an earlier test left behind.
    refusals: list[float] = []
    parses: list[float] = []
    for n in range(7):
        for action, times in ((guard.check, refusals), (parse, parses)):
            started = time.thread_time()
            action(f"{text}\n# {n}")  # type: ignore[operator]
            times.append(time.thread_time() - started)
    refusal, parsing = min(refusals), min(parses)
    assert guard.check(text).errors[0].code.value == "TOKEN_LIMIT_EXCEEDED"
    assert refusal < parsing / 4, (refusal, parsing)  # measured ~0.05-0.1; generous for noise


def test_a_comment_flood_is_counted_by_comments_not_by_hash_signs() -> None:
    # One `#` per line, two per line, and a string elsewhere: the flood's three paths.
    single = "{ a }\n" + "# x\n" * 5
    plain = "{ a }\n" + "# x # y\n" * 5
    quoted = '{ a(s: "#") }\n' + "# x # y\n" * 5
    for text in (single, plain, quoted):
        scan = prescan(text, max_comments=3)
        assert (scan.over, scan.comments) == ("comments", 5)
        assert prescan(text, max_comments=5).over is None


@settings(max_examples=examples(300))
@given(st.lists(st.tuples(PIECES | st.sampled_from(["#", "# a # b", "##"]), IGNORED), max_size=60))
def test_a_comment_flood_counts_what_the_lexer_counts(parts: list[tuple[str, str]]) -> None:
    # max_comments=0 sends every text with a `#` through the flood count, on each path.
    text = "".join(piece + gap for piece, gap in parts)
    try:
        _, comments = lexed(text)
    except GraphQLSyntaxError:
        assume(False)
        return
    scan = prescan(text, max_comments=0)
    assert scan.comments == comments
    assert scan.over == ("comments" if comments else None)
