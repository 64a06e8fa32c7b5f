"""Response cost (the IBM "actual" cost): the field cost of what execution returned.

Walks the executed operation over the result data: a field whose key is absent did not run;
a list child is paid once per item actually returned. Fields selected several times under
one response key ran once and are paid once. Runtime types of abstract values are unknown in
plain data, so a fragment applies when every key it selects is present — the result stays
an upper bound of the resolvers that ran. O(size of the response).

>>> from graphql import build_schema, parse
>>> from gqlguard.analysis import Analyzer
>>> schema = build_schema("type Query { users: [User] } type User { age: Int }")
>>> doc = parse("{ users { age } }")
>>> response_cost(Analyzer(schema), doc, None, {"users": [{"age": 1}, {"age": 2}]})
1.0
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    is_composite_type,
)

from .analysis import Analyzer

__all__ = ["response_cost"]


def response_cost(
    analyzer: Analyzer,
    document: DocumentNode,
    operation_name: str | None,
    data: Any,
) -> float:
    operation = next(
        (
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
            and (operation_name is None or (d.name is not None and d.name.value == operation_name))
        ),
        None,
    )
    if operation is None or not isinstance(data, dict):
        return 0.0
    root = analyzer.schema.get_root_type(operation.operation)
    if root is None:
        return 0.0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    mutation_cost = analyzer.mutation_cost if operation.operation.value == "mutation" else 0.0
    return _object_cost(analyzer, fragments, [operation.selection_set], root, data, mutation_cost)


def _collect(
    selection_sets: list[SelectionSetNode],
    fragments: dict[str, FragmentDefinitionNode],
    value: dict[str, Any],
    context: GraphQLNamedType,
    schema_get: Any,
    seen: set[str],
) -> dict[str, tuple[GraphQLNamedType, list[FieldNode]]]:
    grouped: dict[str, tuple[GraphQLNamedType, list[FieldNode]]] = {}
    pending = [(selection_set, context) for selection_set in selection_sets]
    while pending:
        selection_set, owner = pending.pop()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                if key in value:
                    grouped.setdefault(key, (owner, []))[1].append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                pending.append(
                    (
                        selection.selection_set,
                        schema_get(condition.name.value) if condition else owner,
                    )
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    pending.append(
                        (fragment.selection_set, schema_get(fragment.type_condition.name.value))
                    )
    return grouped


def _object_cost(
    analyzer: Analyzer,
    fragments: dict[str, FragmentDefinitionNode],
    selection_sets: list[SelectionSetNode],
    context: GraphQLNamedType,
    value: dict[str, Any],
    extra_per_field: float = 0.0,
) -> float:
    total = 0.0
    schema_get = analyzer.schema.get_type
    grouped = _collect(selection_sets, fragments, value, context, schema_get, set())
    for key, (owner, nodes) in grouped.items():
        if owner is None:
            continue
        info = analyzer.cost_model.field(owner, nodes[0].name.value)
        if info.definition is None:
            continue
        total += max(info.weight + extra_per_field, 0.0)
        child_type = info.named_type
        children = [node.selection_set for node in nodes if node.selection_set is not None]
        if not children or child_type is None or not is_composite_type(child_type):
            continue
        items = _items(value[key])
        for item in items:
            total += _object_cost(analyzer, fragments, children, child_type, item)
    return total


def _items(value: Any) -> list[dict[str, Any]]:
    stack = [value]
    found: list[dict[str, Any]] = []
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            found.append(current)
        elif isinstance(current, list):
            stack.extend(current)
    return found
