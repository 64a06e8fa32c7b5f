"""A fast parser for executable GraphQL documents, producing graphql-core's own AST.

graphql-core's lexer reads one character at a time in Python; on a 1,000-token document it
is most of what a request costs before execution. This parser takes its tokens from one
compiled regular expression (matched in C) and builds exactly the nodes graphql-core's
parser builds — same classes, same fields, same ``None``/tuple conventions, locations with
the same start and end — for the grammar clients send: operations, fragments, selections,
arguments, directives, variables, types and values.

Anything else — a syntax error, a type-system definition, a description, an escape sequence
in a string, a block string, a character the regular expression does not expect — makes it
hand the document to graphql-core's parser, which gives its exact result or error. A property
test holds the two parsers to equal ASTs on generated documents.

O(tokens), with no recursion deeper than the document's bracket nesting (bounded by the
pre-scan).

>>> from graphql import parse
>>> text = 'query Q($n: Int = 2) { a: posts(limit: $n) @include(if: true) { id ...F } }'
>>> parse_executable(text) == parse(text)
True
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar, cast

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    ConstDirectiveNode,
    DirectiveNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    ListTypeNode,
    ListValueNode,
    Location,
    NamedTypeNode,
    NameNode,
    Node,
    NonNullTypeNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Source,
    StringValueNode,
    Token,
    TokenKind,
    VariableDefinitionNode,
    VariableNode,
)
from graphql import parse as graphql_parse
from graphql.language.location import get_location

__all__ = ["fast_parse", "parse_executable"]

_COMMENT, _PUNCT, _SPREAD, _NAME, _NUMBER, _STRING, _OTHER = range(1, 8)
_TOKENS: Final = re.compile(
    r"(\#[^\r\n\ud800-\udfff]*)"  # 1 comment
    r"|([!$():=@\[\]{}])"  # 2 punctuator
    r"|(\.\.\.)"  # 3 spread
    r"|([_A-Za-z][_0-9A-Za-z]*)"  # 4 name
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![._0-9A-Za-z])"  # 5 number
    r'|("(?!"")[^"\\\x00-\x08\x0a-\x1f\ud800-\udfff]*")'  # 6 plain string: no escapes
    r"|([^\ufeff \t,\r\n])"  # 7 anything else: graphql-core decides
)
_OPERATIONS: Final = {
    "query": OperationType.QUERY,
    "mutation": OperationType.MUTATION,
    "subscription": OperationType.SUBSCRIPTION,
}


class _Fallback(Exception):
    """Not in the fast grammar: graphql-core's parser takes the document."""


class _SpanLocation(Location):
    """A location with the start and end graphql-core's parser would give; its tokens are
    built on demand (nothing in the guard's path reads them)."""

    __slots__ = ()

    def __init__(self, start: int, end: int, source: Source) -> None:
        self.start = start
        self.end = end
        self.source = source

    def _token(self, offset: int) -> Token:
        where = get_location(self.source, offset)
        return Token(TokenKind.NAME, offset, offset, where.line, where.column)

    @property
    def start_token(self) -> Token:  # type: ignore[override]
        return self._token(self.start)

    @property
    def end_token(self) -> Token:  # type: ignore[override]
        return self._token(self.end)


N = TypeVar("N", bound=Node)
_new = object.__new__


def _make(cls: type[N], **fields: Any) -> N:
    # graphql-core's nodes are frozen dataclasses keeping their fields in __dict__: filling
    # it directly builds the same node at half the cost of the generated __init__. Every
    # field is given, so no class-level default stands in for one.
    node: N = _new(cls)
    node.__dict__.update(fields)
    return node


def fast_parse(text: str) -> DocumentNode | None:
    """The document graphql-core's parser would build, or None when ``text`` is outside the
    fast grammar (then graphql-core's parser must decide, with its exact errors)."""
    try:
        return _Parser(text, Source(text)).document()
    except (_Fallback, IndexError):
        return None


def parse_executable(text: str) -> DocumentNode:
    """``graphql.parse(text)``, faster for executable documents; same AST, same errors."""
    document = fast_parse(text)
    return document if document is not None else graphql_parse(text)


