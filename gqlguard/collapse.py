"""Collapse: the document with every fragment inlined and every provably identical selection
merged — what validation and execution see.

graphql-core's ``OverlappingFieldsCanBeMergedRule`` compares every pair of fields that share a
response name, and compares their sub-selections again for each pair: quadratic in duplicated
selections, whatever form the duplication takes (plain repeats, repeated or different fragments
selecting one field, nested repeats). Rather than a rule of our own that would have to match
that rule's verdicts and messages case by case, the guard hands graphql-core's validation (and
the executor) a document in which duplicates no longer exist:

- every fragment spread becomes an inline fragment with the fragment's type condition and the
  spread's directives; one whose condition is the enclosing type, without directives, is spliced
  into the enclosing selection set, and a fragment spread twice into one place is read once;
- a field with the same response name, field name, arguments and directives as one met earlier
  in the same selection set under the same conditions (the same chain of type conditions and
  directives) is merged into it: its sub-selections are appended to the earlier field's.

Both are what the executor does anyway (it groups fields by response name and concatenates their
sub-selections, in document order), so results — key order included — are unchanged, and so
are verdicts: every rule sees the same fields, arguments, directives and variables, once. What
the collapsed document cannot show — unknown, unused, cyclic or duplicate fragments, directives
on fragment definitions, definitions that are not executable — marks the result ``anomalous``,
and the guard then validates the document as sent (every rule but the field-merge one, which
still runs on the collapsed document). What is left for the field-merge rule to compare is
bounded by the distinct conditions in a selection set (type conditions times directives), not
by the document's length, and validation costs what the distinct selections cost.

O(selections after inlining), which the analysis has already bounded by ``max_fields`` for the
operation that runs; every other operation is inlined under the same budget.

>>> from graphql import build_schema, parse, print_ast
>>> schema = build_schema("type Query { a: A b: Int } type A { x: Int y: Int }")
>>> doc = parse("{ a { x } ...F a { y } } fragment F on Query { a { x } b }")
>>> print(print_ast(collapse_document(doc, schema, max_selections=100)))
{
  a {
    x
    y
  }
  b
}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    NamedTypeNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)

from .errors import ErrorCode, GuardError
from .fragments import fragments_of
from .parsing import GuardRejection

__all__ = ["Collapsed", "collapse", "collapse_document"]

# Field levels after inlining; far beyond any depth limit, and well inside Python's stack.
_MAX_FIELD_NESTING: Final = 200

# (type condition, directives) of each inline fragment between a selection set and a field.
Chain = tuple[tuple[str | None, Any], ...]


@dataclass(slots=True, eq=False)
class _Field:
    node: FieldNode
    parent: GraphQLNamedType | None
    sources: list[SelectionSetNode] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Inline:
    type_condition: NamedTypeNode | None
    directives: tuple[DirectiveNode, ...]
    node: SelectionNode
    items: list[_Field | _Inline] = field(default_factory=list)


class _Collapser:
    def __init__(
        self, document: DocumentNode, schema: GraphQLSchema | None, max_selections: int | None
    ) -> None:
        self.schema = schema
        self.fragments = fragments_of(document)
        self.max_selections = max_selections
        self.budget = max_selections
        self.reached: set[str] = set()
        # What the collapsed document cannot show: the sent one must be validated as it is.
        self.anomalous = len(self.fragments) != sum(
            isinstance(d, FragmentDefinitionNode) for d in document.definitions
        ) or any(
            not isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
            or (
                isinstance(d, FragmentDefinitionNode)
                and bool(d.directives or d.variable_definitions)
            )
            for d in document.definitions
        )

    # -- one merged selection set ------------------------------------------------------

    def build(
        self, sources: list[SelectionSetNode], parent: GraphQLNamedType | None, level: int
    ) -> SelectionSetNode:
        if level > _MAX_FIELD_NESTING:
            raise GuardRejection(
                GuardError(ErrorCode.DEPTH_LIMIT_EXCEEDED, "Document is nested too deeply.")
            )
        items: list[_Field | _Inline] = []
        merged: dict[tuple[Chain, Any], _Field] = {}
        seen_spreads: set[tuple[Chain, str, Any]] = set()
        # An explicit stack: chained fragments never recurse.
        stack: list[
            tuple[Iterator[SelectionNode], Chain, list[_Field | _Inline], Any, frozenset[str]]
        ]
        stack = [
            (iter(source.selections), (), items, parent, frozenset())
            for source in reversed(sources)
        ]
        while stack:
            selections, chain, target, scope, active = stack[-1]
            selection = next(selections, None)
            if selection is None:
                stack.pop()
                continue
            if isinstance(selection, FieldNode):
                self._spend()
                signature = _field_signature(selection)
                # Only under the very same conditions: a field under `... on Dog` or `@include`
                # is not selected whenever an unconditional one is.
                found = merged.get((chain, signature))
                if found is None:
                    found = _Field(selection, scope)
                    merged[(chain, signature)] = found
                    target.append(found)
                if selection.selection_set is not None:
                    found.sources.append(selection.selection_set)
                continue
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in active:
                    self.anomalous = True  # unknown or cyclic: reported on the sent document
                    continue
                self.reached.add(name)
                spread_key = (chain, name, _directives_signature(selection.directives))
                if spread_key in seen_spreads:
                    continue  # the same fragment twice in one place selects nothing new
                seen_spreads.add(spread_key)
                condition: NamedTypeNode | None = fragment.type_condition
                inner = fragment.selection_set
                active = active | {name}
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = selection.selection_set
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            directives = tuple(selection.directives or ())
            scope_name = getattr(scope, "name", None)
            if not directives and (condition is None or condition.name.value == scope_name):
                stack.append((iter(inner.selections), chain, target, scope, active))
                continue
            inline = _Inline(condition, directives, selection)
            target.append(inline)
            narrowed = self._type(condition.name.value) if condition is not None else scope
            link = (
                condition.name.value if condition is not None else None,
                _directives_signature(directives),
            )
            stack.append((iter(inner.selections), (*chain, link), inline.items, narrowed, active))
        return SelectionSetNode(selections=self._nodes(items, level), loc=sources[0].loc)

    def _nodes(self, items: list[_Field | _Inline], level: int) -> tuple[SelectionNode, ...]:
        nodes: list[SelectionNode] = []
        for item in items:
            if isinstance(item, _Field):
                node = item.node
                selection_set = None
                if item.sources:
                    child = self._child_type(item.parent, node.name.value)
                    selection_set = self.build(item.sources, child, level + 1)
                nodes.append(
                    FieldNode(
                        alias=node.alias,
                        name=node.name,
                        arguments=node.arguments,
                        directives=node.directives,
                        selection_set=selection_set,
                        loc=node.loc,
                    )
                )
                continue
            selections = self._nodes(item.items, level)
            if not selections:
                continue  # every field in it was merged into an earlier one
            nodes.append(
                InlineFragmentNode(
                    type_condition=item.type_condition,
                    directives=item.directives,
                    selection_set=SelectionSetNode(selections=selections),
                    loc=item.node.loc,
                )
            )
        return tuple(nodes)

    # -- helpers -------------------------------------------------------------------------

    def _spend(self) -> None:
        if self.budget is None:
            return
        self.budget -= 1
        if self.budget < 0:
            raise GuardRejection(
                GuardError(ErrorCode.FIELD_LIMIT_EXCEEDED, "Query selects too many fields.")
            )

    def _type(self, name: str) -> GraphQLNamedType | None:
        return self.schema.get_type(name) if self.schema is not None else None

    def _child_type(self, parent: GraphQLNamedType | None, name: str) -> GraphQLNamedType | None:
        definition = getattr(parent, "fields", {}).get(name) if parent is not None else None
        return get_named_type(definition.type) if definition is not None else None


@dataclass(frozen=True, slots=True)
class Collapsed:
    """The collapsed document, and whether the sent one holds something it cannot show
    (unknown, unused, cyclic or duplicate fragments, directives on fragment definitions,
    non-executable definitions): then the sent document must be validated as it is."""

    document: DocumentNode
    anomalous: bool


def collapse(
    document: DocumentNode, schema: GraphQLSchema | None, *, max_selections: int | None
) -> Collapsed:
    """Every operation of ``document`` with fragments inlined and identical selections merged
    (see the module docstring). Raises :class:`GuardRejection` when inlining an operation
    would visit more than ``max_selections`` fields, or nest fields more than 200 deep."""
    collapser = _Collapser(document, schema, max_selections)
    operations = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        root = schema.get_root_type(definition.operation) if schema is not None else None
        collapser.budget = max_selections  # per operation: each is bounded alone
        operations.append(
            OperationDefinitionNode(
                operation=definition.operation,
                name=definition.name,
                variable_definitions=definition.variable_definitions,
                directives=definition.directives,
                selection_set=collapser.build([definition.selection_set], root, 1),
                loc=definition.loc,
            )
        )
    unused = collapser.reached != set(collapser.fragments)
    return Collapsed(
        DocumentNode(definitions=tuple(operations), loc=document.loc),
        collapser.anomalous or unused,
    )


def collapse_document(
    document: DocumentNode, schema: GraphQLSchema | None, *, max_selections: int | None
) -> DocumentNode:
    """The collapsed document alone (see :func:`collapse`)."""
    return collapse(document, schema, max_selections=max_selections).document


# -- signatures: equal exactly when two nodes are the same selection --------------------------


def _field_signature(node: FieldNode) -> Any:
    return (
        node.alias.value if node.alias is not None else None,
        node.name.value,
        _arguments_signature(node.arguments),
        _directives_signature(node.directives),
        # `a` and `a { x }` stay apart: one of them is invalid, and must stay so.
        node.selection_set is None,
    )


def _arguments_signature(arguments: tuple[ArgumentNode, ...] | None) -> Any:
    if not arguments:
        return ()
    return tuple((argument.name.value, _value_signature(argument.value)) for argument in arguments)


def _directives_signature(directives: tuple[DirectiveNode, ...] | None) -> Any:
    if not directives:
        return ()
    return tuple(
        (directive.name.value, _arguments_signature(directive.arguments))
        for directive in directives
    )


def _value_signature(value: ValueNode) -> Any:
    # Literal nesting is bounded by the pre-scan (brackets), so this recursion is too.
    if isinstance(value, VariableNode):
        return ("$", value.name.value)
    if isinstance(value, ListValueNode):
        return ("[", tuple(_value_signature(item) for item in value.values))
    if isinstance(value, ObjectValueNode):
        return ("{", tuple((f.name.value, _value_signature(f.value)) for f in value.fields))
    return (value.kind, getattr(value, "value", None), getattr(value, "block", None))
