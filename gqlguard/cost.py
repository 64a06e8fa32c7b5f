"""The cost model of a schema: weights and list sizes (IBM GraphQL Cost Directives semantics).

Everything here depends only on the schema and the configuration, so it is computed once per
field coordinate and cached; the per-request work (argument values, variables) happens in
:mod:`gqlguard.analysis`.

Weights come, in order, from the configuration map by coordinate (``"Query.search"``,
``"Query.search(term:)"``, ``"Product"``), then ``@cost(weight:)``; the defaults are 1 for
composite types and 0 for scalars and enums.

>>> from graphql import build_schema
>>> from gqlguard.directives import DIRECTIVES_SDL
>>> schema = build_schema(DIRECTIVES_SDL + '''
...   type User { name: String age: Int @cost(weight: 2.0) }
...   type Query { users(max: Int): [User] @listSize(slicingArguments: ["max"]) }''')
>>> model = CostModel(schema, weights={}, pagination_arguments=())
>>> info = model.field(schema.query_type, "users")
>>> (info.weight, info.returns_list, info.list_size.slicing_arguments)
(1.0, True, (('max',),))
>>> model.field(schema.get_type("User"), "age").weight
2.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNamedType,
    GraphQLSchema,
    GraphQLType,
    Undefined,
    get_named_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from graphql.utilities.coerce_input_value import coerce_default_value

from .directives import directives_of

__all__ = ["ArgumentCost", "CostModel", "FieldCostInfo", "ListSizeSpec"]

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListSizeSpec:
    """``@listSize`` of one field, with slicing arguments and sized fields split into paths."""

    assumed_size: int | None
    slicing_arguments: tuple[Path, ...]
    slicing_defaults: tuple[int | None, ...]
    sized_fields: tuple[Path, ...]
    require_one_slicing_argument: bool


@dataclass(frozen=True, slots=True)
class ArgumentCost:
    """An argument whose presence costs something: its own weight and its input fields'."""

    weight: float
    input_type: GraphQLInputType


@dataclass(frozen=True, slots=True)
class FieldCostInfo:
    """Everything static about one field coordinate that the cost walk needs."""

    coordinate: str
    definition: GraphQLField | None
    named_type: GraphQLNamedType | None
    weight: float
    type_weight: float
    returns_list: bool
    list_size: ListSizeSpec | None
    pagination_arguments: tuple[str, ...]
    argument_costs: Mapping[str, ArgumentCost]


_PATH_SPLIT = re.compile(r"[\s.{}]+")


def _split_path(text: str) -> Path:
    # Accepts "input.pagination.first" and the selection form "results { page }".
    return tuple(part for part in _PATH_SPLIT.split(text) if part)


def _unwrap_returns_list(type_: GraphQLType) -> bool:
    if is_non_null_type(type_):
        type_ = type_.of_type
    return is_list_type(type_)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_META_FIELDS = frozenset({"__typename", "__schema", "__type"})