class _Parser:
    __slots__ = ("at", "ends", "kinds", "last_end", "source", "starts", "values")

    def __init__(self, text: str, source: Source) -> None:
        matches = [match for match in _TOKENS.finditer(text) if match.lastindex != _COMMENT]
        kinds = [match.lastindex or _OTHER for match in matches]
        if _OTHER in kinds:
            raise _Fallback
        # Punctuator values ("{", "...") can never equal a name, number or string token's
        # text, so comparing values alone tells punctuators apart.
        values = [match.group() for match in matches]
        spans = [match.span() for match in matches]
        kinds.append(0)  # end of file
        values.append("")
        spans.append((len(text), len(text)))
        self.kinds, self.values = kinds, values
        self.starts = [start for start, _ in spans]
        self.ends = [end for _, end in spans]
        self.at = 0
        self.last_end = 0
        self.source = source

    # -- tokens ----------------------------------------------------------------------------

    def loc(self, start: int) -> _SpanLocation:
        return _SpanLocation(start, self.last_end, self.source)

    def peek(self, value: str) -> bool:
        return self.values[self.at] == value

    def expect(self, value: str) -> None:
        if not self.peek(value):
            raise _Fallback
        self.last_end = self.ends[self.at]
        self.at += 1

    def name(self) -> NameNode:
        at = self.at
        if self.kinds[at] != _NAME:
            raise _Fallback
        self.at = at + 1
        self.last_end = self.ends[at]
        return _make(
            NameNode,
            value=self.values[at],
            loc=_SpanLocation(self.starts[at], self.ends[at], self.source),
        )

    # -- definitions -----------------------------------------------------------------------

    def document(self) -> DocumentNode:
        definitions: list[Any] = []
        while self.kinds[self.at] != 0:
            value = self.values[self.at]
            if self.peek("{"):
                start = self.starts[self.at]
                selection_set = self.selection_set()
                definitions.append(
                    _make(
                        OperationDefinitionNode,
                        operation=OperationType.QUERY,
                        description=None,
                        name=None,
                        variable_definitions=None,
                        directives=None,
                        selection_set=selection_set,
                        loc=self.loc(start),
                    )
                )
            elif self.kinds[self.at] == _NAME and value in _OPERATIONS:
                definitions.append(self.operation())
            elif self.kinds[self.at] == _NAME and value == "fragment":
                definitions.append(self.fragment())
            else:
                raise _Fallback
        if not definitions:
            raise _Fallback
        # graphql-core's document ends at its end-of-file token: the end of the text.
        body = self.source.body
        return _make(
            DocumentNode,
            definitions=tuple(definitions),
            loc=_SpanLocation(0, len(body), self.source),
        )

    def operation(self) -> OperationDefinitionNode:
        start = self.starts[self.at]
        operation = _OPERATIONS[self.values[self.at]]
        self.at += 1
        self.last_end = self.ends[self.at - 1]
        name = self.name() if self.kinds[self.at] == _NAME else None
        variables = self.variable_definitions() if self.peek("(") else None
        directives = self.directives(const=False)
        selection_set = self.selection_set()
        return _make(
            OperationDefinitionNode,
            operation=operation,
            description=None,
            name=name,
            variable_definitions=variables,
            directives=directives,
            selection_set=selection_set,
            loc=self.loc(start),
        )

    def fragment(self) -> FragmentDefinitionNode:
        start = self.starts[self.at]
        self.at += 1
        name = self.name()
        if name.value == "on" or self.values[self.at] != "on" or self.kinds[self.at] != _NAME:
            raise _Fallback
        self.at += 1
        type_condition = self.named_type()
        directives = self.directives(const=False)
        selection_set = self.selection_set()
        return _make(
            FragmentDefinitionNode,
            description=None,
            name=name,
            variable_definitions=(),
            type_condition=type_condition,
            directives=directives,
            selection_set=selection_set,
            loc=self.loc(start),
        )

    def variable_definitions(self) -> tuple[VariableDefinitionNode, ...]:
        self.expect("(")
        definitions = []
        while not self.peek(")"):
            start = self.starts[self.at]
            variable = self.variable()
            self.expect(":")
            type_node = self.type_reference()
            default = None
            if self.peek("="):
                self.expect("=")
                default = self.value(const=True)
            directives = self.directives(const=True)
            definitions.append(
                _make(
                    VariableDefinitionNode,
                    description=None,
                    variable=variable,
                    type=type_node,
                    default_value=default,
                    directives=cast("tuple[ConstDirectiveNode, ...] | None", directives),
                    loc=self.loc(start),
                )
            )
        if not definitions:
            raise _Fallback
        self.expect(")")
        return tuple(definitions)

    def variable(self) -> VariableNode:
        start = self.starts[self.at]
        self.expect("$")
        name = self.name()
        return _make(VariableNode, name=name, loc=self.loc(start))

    def type_reference(self) -> Any:
        start = self.starts[self.at]
        inner: Any
        if self.peek("["):
            self.expect("[")
            of_type = self.type_reference()
            self.expect("]")
            inner = _make(ListTypeNode, type=of_type, loc=self.loc(start))
        else:
            inner = self.named_type()
        if self.peek("!"):
            self.expect("!")
            return _make(NonNullTypeNode, type=inner, loc=self.loc(start))
        return inner

    def named_type(self) -> NamedTypeNode:
        start = self.starts[self.at]
        name = self.name()
        return _make(NamedTypeNode, name=name, loc=self.loc(start))

    # -- selections ------------------------------------------------------------------------

    def selection_set(self) -> SelectionSetNode:
        start = self.starts[self.at]
        self.expect("{")
        selections: list[Any] = []
        values = self.values
        while values[self.at] != "}":
            if values[self.at] == "...":
                selections.append(self.fragment_selection())
            else:
                selections.append(self.field())
        if not selections:
            raise _Fallback
        self.expect("}")
        return _make(SelectionSetNode, selections=tuple(selections), loc=self.loc(start))

    def field(self) -> FieldNode:
        start = self.starts[self.at]
        name_or_alias = self.name()
        alias = None
        values = self.values
        if values[self.at] == ":":
            self.expect(":")
            alias, name = name_or_alias, self.name()
        else:
            name = name_or_alias
        arguments = self.arguments(const=False) if values[self.at] == "(" else None
        directives = self.directives(const=False) if values[self.at] == "@" else None
        selection_set = self.selection_set() if values[self.at] == "{" else None
        return _make(
            FieldNode,
            alias=alias,
            name=name,
            arguments=arguments,
            directives=directives,
            selection_set=selection_set,
            loc=self.loc(start),
        )

    def fragment_selection(self) -> Any:
        start = self.starts[self.at]
        self.expect("...")
        at = self.at
        if self.kinds[at] == _NAME and self.values[at] != "on":
            name = self.name()
            directives = self.directives(const=False)
            return _make(
                FragmentSpreadNode,
                name=name,
                arguments=None,
                directives=directives,
                loc=self.loc(start),
            )
        type_condition = None
        if self.kinds[at] == _NAME:  # "on"
            self.at += 1
            type_condition = self.named_type()
        directives = self.directives(const=False)
        selection_set = self.selection_set()
        return _make(
            InlineFragmentNode,
            type_condition=type_condition,
            directives=directives,
            selection_set=selection_set,
            loc=self.loc(start),
        )

    def arguments(self, const: bool) -> tuple[ArgumentNode, ...]:
        self.expect("(")
        arguments = []
        while not self.peek(")"):
            start = self.starts[self.at]
            name = self.name()
            self.expect(":")
            value = self.value(const)
            arguments.append(_make(ArgumentNode, name=name, value=value, loc=self.loc(start)))
        if not arguments:
            raise _Fallback
        self.expect(")")
        return tuple(arguments)

    def directives(self, const: bool) -> tuple[DirectiveNode, ...] | None:
        if not self.peek("@"):
            return None
        directives = []
        while self.peek("@"):
            start = self.starts[self.at]
            self.expect("@")
            name = self.name()
            arguments = self.arguments(const) if self.peek("(") else None
            directives.append(
                _make(DirectiveNode, name=name, arguments=arguments, loc=self.loc(start))
            )
        return tuple(directives)

    # -- values ----------------------------------------------------------------------------

    def value(self, const: bool) -> Any:
        at = self.at
        kind, text, start = self.kinds[at], self.values[at], self.starts[at]
        if kind == _PUNCT:
            if text == "[":
                self.expect("[")
                values = []
                while not self.peek("]"):
                    values.append(self.value(const))
                self.expect("]")
                return _make(ListValueNode, values=tuple(values), loc=self.loc(start))
            if text == "{":
                self.expect("{")
                fields = []
                while not self.peek("}"):
                    field_start = self.starts[self.at]
                    name = self.name()
                    self.expect(":")
                    fields.append(
                        _make(
                            ObjectFieldNode,
                            name=name,
                            value=self.value(const),
                            loc=self.loc(field_start),
                        )
                    )
                self.expect("}")
                return _make(ObjectValueNode, fields=tuple(fields), loc=self.loc(start))
            if text == "$" and not const:
                return self.variable()
            raise _Fallback
        self.at = at + 1
        self.last_end = self.ends[at]
        loc = _SpanLocation(start, self.ends[at], self.source)
        if kind == _NUMBER:
            if "." in text or "e" in text or "E" in text:
                return _make(FloatValueNode, value=text, loc=loc)
            return _make(IntValueNode, value=text, loc=loc)
        if kind == _STRING:
            return _make(StringValueNode, value=text[1:-1], block=False, loc=loc)
        if kind == _NAME:
            if text == "true" or text == "false":
                return _make(BooleanValueNode, value=text == "true", loc=loc)
            if text == "null":
                return _make(NullValueNode, loc=loc)
            return _make(EnumValueNode, value=text, loc=loc)
        raise _Fallback
