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
from collections import Counter
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_NESTING", "Prescan", "field_merge_ceiling", "field_merge_floor", "prescan"]

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
# A `#` after another on its line is inside that comment. Searching for one costs a few
# times less than counting the comments one match at a time (a flood of one-comment lines).
_SECOND_HASH: Final = re.compile(r"\#[^\r\n\#]*+\#")


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
    hashes = text.count("#") if max_comments is not None else 0
    if max_comments is not None and hashes > max_comments:
        if '"' in text:  # a string may hide a `#`
            flood = _COMMENT_OR_STRING.findall(text).count("#")
        elif _SECOND_HASH.search(text) is None:  # one `#` per line: each opens a comment
            flood = hashes
        else:  # every comment, counted in C
            flood = _COMMENT.subn("", text)[1]
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


# Top-level words that open a type-system definition: their braces hold field definitions,
# which graphql-core's field-merge rule never compares.
_TYPE_SYSTEM: Final = frozenset(
    ("type", "interface", "input", "enum", "union", "scalar", "schema", "extend", "directive")
)
_EXECUTABLE: Final = frozenset(("query", "mutation", "subscription", "fragment"))


_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def field_merge_ceiling(text: str) -> int:
    """What :func:`field_merge_floor` could at most count on ``text``, counted in C: two units
    per pair of equal names anywhere in the text, and for ``k`` spreads and ``f`` fragment
    definitions ``2 * k + min(k, f) * k`` (a collection's distinct fragments are at most its
    spreads and at most the text's fragments). Only a text whose ceiling passes the room is
    scanned for its floor (realistic documents never are). A text this counts short is still
    bounded: by the meter, stage by stage.

    >>> field_merge_ceiling("{ a a ...F ...F } fragment F on Q { b }")  # 2 + 6 + 4 + 2
    14
    """
    spreads = text.count("...")
    fragments = text.count("fragment")
    pairs = sum(count * (count - 1) for count in Counter(_NAME.findall(text)).values())
    return pairs + 2 * spreads + min(spreads, fragments) * spreads


class _Group:
    """One collection of graphql-core's field-merge rule: a selection set's fields and
    spreads, its inline fragments' included."""

    __slots__ = ("names", "spreads")

    def __init__(self) -> None:
        self.names: dict[str, int] = {}  # response name -> its fields so far
        self.spreads: list[str] = []


def field_merge_floor(text: str, *, room: int) -> int:
    """A floor on the units graphql-core's field-merge rule spends on ``text``, counted on its
    tokens before anything is parsed; counting stops once past ``room``.

    The rule collects each selection set's fields and fragment spreads with those of its
    inline fragments, and spends before it looks at anything else: two units on every pair
    of fields with one response name (so ``2 * (k - 1)`` for the ``k``-th field of a name);
    and, when the collection holds spreads and fields or several spreads, one unit per
    spread, one per distinct fragment and two per pair of distinct fragments. Only those
    units are counted (a spread of a fragment the text does not define counts once at
    most, distinct fragments only among the defined ones): nested comparisons, scopes and
    schema types add to the rule's work, never here. The scan follows the grammar of
    selection sets only where it can be sure: everything inside parentheses (arguments,
    variable definitions and their values) and inside type-system definitions is passed
    over. A text graphql-core cannot parse is counted all the same, and refused either way.

    >>> field_merge_floor("{ a a b: a ... on Q { a } ...F @skip(if: true) }", room=100)
    7
    >>> field_merge_floor("{ a a a a }", room=100)
    12
    >>> fragments = "fragment A on Q { a } fragment B on Q { a }"
    >>> field_merge_floor("{ ...A ...B ...A } " + fragments, room=100)
    7
    >>> field_merge_floor("{ a { a } b: c(x: {a: 1, a: 2}) }", room=100)
    0
    """
    groups: list[_Group | None] = []  # per open brace: its collection (None: not counted)
    finished: list[_Group] = []  # collections with spreads, priced once the fragments are known
    defined: set[str] = set()  # fragment names the text defines
    parens = 0
    previous = ""  # the last punctuator that decides what a name is ("...", "@", ":")
    keyword = ""  # at the top level: a definition's keyword whose name comes next
    skip_name = False  # the next name is a type condition
    inline = False  # the next brace opens an inline fragment: its selections join the group
    executable = True  # at the top level: whether the next brace opens a selection set
    spent = 0
    for match in _TOKEN.finditer(text):
        kind = match.lastindex
        if kind == 1:
            continue
        token = match.group()
        if parens:
            parens += token == "(" if kind == 2 else -(token == ")") if kind == 3 else 0
            continue
        if kind == 2:
            previous = ""
            if token == "(":  # arguments: an inline fragment's directives may have some
                parens = 1
                continue
            if token == "{":
                if not groups:
                    groups.append(_Group() if executable else None)
                    keyword = ""
                elif inline:
                    groups.append(groups[-1])
                else:
                    groups.append(_Group() if groups[-1] is not None else None)
            inline = False
            continue
        if kind == 3:
            if token == "}" and groups:
                group = groups.pop()
                if group is not None and group.spreads and (not groups or groups[-1] is not group):
                    finished.append(group)
                if not groups:
                    executable = True
            previous = ""
            continue
        first = token[0]
        if first == "_" or first.isalpha():
            if not groups:
                # A definition's keyword, or the name the keyword before it gives
                # (`type query`, `fragment on`... name things, they open nothing).
                if keyword == "extend" and token in _TYPE_SYSTEM:
                    keyword = token  # `extend type X`: X is the name
                elif keyword:
                    if keyword == "fragment":
                        defined.add(token)
                    keyword = ""
                elif token in _TYPE_SYSTEM:
                    executable, keyword = False, token
                elif token in _EXECUTABLE:
                    executable, keyword = True, token
                continue
            group = groups[-1]
            if previous == "...":
                inline = token == "on"
                skip_name = inline
                if not inline and group is not None:
                    group.spreads.append(token)
            elif skip_name:
                skip_name = False
            elif previous not in ("@", ":") and group is not None:
                seen = group.names.get(token, 0)
                group.names[token] = seen + 1
                spent += 2 * seen
                if spent > room:
                    return spent
            previous = ""
            continue
        if token in ("...", "@", ":"):
            previous = token
            inline = inline or token == "..."
        else:
            previous = ""
    for group in finished:
        if group.names or len(group.spreads) > 1:
            fragments = len(defined.intersection(group.spreads))
            spent += len(group.spreads) + fragments + fragments * (fragments - 1)
    return spent