class CostModel:
    """Per-schema, per-configuration weights; lookups are cached by coordinate."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        weights: Mapping[str, float],
        pagination_arguments: tuple[str, ...],
    ) -> None:
        self.schema = schema
        self._weights = dict(weights)
        self._pagination_arguments = pagination_arguments
        self._fields: dict[tuple[str, str], FieldCostInfo] = {}
        self._type_weights: dict[str, float] = {}
        self._input_weights: dict[str, dict[str, tuple[float, GraphQLInputType]]] = {}

    def type_weight(self, named_type: GraphQLNamedType) -> float:
        name = named_type.name
        cached = self._type_weights.get(name)
        if cached is None:
            configured = self._weights.get(name)
            if configured is None:
                configured = _number(directives_of(named_type).get("cost", {}).get("weight"))
            if configured is None:
                configured = 1.0 if is_composite_type(named_type) else 0.0
            cached = self._type_weights[name] = float(configured)
        return cached

    def field(self, parent: GraphQLNamedType, field_name: str) -> FieldCostInfo:
        key = (parent.name, field_name)
        info = self._fields.get(key)
        if info is None:
            info = self._build_field(parent, field_name)
            # Only the schema's own fields are remembered: names a client makes up must not
            # grow this cache (one entry per invented name would be memory for sale).
            if info.definition is not None or field_name in _META_FIELDS:
                self._fields[key] = info
        return info

    def input_field_weights(
        self, input_type: GraphQLInputObjectType
    ) -> dict[str, tuple[float, GraphQLInputType]]:
        """Input fields of ``input_type`` that carry a weight or lead to weighted fields."""
        cached = self._input_weights.get(input_type.name)
        if cached is not None:
            return cached
        self._input_weights[input_type.name] = {}  # breaks input-type cycles
        result: dict[str, tuple[float, GraphQLInputType]] = {}
        for name, input_field in input_type.fields.items():
            coordinate = f"{input_type.name}.{name}"
            weight = self._weights.get(coordinate)
            if weight is None:
                weight = _number(directives_of(input_field).get("cost", {}).get("weight")) or 0.0
            inner = get_named_type(input_field.type)
            nested = isinstance(inner, GraphQLInputObjectType) and bool(
                self.input_field_weights(inner)
            )
            if weight or nested:
                result[name] = (float(weight), input_field.type)
        self._input_weights[input_type.name] = result
        return result

    def _build_field(self, parent: GraphQLNamedType, field_name: str) -> FieldCostInfo:
        coordinate = f"{parent.name}.{field_name}"
        definition = self._lookup(parent, field_name)
        if definition is None:
            return FieldCostInfo(coordinate, None, None, 0.0, 0.0, False, None, (), {})
        named_type = get_named_type(definition.type)
        directives = directives_of(definition)
        weight = self._weights.get(coordinate)
        if weight is None:
            weight = _number(directives.get("cost", {}).get("weight"))
        type_weight = self.type_weight(named_type)
        if weight is None:
            weight = type_weight
        return FieldCostInfo(
            coordinate=coordinate,
            definition=definition,
            named_type=named_type,
            weight=float(weight),
            type_weight=type_weight,
            returns_list=_unwrap_returns_list(definition.type),
            list_size=self._list_size(definition, directives.get("listSize")),
            pagination_arguments=tuple(
                name for name in self._pagination_arguments if name in definition.args
            ),
            argument_costs=self._argument_costs(coordinate, definition),
        )

    def _lookup(self, parent: GraphQLNamedType, field_name: str) -> GraphQLField | None:
        if field_name == "__schema" and parent is self.schema.query_type:
            return SchemaMetaFieldDef
        if field_name == "__type" and parent is self.schema.query_type:
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        if fields is None:
            return None
        field: GraphQLField | None = fields.get(field_name)
        return field

    def _argument_costs(self, coordinate: str, definition: GraphQLField) -> dict[str, ArgumentCost]:
        costs: dict[str, ArgumentCost] = {}
        for name, argument in definition.args.items():
            weight = self._weights.get(f"{coordinate}({name}:)")
            if weight is None:
                weight = _number(directives_of(argument).get("cost", {}).get("weight")) or 0.0
            inner = get_named_type(argument.type)
            nested = isinstance(inner, GraphQLInputObjectType) and bool(
                self.input_field_weights(inner)
            )
            if weight or nested:
                costs[name] = ArgumentCost(float(weight), argument.type)
        return costs

    @staticmethod
    def _list_size(
        definition: GraphQLField, arguments: dict[str, Any] | None
    ) -> ListSizeSpec | None:
        if arguments is None:
            return None
        slicing = tuple(_split_path(text) for text in arguments.get("slicingArguments") or ())
        assumed = arguments.get("assumedSize")
        return ListSizeSpec(
            assumed_size=int(assumed) if isinstance(assumed, int) else None,
            slicing_arguments=slicing,
            slicing_defaults=tuple(_argument_default(definition, path) for path in slicing),
            sized_fields=tuple(_split_path(text) for text in arguments.get("sizedFields") or ()),
            require_one_slicing_argument=arguments.get("requireOneSlicingArgument", True)
            is not False,
        )


def _argument_default(definition: GraphQLField, path: Path) -> int | None:
    """The schema default of a (possibly dotted) slicing argument, if it is an integer."""
    argument = definition.args.get(path[0])
    if argument is None:
        return None
    value: Any = _default_of(argument)
    input_type: Any = argument.type
    for part in path[1:]:
        named = get_named_type(input_type)
        if isinstance(value, dict) and part in value:
            value = value[part]
            input_type = getattr(named, "fields", {}).get(part, None)
            input_type = getattr(input_type, "type", None)
            continue
        input_field = getattr(named, "fields", {}).get(part)
        if input_field is None:
            return None
        value, input_type = _default_of(input_field), input_field.type
    if value is Undefined or isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _default_of(input_value: Any) -> Any:
    try:
        return coerce_default_value(input_value)
    except Exception:
        return Undefined
