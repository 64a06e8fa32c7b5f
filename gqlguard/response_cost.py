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

import threading
import weakref
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLOutputType,
    OperationDefinitionNode,
    SelectionSetNode,
    is_composite_type,
)

from .analysis import INTROSPECTION_FIELDS, Analyzer
from .fragments import fragments_of, narrow

__all__ = ["ResponsePlan", "ResponsePlans", "compile_response_plan", "response_cost"]


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
    return ResponsePlan(compiler, compiler.node((operation.selection_set,), root, mutation_cost))


# (response key, field weight, type weight per returned value, the children's plan, whether
# the field is a list of values rather than of lists)
_Entry = tuple[str, float, float, "_Node | None", bool]


class _Node:
    """One selection (set of selection sets) on one type; its entries compile on first use.

    It holds no reference back to its compiler (the plan holds both): a plan is a tree of
    references, freed with its document at once instead of left to the cycle collector."""

    __slots__ = ("context", "entries", "extra", "selection_sets")

    def __init__(
        self,
        selection_sets: tuple[SelectionSetNode, ...],
        context: GraphQLNamedType,
        extra: float,
    ) -> None:
        self.selection_sets = selection_sets
        self.context = context
        self.extra = extra
        self.entries: list[_Entry] | None = None


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
            found = self.nodes[key] = _Node(selection_sets, context, extra)
        return found

    def compiled(self, node: _Node) -> list[_Entry]:
        """``node``'s entries, compiled on first use."""
        entries = node.entries
        if entries is None:
            entries = node.entries = self._entries(node)
        return entries

    def _entries(self, node: _Node) -> list[_Entry]:
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
            weight = max(info.weight + node.extra, 0.0)
            if weight == 0.0 and info.type_weight == 0.0 and child is None:
                continue  # a leaf that costs nothing (a scalar, by default) is never walked
            flat = info.definition is not None and _list_depth(info.definition.type) == 1
            entries.append((key, weight, info.type_weight, child, flat))
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

    __slots__ = ("_compiler", "_root")

    def __init__(self, compiler: _Compiler, root: _Node) -> None:
        self._compiler = compiler
        self._root = root

    def cost(self, data: Any) -> float:
        """The field cost of ``data``."""
        return self.costs(data)[0]

    def costs(self, data: Any) -> tuple[float, float]:
        """(field cost, type cost) of ``data``."""
        if not isinstance(data, dict):
            return 0.0, 0.0
        total = types = 0.0
        compiled = self._compiler.compiled
        stack: list[tuple[_Node, dict[str, Any]]] = [(self._root, data)]
        while stack:
            node, value = stack.pop()
            entries = node.entries
            if entries is None:
                entries = compiled(node)
            for key, weight, type_weight, child, flat in entries:
                found = value.get(key, _ABSENT)
                if found is _ABSENT:
                    continue
                total += weight
                if found is None:
                    continue
                if child is not None:
                    below = child.entries
                    if below is None:
                        below = compiled(child)
                    if not below:
                        child = None  # nothing below is paid: the values are only counted
                if type(found) is not list:  # one value
                    types += type_weight
                    if child is not None and isinstance(found, dict):
                        stack.append((child, found))
                    continue
                if flat:  # a list of values, not of lists
                    if child is None:  # values only counted: counted at C speed
                        types += type_weight * (len(found) - found.count(None))
                        continue
                    for item in found:
                        if item is not None:
                            types += type_weight
                            if isinstance(item, dict):
                                stack.append((child, item))
                    continue
                items = [found]
                while items:
                    item = items.pop()
                    if isinstance(item, list):
                        items.extend(item)
                    elif item is not None:
                        types += type_weight
                        if child is not None and isinstance(item, dict):
                            stack.append((child, item))
        return total, types


def _list_depth(output_type: GraphQLOutputType) -> int:
    """How many lists wrap the field's named type (``[[T!]]!``: 2)."""
    depth = 0
    while True:
        if isinstance(output_type, GraphQLNonNull):
            output_type = output_type.of_type
        elif isinstance(output_type, GraphQLList):
            depth += 1
            output_type = output_type.of_type
        else:
            return depth


_ABSENT: Final = object()
# One document's plans by operation name (None: the document has no such operation).
_PlansOf = dict[str | None, ResponsePlan | None]


class ResponsePlans:
    """The plans of the documents that are alive, compiled once per (document, operation).

    Keyed by the document object, not its value: graphql-core's nodes are frozen dataclasses
    whose hash walks the whole tree (microseconds per request for a realistic query), and a
    cached document is one object for every request of its text."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self._plans: dict[int, tuple[weakref.ref[DocumentNode], _PlansOf]] = {}
        self._lock = threading.Lock()

    def costs(
        self, document: DocumentNode, operation_name: str | None, data: Any
    ) -> tuple[float, float]:
        """(field cost, type cost) of ``data``, the response to that operation of
        ``document``."""
        held = self._plans.get(id(document))
        if held is None or held[0]() is not document:
            with self._lock:
                held = (weakref.ref(document, self._forget_for(id(document))), {})
                self._plans[id(document)] = held
        plans = held[1]
        plan = plans.get(operation_name, _ABSENT)
        if plan is _ABSENT:
            plan = plans[operation_name] = compile_response_plan(
                self.analyzer, document, operation_name
            )
        return plan.costs(data) if isinstance(plan, ResponsePlan) else (0.0, 0.0)

    def __len__(self) -> int:
        return len(self._plans)

    def _forget_for(self, key: int) -> Any:
        owner = weakref.ref(self)  # the plans never keep their holder alive

        def forget(dead: weakref.ref[DocumentNode]) -> None:
            plans = owner()
            # The id may be another document's by now: only this reference's entry goes.
            if plans is not None and plans._plans.get(key, (None,))[0] is dead:
                del plans._plans[key]

        return forget
