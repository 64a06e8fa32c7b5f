"""The pre-scan: lexical tokens, comments and bracket nesting, counted at C speed.

graphql-core's lexer is pure Python; a document over ``max_tokens`` would cost most of a full
parse before the parser's own counter stops it. This scan matches one token at a time with one
compiled regular expression (the matching runs inside ``re``'s C engine), counts as graphql-core
counts — punctuators, names, numbers, strings and block strings are one token each; commas,
whitespace, line terminators and byte order marks are ignored; comments are counted apart — and
stops at the first token over a limit, so an over-limit document is refused after reading at
most ``limit + 1`` tokens. For every document graphql-core's lexer accepts, ``tokens`` equals
its lexical token count and ``comments`` its comment count (a property test holds it to that);
a document the lexer refuses may be counted differently, and is refused either way.

O(characters read), at most the document.

>>> scan = prescan('query Q($n: Int = 1.0e-5) { a(s: "x") # why\\n b }')
>>> (scan.tokens, scan.comments, scan.nesting)
(19, 1, 2)
>>> prescan("{ a b c }", max_tokens=4).over
'tokens'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_NESTING", "Prescan", "prescan"]

# Brackets nested deeper than this are refused before parsing: graphql-core's recursive
# descent parser needs several Python frames per level and would hit the recursion limit
# (a selection set, a list value or an object value each count as one level).
MAX_NESTING: Final = 128

# Strings are matched so that the match can never fail once it has started: each loop's
# alternatives begin with different characters (one way to read any text), the loops are
# possessive (no backtracking into them), and what ends the string is optional — an
# unterminated string ends at its line's end (or a trailing backslash), the lexer refuses it
# either way. A pattern that could fail after reading to the line's end would make the scan
# start again one character later: quadratic on `"` followed by thousands of `\"`.
# Block string: anything but an unescaped """, to the closing """ (or the end of the text).
_BLOCK_STRING: Final = r'"""(?:[^"\\]|\\(?!""")|\\"""|"(?!""))*+(?:"""|\Z)'
# String, one line: plain characters and escape pairs, then the quote if there is one.
_STRING: Final = r'"(?:[^"\\\r\n]|\\[^\r\n])*+(?:"|\\)?'
_TOKEN: Final = re.compile(
    r"(\#[^\r\n]*)"  # 1: comment
    r"|([\[{(])"  # 2: opening bracket
    r"|([\]})])"  # 3: closing bracket
    + (r"|" + _BLOCK_STRING + r"|" + _STRING)
    + r"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"  # number
    r"|[_A-Za-z][_0-9A-Za-z]*"  # name
    r"|\.\.\."  # spread
    r"|[^\ufeff \t,\r\n]"  # any other character: a punctuator, or an error for the lexer
)
# Comments and the strings that may hide a `#`: counted in one C-level findall, for documents
# with more `#` than max_comments allows (a comment flood is refused without a Python loop).
_COMMENT_OR_STRING: Final = re.compile(r"(\#)[^\r\n]*|" + _BLOCK_STRING + r"|" + _STRING)
_COMMENT: Final = re.compile(r"\#[^\r\n]*")


@dataclass(frozen=True, slots=True)
class Prescan:
    """What the scan counted; ``over`` names the first limit crossed (then the counts stop
    one past that limit)."""

    tokens: int
    comments: int
    nesting: int
    over: str | None = None


def prescan(
    text: str,
    *,
    max_tokens: int | None = None,
    max_comments: int | None = None,
    max_nesting: int | None = MAX_NESTING,
) -> Prescan:
    """Count ``text``'s lexical tokens, comments and deepest bracket nesting."""
    token_cap = -1 if max_tokens is None else max_tokens
    comment_cap = -1 if max_comments is None else max_comments
    nesting_cap = -1 if max_nesting is None else max_nesting
    if max_comments is not None and text.count("#") > max_comments:
        flood = (
            _COMMENT.subn("", text)[1]  # no string to hide a `#`: every comment, counted in C
            if '"' not in text
            else _COMMENT_OR_STRING.findall(text).count("#")
        )
        if flood > max_comments:
            return Prescan(0, flood, 0, "comments")
    tokens = comments = level = deepest = 0
    for match in _TOKEN.finditer(text):
        kind = match.lastindex
        if kind == 1:
            comments += 1
            if comments == comment_cap + 1:
                return Prescan(tokens, comments, deepest, "comments")
            continue
        tokens += 1
        if tokens == token_cap + 1:
            return Prescan(tokens, comments, deepest, "tokens")
        if kind == 2:
            level += 1
            if level > deepest:
                deepest = level
                if deepest == nesting_cap + 1:
                    return Prescan(tokens, comments, deepest, "nesting")
        elif kind == 3:
            level -= 1
    return Prescan(tokens, comments, deepest)
