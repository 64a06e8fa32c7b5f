"""The analysis pass: one memoized, fragment-aware walk of the operation that will run.

It measures, in a single traversal, every static metric the limits need: depth, aliases,
directives, field selections, root fields, introspection use, and the estimated cost
(``field_cost``: resolver runs; ``type_cost``: objects produced) with pagination multipliers.

Complexity: every selection set is summarised once per (selection set, type context, sized
fields) and reused wherever it is spread, so the walk is linear in the size of the document
(times the number of concrete types behind an abstract type); a fragment bomb of 2^40
fields costs as much as its text. The walk runs on an explicit stack of generators, so
neither 10,000 nested levels nor 5,000 chained fragments can exhaust Python's recursion
limit; fragment cycles are detected and never entered.

>>> from graphql import build_schema, parse
>>> schema = build_schema("type Query { books: [Book] } type Book { title: String }")
>>> analysis = Analyzer(schema).analyze(parse("{ books { title t2: title } }"))
>>> (analysis.depth, analysis.aliases, analysis.fields, analysis.field_cost)
(2, 1, 3, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
)

from .cost import CostModel, FieldCostInfo
from .errors import ErrorCode, GuardError
from .fragments import fragments_of, narrow
from .pacing import PACE
from .parsing import GuardRejection
from .prescan import prescan

__all__ = ["Analysis", "Analyzer", "select_operation"]

INTROSPECTION_FIELDS: Final = frozenset({"__schema", "__type"})
_ABSENT: Final = object()
_INPUT_NESTING_LIMIT: Final = 64
# Numbers of any magnitude are verdicts, never exceptions: a list size saturates at
# _SIZE_CEILING (already far over any limit), an integer literal is read from at most
# _INT_DIGITS digits (Python refuses to convert 4,300), and every cost saturates at
# _COST_CEILING, so no product or sum of them can overflow a float (and JSON never sees inf).
_SIZE_CEILING: Final = 10**15
_INT_DIGITS: Final = 18
_COST_CEILING: Final = 1e100

# stop(depth, aliases, fields, directives, field_cost, type_cost) -> stop the walk now
StopRule = Callable[[int, int, int, int, float, float], bool]
Sized = tuple[tuple[tuple[str, ...], int], ...]
# Per concrete type: [field_cost, type_cost, breakdown or None]
Costs = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one operation asks for. Immutable; ``as_dict`` gives the JSON form."""

    operation_name: str | None
    operation_type: str
    operations: int
    depth: int
    aliases: int
    directives: int
    fields: int
    root_fields: int
    tokens: int
    characters: int
    field_cost: float
    type_cost: float
    cost_breakdown: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    introspection: bool = False
    introspection_depth: int = 0
    introspection_cost: float = 0.0
    # Variables whose values the walk read (slicing arguments, @skip/@include conditions).
    variables_read: frozenset[str] = frozenset()
    # Comments are not tokens (max_tokens does not count them); max_comments does.
    comments: int = 0
    complete: bool = True
    problems: tuple[GuardError, ...] = ()
    # Selections the memoized walk read (each selection set once per type and list size):
    # what the analysis charges the work meter (gqlguard.work).
    work: int = 0
    # Field selections naming what the schema (as the principal may know it) does not hold:
    # such a document is answered by validation, never by a limit (no schema oracle).
    unknown_names: int = 0

    @property
    def variable_dependent(self) -> bool:
        return bool(self.variables_read)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation_name": self.operation_name,
            "operation_type": self.operation_type,
            "operations": self.operations,
            "depth": self.depth,
            "aliases": self.aliases,
            "directives": self.directives,
            "fields": self.fields,
            "root_fields": self.root_fields,
            "tokens": self.tokens,
            "comments": self.comments,
            "characters": self.characters,
            "field_cost": plain_number(self.field_cost),
            "type_cost": plain_number(self.type_cost),
            "cost_breakdown": {
                key: plain_number(value) for key, value in self.cost_breakdown.items()
            },
            "introspection": self.introspection,
            "introspection_depth": self.introspection_depth,
            "introspection_cost": plain_number(self.introspection_cost),
            "complete": self.complete,
        }


