"""graphql-core is the oracle: on a document the guard accepts, every rule and the executor see
the document as sent, so verdicts, data (key order included), errors, locations and what
resolvers see are graphql-core's own (issue 21, one test per reproduction)."""

from __future__ import annotations

import asyncio
import copy
import pickle
from typing import Any

import pytest
from graphql import (
    ASTValidationRule,
    FieldNode,
    GraphQLError,
    GraphQLResolveInfo,
    Token,
    TokenKind,
    build_schema,
    execute,
    parse,
    specified_rules,
    validate,
)

from gqlguard import DIRECTIVES_SDL, Guard, GuardConfig
from gqlguard.authorization import Principal
from gqlguard.execution import Enforcement, Execution, graphql_core_executor

OFF = GuardConfig(
    max_depth=None,
    max_aliases=None,
    max_directives=None,
    max_fields=None,
    max_cost=None,
    mask_errors=False,
    introspection="on",
)

DOGS = build_schema(
    """
    directive @inlineOnly on INLINE_FRAGMENT
    directive @spreadOnly on FRAGMENT_SPREAD
    directive @tag(when: Boolean) on FRAGMENT_DEFINITION
    type Dog { name: String id: ID barks: Boolean friends: [Dog] }
    type Query { dog: Dog hello: String boom: String }
    """
)
ROOT = {
    "dog": {"name": "Rex", "id": "1", "barks": True, "friends": [{"name": "Ada", "id": "2"}]},
    "hello": "hi",
}


def _verdict_ok(guard: Guard, text: str, variables: dict[str, Any] | None = None) -> bool:
    return guard.check(text, variables).accepted


@pytest.mark.parametrize(
    "text",
    [
        "{ ...F @inlineOnly } fragment F on Query { hello }",
        "{ ...F @spreadOnly } fragment F on Query { hello }",
        "{ ... @inlineOnly { hello } }",
        "{ ... @spreadOnly { hello } }",
        "query($v: Boolean) { ...F } fragment F on Query @tag(when: $v) { hello }",
        "query($v: Boolean) { hello }",
        "{ dog { name } ...F } fragment F on Query { dog { name: id } }",
        "{ dog { name } dog { name } ...F ...F } fragment F on Query { dog { name } }",
    ],
)
def test_the_guards_verdict_is_graphql_cores_verdict(text: str) -> None:
    guard = Guard(DOGS, OFF)
    expected = validate(DOGS, parse(text)) == []
    assert _verdict_ok(guard, text, {"v": True}) is expected


