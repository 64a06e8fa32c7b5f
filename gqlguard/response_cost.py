"""Response cost (the IBM "actual" cost): the field cost of what execution returned, and its
type cost (each returned value paid its type's weight: what a budget counting type cost
refunds against).

Walks the executed operation over the result data: a field whose key is absent did not run;
a list child is paid once per item actually returned. Fields selected several times under
one response key ran once and are paid once. Runtime types of abstract values are unknown in
plain data, so a fragment applies when every key it selects is present — the result stays
an upper bound of the resolvers that ran.

Which response key pays what, and which plan its children follow, depends only on the
document, so it is compiled once per (document, operation) into a :class:`ResponsePlan`
and cached by the guard; per response, the walk is dictionary lookups, iterative (no
recursion limit), O(size of the response).

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
    GraphQLNamedType,
    OperationDefinitionNode,
    SelectionSetNode,
    is_composite_type,
)

from .analysis import INTROSPECTION_FIELDS, Analyzer
from .fragments import fragments_of, narrow

__all__ = ["ResponsePlan", "compile_response_plan", "response_cost"]


def response_cost(
    analyzer: Analyzer,
    document: DocumentNode,
    operation_name: str | None,
    data: Any,
) -> float:
    """The actual cost of ``data`` (compiles a plan each call; cache it for repeated use)."""
    plan = compile_response_plan(analyzer, document, operation_name)
    return plan.cost(data) if plan is not None else 0.0


def compile_response_plan(
    analyzer: Analyzer, document: DocumentNode, operation_name: str | None
) -> ResponsePlan | None:
    operation = next(
        (
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
            and (operation_name is None or (d.name is not None and d.name.value == operation_name))
        ),
        None,
    )
    if operation is None:
        return None
    root = analyzer.schema.get_root_type(operation.operation)
    if root is None:
        return None
    fragments = fragments_of(document)
    mutation_cost = analyzer.mutation_cost if operation.operation.value == "mutation" else 0.0
    compiler = _Compiler(analyzer, fragments)
    return ResponsePlan(compiler.node((operation.selection_set,), root, mutation_cost))


# (response key, field weight, type weight per returned value, the children's plan)
_Entry = tuple[str, float, float, "_Node | None"]


class _Node:
    """One selection (set of selection sets) on one type; its entries compile on first use."""

    __slots__ = ("_compiler", "_entries", "context", "extra", "selection_sets")

    def __init__(
        self,
        compiler: _Compiler,
        selection_sets: tuple[SelectionSetNode, ...],
        context: GraphQLNamedType,
        extra: float,
    ) -> None:
        self._compiler = compiler
        self.selection_sets = selection_sets
        self.context = context
        self.extra = extra
        self._entries: list[_Entry] | None = None

    @property
    def entries(self) -> list[_Entry]:
        if self._entries is None:
            self._entries = self._compiler.entries(self)
        return self._entries


class _Compiler:
    def __init__(self, analyzer: Analyzer, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.analyzer = analyzer
        self.fragments = fragments
        # Shared sub-plans keep compilation linear in the document, fragment bombs included.
        self.nodes: dict[tuple[tuple[int, ...], str, float], _Node] = {}

    def node(
        self,
        selection_sets: tuple[SelectionSetNode, ...],
        context: GraphQLNamedType,
        extra: float = 0.0,
    ) -> _Node:
        key = (tuple(id(s) for s in selection_sets), context.name, extra)
        found = self.nodes.get(key)
        if found is None:
            found = self.nodes[key] = _Node(self, selection_sets, context, extra)
        return found

    def entries(self, node: _Node) -> list[_Entry]:
        grouped = self._group(node.selection_sets, node.context)
        entries: list[_Entry] = []
        for key, (owner, nodes) in grouped.items():
            name = nodes[0].name.value
            if name in INTROSPECTION_FIELDS:
                continue  # measured apart (max_introspection_cost), as in the estimate
            info = self.analyzer.cost_model.field(owner, name)
            if info.definition is None:
                continue
            child_type = info.named_type
            children = tuple(n.selection_set for n in nodes if n.selection_set is not None)
            child = (
                self.node(children, child_type)
                if children and child_type is not None and is_composite_type(child_type)
                else None
            )
            entries.append((key, max(info.weight + node.extra, 0.0), info.type_weight, child))
        return entries

    def _group(
        self, selection_sets: tuple[SelectionSetNode, ...], context: GraphQLNamedType
    ) -> dict[str, tuple[GraphQLNamedType, list[FieldNode]]]:
        # The first type a response key is selected on decides its weight; the order is the
        # document's, so the grouping does not depend on the data.
        grouped: dict[str, tuple[GraphQLNamedType, list[FieldNode]]] = {}
        schema = self.analyzer.schema
        seen: set[str] = set()
        pending: list[tuple[SelectionSetNode, GraphQLNamedType | None]] = [
            (selection_set, context) for selection_set in selection_sets
        ]
        while pending:
            selection_set, owner = pending.pop()
            if owner is None:
                continue
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    grouped.setdefault(key, (owner, []))[1].append(selection)
                    continue
                narrowed = narrow(selection, owner, schema, self.fragments)
                if narrowed is None:
                    continue
                fragment_set, narrowed_type, fragment = narrowed
                if fragment is not None:
                    if fragment.name.value in seen:
                        continue
                    seen.add(fragment.name.value)
                pending.append((fragment_set, narrowed_type))
        return grouped


class ResponsePlan:
    """The compiled response-cost walk of one operation."""

    __slots__ = ("_root",)

    def __init__(self, root: _Node) -> None:
        self._root = root

    def cost(self, data: Any) -> float:
        """The field cost of ``data``."""
        return self.costs(data)[0]

    def costs(self, data: Any) -> tuple[float, float]:
        """(field cost, type cost) of ``data``."""
        if not isinstance(data, dict):
            return 0.0, 0.0
        total = types = 0.0
        stack: list[tuple[_Node, dict[str, Any]]] = [(self._root, data)]
        while stack:
            node, value = stack.pop()
            for key, weight, type_weight, child in node.entries:
                if key not in value:
                    continue
                total += weight
                items = [value[key]]
                while items:
                    item = items.pop()
                    if isinstance(item, list):
                        items.extend(item)
                    elif item is not None:
                        types += type_weight
                        if child is not None and isinstance(item, dict):
                            stack.append((child, item))
        return total, types