def plain_number(number: float) -> float | int:
    """Integral floats as ints, so JSON shows `11`, not `11.0`."""
    return int(number) if float(number).is_integer() and abs(number) < 2**53 else number


@dataclass(slots=True)
class _Summary:
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    fields: int = 0
    top_fields: int = 0
    introspection: bool = False
    # `__schema` / `__type` subtrees are measured apart, against their own limits.
    introspection_depth: int = 0
    introspection_cost: float = 0.0
    # Field names the schema (as this principal may know it) does not have.
    unknown: int = 0
    costs: Costs = field(default_factory=dict)


_EMPTY = _Summary()


class _StopWalk(Exception):
    def __init__(self, summary: _Summary) -> None:
        self.summary = summary


def select_operation(
    document: DocumentNode, operation_name: str | None, max_operations: int | None
) -> tuple[OperationDefinitionNode, int]:
    """The operation that will execute and how many the document holds, or a rejection."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    count = len(operations)
    if max_operations is not None and count > max_operations:
        raise GuardRejection(
            GuardError(
                ErrorCode.OPERATION_LIMIT_EXCEEDED,
                "Document holds too many operations.",
                measured=count,
                limit=max_operations,
            )
        )
    if operation_name is None:
        if count == 1:
            return operations[0], count
        message = "Must provide an operation." if count == 0 else "Must provide operation name."
        raise GuardRejection(GuardError(ErrorCode.BAD_REQUEST, message))
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation, count
    raise GuardRejection(GuardError(ErrorCode.BAD_REQUEST, "Unknown operation name."))


class Analyzer:
    """Built once per (schema, cost settings); ``analyze`` is then called per request."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        cost_weights: Mapping[str, float] | None = None,
        default_list_size: int = 10,
        max_list_size: int | None = None,
        reject_list_size_above_max: bool = False,
        pagination_arguments: tuple[str, ...] = ("first", "last", "limit"),
        mutation_cost: float = 10.0,
    ) -> None:
        self.schema = schema
        self.cost_model = CostModel(
            schema, weights=cost_weights or {}, pagination_arguments=pagination_arguments
        )
        self.default_list_size = default_list_size
        self.max_list_size = max_list_size
        self.reject_list_size_above_max = reject_list_size_above_max
        self.mutation_cost = mutation_cost
        self._possible: dict[str, tuple[str, ...]] = {}

    def concrete_types(self, named_type: GraphQLNamedType | None) -> tuple[str, ...]:
        if named_type is None or not is_composite_type(named_type):
            return ()
        cached = self._possible.get(named_type.name)
        if cached is None:
            if is_abstract_type(named_type):
                possible = self.schema.get_possible_types(named_type)
                cached = tuple(object_type.name for object_type in possible)
            else:
                cached = (named_type.name,)
            self._possible[named_type.name] = cached
        return cached

    def analyze(
        self,
        document: DocumentNode,
        *,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        max_operations: int | None = None,
        breakdown: bool = False,
        stop: StopRule | None = None,
        tokens: int | None = None,
        characters: int | None = None,
        comments: int | None = None,
        hidden: frozenset[tuple[str, str]] = frozenset(),
    ) -> Analysis:
        """Analyse the operation of ``document`` that will run.

        ``hidden`` holds (parent type, field) coordinates measured as if they did not exist
        (fields hidden from the principal: they must answer exactly like unknown names).

        ``stop(depth, aliases, fields, directives, field_cost, type_cost)`` is asked after every
        selection set; when it answers True the walk ends early and the result, marked
        ``complete=False``, holds the lower bounds that tripped it.
        """
        operation, count = select_operation(document, operation_name, max_operations)
        walk = _Walk(self, document, operation, variables or {}, breakdown, stop, hidden)
        summary, complete = walk.run()
        if complete:
            costs = summary.costs.get(walk.root_type.name) if walk.root_type else None
        else:  # stopped inside a part: its most expensive concrete type is the lower bound
            entries = summary.costs.values()
            costs = [
                max((entry[0] for entry in entries), default=0.0),
                max((entry[1] for entry in entries), default=0.0),
                None,
            ]
        field_cost, type_cost, cost_breakdown = costs if costs else (0.0, 0.0, None)
        if document.loc is not None and (characters is None or tokens is None):
            # A document parsed elsewhere (the validation rules' path): measured from its
            # source by the same pre-scan the Guard uses, so every path reports one number.
            body = document.loc.source.body
            if characters is None:
                characters = len(body)
            if tokens is None or comments is None:
                scan = prescan(body, max_nesting=None)
                tokens, comments = scan.tokens, scan.comments
        return Analysis(
            operation_name=operation.name.value if operation.name else None,
            operation_type=operation.operation.value,
            operations=count,
            depth=summary.depth,
            aliases=summary.aliases,
            directives=summary.directives + walk.operation_directives,
            fields=summary.fields,
            root_fields=summary.top_fields,
            tokens=tokens or 0,
            comments=comments or 0,
            characters=characters or 0,
            field_cost=field_cost,
            type_cost=type_cost,
            cost_breakdown=MappingProxyType(dict(cost_breakdown or {})),
            introspection=summary.introspection,
            introspection_depth=summary.introspection_depth,
            introspection_cost=summary.introspection_cost,
            variables_read=frozenset(walk.variables_read),
            complete=complete,
            problems=tuple(walk.problems),
            work=walk.work,
            unknown_names=summary.unknown,
        )