def test_a_users_rule_sees_every_duplicate_as_sent() -> None:
    class AtMostTwoAliases(ASTValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            self.count = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            self.count += node.alias is not None
            if self.count == 3:
                self.report_error(GraphQLError("too many aliases"))

    guard = Guard(DOGS, OFF, validation_rules=[*specified_rules, AtMostTwoAliases])
    assert not guard.check("{ a: hello a: hello a: hello a: hello a: hello }").accepted
    assert guard.check("{ a: hello b: hello }").accepted


def _run(guard: Guard, text: str, variables: dict[str, Any] | None = None, root: Any = ROOT) -> Any:
    verdict = guard.check(text, variables)
    assert verdict.accepted, verdict.formatted_errors()
    assert verdict.document is not None
    run = graphql_core_executor(guard.schema, root_value=root)
    execution = Execution(
        document=verdict.document,
        verdict=verdict,
        query=text,
        variables=variables,
        operation_name=None,
        context={},
        principal=Principal.anonymous(),
        enforcement=Enforcement(guard, verdict),
    )
    return asyncio.run(run(execution))


def test_key_order_is_graphql_cores_through_conditional_fragments() -> None:
    text = "query($v: Boolean!) { dog { name } ... @include(if: $v) { dog { id } } dog { barks } }"
    ours = _run(Guard(DOGS, OFF), text, {"v": True})
    theirs = execute(DOGS, parse(text), root_value=ROOT, variable_values={"v": True})
    assert list(ours.data["dog"]) == list(theirs.data["dog"]) == ["name", "id", "barks"]  # type: ignore[index]


def test_resolvers_see_every_field_node_and_errors_keep_every_location() -> None:
    seen: list[int] = []

    def boom(_root: Any, info: GraphQLResolveInfo) -> str:
        seen.append(len(info.field_nodes))
        raise ValueError("no")

    schema = build_schema("type Query { boom: String hello: String }")
    schema.query_type.fields["boom"].resolve = boom  # type: ignore[union-attr]
    text = "{ boom ...F boom } fragment F on Query { boom }"
    ours = _run(Guard(schema, OFF), text)
    theirs = execute(schema, parse(text))
    assert seen == [3, 3]
    assert ours.errors is not None and theirs.errors is not None
    assert [e.locations for e in ours.errors] == [e.locations for e in theirs.errors]
    assert len(ours.errors[0].locations or ()) == 3


def _chain(token: Token | None) -> list[tuple[TokenKind, int, int, str | None]]:
    tokens = []
    while token is not None:
        tokens.append((token.kind, token.start, token.end, token.value))
        token = token.next
    return tokens


def test_the_executed_document_is_graphql_cores_to_the_last_token() -> None:
    text = "query Q($v: Boolean!) { dog @include(if: $v) { name } } # trailing"
    document = Guard(DOGS, OFF).check(text, {"v": True}).document
    assert document is not None
    reference = parse(text)
    assert document == reference
    assert document.token_count == reference.token_count > 0
    assert document.loc is not None and reference.loc is not None
    assert _chain(document.loc.start_token) == _chain(reference.loc.start_token)
    assert _chain(document.loc.start_token)[0][0] is TokenKind.SOF
    assert _chain(document.loc.start_token)[-1][0] is TokenKind.EOF
    assert copy.deepcopy(document) == reference
    assert pickle.loads(pickle.dumps(document)) == reference


@pytest.mark.parametrize(
    "text",
    [
        "{ secret ... @include(if: true) { public } }",
        "{ secret ... @skip(if: false) { public } }",
        "{ secret ...P } fragment P on Query { public }",
    ],
)
def test_filter_mode_keeps_allowed_root_fields_behind_fragments(text: str) -> None:
    schema = build_schema(
        DIRECTIVES_SDL + "type Query { secret: String @authenticated public: String }"
    )
    guard = Guard(schema, GuardConfig(authorization_mode="filter", mask_errors=False))
    result = _run(guard, text, root={"secret": "s", "public": "p"})
    assert result.data == {"secret": None, "public": "p"}
    assert [e.extensions["code"] for e in result.errors or ()] == ["UNAUTHORIZED_FIELD_OR_TYPE"]  # type: ignore[index]


def test_a_bare_authenticated_directive_in_sdl_is_read_not_crashed_on() -> None:
    schema = build_schema(DIRECTIVES_SDL + "type Query { me: String @authenticated }")
    assert schema.query_type is not None
    node = schema.query_type.fields["me"].ast_node
    assert node is not None and node.directives and node.directives[0].arguments in (None, ())
    guard = Guard(schema, GuardConfig(authorization_mode="reject"))
    assert not guard.check("{ me }").accepted
    assert guard.check("{ me }", principal=Principal(subject="1")).accepted


def _with_defer_and_stream() -> Any:
    from graphql import (
        GraphQLDeferDirective,
        GraphQLSchema,
        GraphQLStreamDirective,
        specified_directives,
    )

    base = build_schema("type Query { dog: Dog dogs: [Dog] } type Dog { name: String id: ID }")
    return GraphQLSchema(
        query=base.query_type,
        directives=[*specified_directives, GraphQLDeferDirective, GraphQLStreamDirective],
    )


@pytest.mark.parametrize(
    "text",
    [
        # duplicate labels on identical selections
        '{ ... @defer(label: "a") { dog { name } } ... @defer(label: "a") { dog { name } } }',
        # two identical @stream fields
        "{ dogs @stream { name } dogs @stream { name } }",
        # distinct labels: valid
        '{ ... @defer(label: "a") { dog { name } } ... @defer(label: "b") { dog { id } } }',
    ],
)
def test_defer_and_stream_are_judged_as_graphql_core_judges_them(text: str) -> None:
    # The collapse rewrite merged identical selections, so duplicate labels and identical
    # @stream fields passed; the document as sent is what graphql-core's rules see.
    schema = _with_defer_and_stream()
    expected = not validate(schema, parse(text))
    assert Guard(schema, OFF).check(text).accepted is expected