class _Walk:
    """The state of one analysis: memo, variables, problems found on the way."""

    def __init__(
        self,
        analyzer: Analyzer,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        breakdown: bool,
        stop: StopRule | None,
        hidden: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.analyzer = analyzer
        self.hidden = hidden
        self.model = analyzer.cost_model
        self.schema = analyzer.schema
        self.operation = operation
        self.breakdown = breakdown
        self.stop = stop
        self.fragments = fragments_of(document)
        self.variables: dict[str, Any] = {}
        self.operation_directives = len(operation.directives or ())
        for definition in operation.variable_definitions or ():
            self.operation_directives += len(definition.directives or ())
            name = definition.variable.name.value
            if name in variables:
                self.variables[name] = variables[name]
            elif definition.default_value is not None:
                self.variables[name] = self._literal(definition.default_value)
        self.variables_read: set[str] = set()
        self.work = 0
        self.cost_can_vanish = False
        self.problems: list[GuardError] = []
        self._reported: set[tuple[ErrorCode, str]] = set()
        self.root_type: GraphQLObjectType | None = self.schema.get_root_type(operation.operation)
        self.mutation_root = operation.operation.value == "mutation"

    # -- driver -------------------------------------------------------------------------

    def run(self) -> tuple[_Summary, bool]:
        if self.root_type is None:
            self._problem(ErrorCode.GRAPHQL_VALIDATION_FAILED, "Operation type not supported.")
            return _EMPTY, True
        root_key: tuple[int, str, Sized] = (
            id(self.operation.selection_set),
            self.root_type.name,
            (),
        )
        memo: dict[tuple[int, str, Sized], _Summary] = {}
        active: set[tuple[int, str, Sized]] = {root_key}
        stack = [(root_key, self._summarise(self.operation.selection_set, self.root_type, ()))]
        self.work += len(self.operation.selection_set.selections)
        result: _Summary | None = None
        stop = self.stop
        pacer = PACE.get()  # a check on the worker thread gives way to the loop (pacing)
        try:
            while stack:
                if pacer is not None:
                    pacer.tick()
                key, frame = stack[-1]
                try:
                    request = frame.send(result)  # type: ignore[arg-type] # None primes it
                except StopIteration as finished:
                    summary: _Summary = finished.value
                    memo[key] = summary
                    active.discard(key)
                    stack.pop()
                    result = summary
                    if stop is not None and self._tripped(stop, summary):
                        raise _StopWalk(summary) from None
                    continue
                selection_set, named_type, sized = request
                child_key = (id(selection_set), named_type.name if named_type else "", sized)
                cached = memo.get(child_key)
                if cached is not None:
                    result = cached
                elif child_key in active:
                    self._problem(ErrorCode.GRAPHQL_VALIDATION_FAILED, "Fragment cycle.")
                    result = _EMPTY
                else:
                    active.add(child_key)
                    self.work += len(selection_set.selections)
                    stack.append((child_key, self._summarise(selection_set, named_type, sized)))
                    result = None
        except _StopWalk as stopped:
            return stopped.summary, False
        return memo[root_key], True

    def _tripped(self, stop: StopRule, s: _Summary) -> bool:
        # Introspection types ("__Type", ...) are costed against their own limit, later.
        field_cost = type_cost = 0.0
        if not self.cost_can_vanish:
            for name, entry in s.costs.items():
                if not name.startswith("__"):
                    field_cost = max(field_cost, entry[0])
                    type_cost = max(type_cost, entry[1])
        return stop(s.depth, s.aliases, s.fields, s.directives, field_cost, type_cost)

    # -- one selection set ---------------------------------------------------------------

    def _summarise(
        self, selection_set: SelectionSetNode, context: GraphQLNamedType | None, sized: Sized
    ) -> Generator[tuple[SelectionSetNode, GraphQLNamedType | None, Sized], _Summary, _Summary]:
        concretes = self.analyzer.concrete_types(context)
        breakdown = self.breakdown
        costs: Costs = {name: [0.0, 0.0, {} if breakdown else None] for name in concretes}
        summary = _Summary(costs=costs)
        model = self.model
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                summary.fields += 1
                summary.top_fields += 1
                if selection.alias is not None:
                    summary.aliases += 1
                directives = selection.directives
                if directives:
                    summary.directives += len(directives)
                entry_point = name in INTROSPECTION_FIELDS
                if entry_point:
                    summary.introspection = True
                info = (
                    model.field(context, name)
                    if context is not None
                    and (not self.hidden or (context.name, name) not in self.hidden)
                    else None
                )
                if info is None or (info.definition is None and not name.startswith("__")):
                    # A name the schema (as this principal may know it) lacks never runs:
                    # neither its weight nor its subtree counts, so no limit can tell a
                    # hidden field from a misspelt one (validation answers both; its work
                    # is metered like any).
                    summary.unknown += 1
                    if summary.depth < 1:
                        summary.depth = 1
                    continue
                child: _Summary | None = None
                multiplier = 1
                if selection.selection_set is not None:
                    child_type = info.named_type if info is not None else None
                    if child_type is not None and not is_composite_type(child_type):
                        child_type = None
                    child_sized: Sized = ()
                    if info is not None and (info.returns_list or info.list_size):
                        multiplier, child_sized = self._sizes(info, selection, sized)
                    elif sized:
                        child_sized = _descend(sized, name)
                    if multiplier == 0 or (directives and not self._included(directives)):
                        # This subtree's cost may count for nothing (first: 0, @skip), so a
                        # subtree over max_cost no longer proves the operation is.
                        self.cost_can_vanish = True
                    child = yield (selection.selection_set, child_type, child_sized)
                    if entry_point:
                        if child.depth + 1 > summary.introspection_depth:
                            summary.introspection_depth = child.depth + 1
                    elif child.depth + 1 > summary.depth:
                        summary.depth = child.depth + 1
                    summary.aliases += child.aliases
                    summary.unknown += child.unknown
                    summary.directives += child.directives
                    summary.fields += child.fields
                    _merge_introspection(summary, child)
                else:
                    if summary.depth < 1:
                        summary.depth = 1
                    if info is not None and info.returns_list:
                        multiplier, _ = self._sizes(info, selection, sized)
                if (
                    info is None
                    or info.definition is None
                    or not concretes
                    or (directives and not self._included(directives))
                ):
                    continue
                own = info.weight
                if info.argument_costs and selection.arguments:
                    own += self._argument_cost(info, selection)
                if self.mutation_root and context is self.analyzer.schema.mutation_type:
                    own += self.analyzer.mutation_cost
                if own < 0:
                    own = 0.0
                child_field_cost = child_type_cost = 0.0
                child_breakdown: dict[str, float] | None = None
                if child is not None and child.costs:
                    best = max(child.costs.values(), key=_first)
                    child_field_cost, child_type_cost, child_breakdown = best
                    child_type_cost = max(entry[1] for entry in child.costs.values())
                field_cost = _cap(own + multiplier * child_field_cost)
                type_cost = _cap(multiplier * (info.type_weight + child_type_cost))
                if entry_point:
                    summary.introspection_cost += field_cost
                    continue
                for entry in costs.values():
                    entry[0] += field_cost
                    entry[1] += type_cost
                    if breakdown:
                        _add(entry[2], info.coordinate, own)
                        if child_breakdown:
                            for coordinate, value in child_breakdown.items():
                                _add(entry[2], coordinate, multiplier * value)
                continue

            extra_directives = len(selection.directives or ())
            narrowed = narrow(selection, context, self.schema, self.fragments)
            if narrowed is None:  # a spread of a fragment the document does not define
                summary.directives += extra_directives
                self._problem(ErrorCode.GRAPHQL_VALIDATION_FAILED, "Unknown fragment.")
                continue
            fragment_set, fragment_type, fragment = narrowed
            if fragment is not None:
                extra_directives += len(fragment.directives or ())
            child = yield (fragment_set, fragment_type, sized)
            included = not selection.directives or self._included(selection.directives)
            _merge_structure(summary, child, extra_directives)
            if included:
                for concrete, entry in costs.items():
                    child_entry = child.costs.get(concrete)
                    if child_entry is None:
                        continue
                    entry[0] += child_entry[0]
                    entry[1] += child_entry[1]
                    if breakdown and child_entry[2]:
                        for coordinate, value in child_entry[2].items():
                            _add(entry[2], coordinate, value)
        for entry in costs.values():
            entry[0] = _cap(entry[0])
            entry[1] = _cap(entry[1])
        return summary

    # -- list sizes ----------------------------------------------------------------------

    def _sizes(self, info: FieldCostInfo, node: FieldNode, sized: Sized) -> tuple[int, Sized]:
        """The field's own multiplier and the sized-field sizes passed to its children."""
        name = node.name.value
        override = None
        passed: list[tuple[tuple[str, ...], int]] = []
        for path, size in sized:
            if path[0] == name:
                if len(path) == 1:
                    override = size
                else:
                    passed.append((path[1:], size))
        size = override if override is not None else self._slice_size(info, node)
        spec = info.list_size
        if spec is not None and spec.sized_fields:
            passed.extend((path, size) for path in spec.sized_fields)
        multiplier = size if info.returns_list else 1
        return multiplier, tuple(passed)

    def _slice_size(self, info: FieldCostInfo, node: FieldNode) -> int:
        spec = info.list_size
        size: int | None = None
        if spec is not None and spec.slicing_arguments:
            values: list[int] = []
            provided = 0
            for path, default in zip(spec.slicing_arguments, spec.slicing_defaults, strict=True):
                value = _size_of(self._argument(node, path))
                if value is not None:
                    provided += 1
                    values.append(value)
                elif default is not None:
                    values.append(default)
            if spec.require_one_slicing_argument and (provided > 1 or not values):
                self._problem(
                    ErrorCode.GRAPHQL_VALIDATION_FAILED,
                    "Exactly one slicing argument is required.",
                    key=info.coordinate,
                )
            if values:
                size = max(values)
        elif info.pagination_arguments:
            values = [
                value
                for argument in info.pagination_arguments
                if (value := _size_of(self._argument(node, (argument,)))) is not None
            ]
            if values:
                size = max(values)
        if size is None:
            if spec is not None and spec.assumed_size is not None:
                size = spec.assumed_size
            else:
                size = self.analyzer.default_list_size
        limit = self.analyzer.max_list_size
        if limit is not None and size > limit:
            if self.analyzer.reject_list_size_above_max:
                self._problem(
                    ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
                    "A list argument is above the maximum list size.",
                    key=info.coordinate,
                )
            size = limit
        return size

    # -- argument values -----------------------------------------------------------------

    def _argument(self, node: FieldNode, path: tuple[str, ...]) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == path[0]:
                value = self._literal(argument.value)
                break
        else:
            return _ABSENT
        for part in path[1:]:
            if not isinstance(value, dict) or part not in value:
                return _ABSENT
            value = value[part]
        return value

    def _literal(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            self.variables_read.add(node.name.value)
            return self.variables.get(node.name.value, _ABSENT)
        if isinstance(node, IntValueNode):
            return _int_literal(node.value)
        if isinstance(node, FloatValueNode):
            return float(node.value)
        if isinstance(node, StringValueNode | EnumValueNode | BooleanValueNode):
            return node.value
        if isinstance(node, ListValueNode):
            return [self._literal(value) for value in node.values]
        if isinstance(node, ObjectValueNode):
            return {field.name.value: self._literal(field.value) for field in node.fields}
        if isinstance(node, NullValueNode):
            return None
        return _ABSENT

    def _included(self, directives: tuple[DirectiveNode, ...]) -> bool:
        for directive in directives:
            name = directive.name.value
            if name != "skip" and name != "include":
                continue
            condition: Any = _ABSENT
            for argument in directive.arguments or ():
                if argument.name.value == "if":
                    condition = self._literal(argument.value)
            # An unknown condition counts as included: the estimate stays an upper bound.
            if condition is True and name == "skip":
                return False
            if condition is False and name == "include":
                return False
        return True

    def _argument_cost(self, info: FieldCostInfo, node: FieldNode) -> float:
        total = 0.0
        for argument in node.arguments or ():
            cost = info.argument_costs.get(argument.name.value)
            if cost is None:
                continue
            value = self._literal(argument.value)
            if value is _ABSENT or value is None:
                continue
            total += cost.weight + self._input_cost(value, cost.input_type, 0)
        return total

    def _input_cost(self, value: Any, input_type: GraphQLInputType, nesting: int) -> float:
        if nesting > _INPUT_NESTING_LIMIT or value is None or value is _ABSENT:
            return 0.0
        unwrapped: Any = input_type
        if is_non_null_type(unwrapped):
            unwrapped = unwrapped.of_type
        if is_list_type(unwrapped):
            if not isinstance(value, list):
                value = [value]
            return sum(self._input_cost(item, unwrapped.of_type, nesting + 1) for item in value)
        named = get_named_type(unwrapped)
        if not isinstance(named, GraphQLInputObjectType) or not isinstance(value, dict):
            return 0.0
        total = 0.0
        for name, (weight, field_type) in self.model.input_field_weights(named).items():
            if value.get(name, _ABSENT) not in (None, _ABSENT):
                total += weight + self._input_cost(value[name], field_type, nesting + 1)
        return total

    def _problem(self, code: ErrorCode, message: str, key: str = "") -> None:
        if (code, message + key) not in self._reported:
            self._reported.add((code, message + key))
            self.problems.append(GuardError(code, message))


def _merge_structure(summary: _Summary, child: _Summary, extra_directives: int) -> None:
    if child.depth > summary.depth:
        summary.depth = child.depth
    summary.aliases += child.aliases
    summary.unknown += child.unknown
    summary.directives += child.directives + extra_directives
    summary.fields += child.fields
    summary.top_fields += child.top_fields
    _merge_introspection(summary, child)


def _merge_introspection(summary: _Summary, child: _Summary) -> None:
    if child.introspection:
        summary.introspection = True
        summary.introspection_depth = max(summary.introspection_depth, child.introspection_depth)
        summary.introspection_cost += child.introspection_cost


def _descend(sized: Sized, name: str) -> Sized:
    return tuple((path[1:], size) for path, size in sized if path[0] == name and len(path) > 1)


def _size_of(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return min(max(value, 0), _SIZE_CEILING)
    if isinstance(value, float) and not math.isnan(value):
        return int(min(max(value, 0.0), _SIZE_CEILING))
    if isinstance(value, list):
        return min(len(value), _SIZE_CEILING)
    return None


def _int_literal(text: str) -> int:
    """An integer literal's value, saturated past _INT_DIGITS digits (graphql-core's
    validation reports such a literal as invalid for ``Int`` anyway)."""
    digits = text.removeprefix("-")
    if len(digits) > _INT_DIGITS:
        return -_SIZE_CEILING if text.startswith("-") else _SIZE_CEILING
    return int(text)


def _cap(cost: float) -> float:
    return cost if cost < _COST_CEILING else _COST_CEILING


def _first(entry: list[Any]) -> float:
    value: float = entry[0]
    return value


def _add(target: dict[str, float], key: str, value: float) -> None:
    target[key] = target.get(key, 0.0) + value
