"""The schema as one kind of principal may know it: with ``hide_unauthorized_fields``, what it
may not use is left out, so graphql-core validates (and coerces variables) exactly as it would
for a schema that never had those fields — every error, and the work the field-merge check
does, is the one a misspelt name gets.

Object types, interfaces and unions are rebuilt (they point at each other); scalars, enums,
input types and directives are the schema's own objects, so argument and variable coercion
is unchanged. A type the principal may not see is left out with every field returning it; a
type left with no field, and a union left with no member, go too. Only validation and
coercion read a view: resolvers, ``is_type_of`` and ``resolve_type`` stay on the real
schema. A mutation or subscription root left with nothing goes too (the view then has no such
operation type); a query root left with nothing stays, empty. Input types, enums and scalars
reached only through what is hidden go as well.

>>> from graphql import build_schema
>>> schema = build_schema("type Query { a: Int b: Secret } type Secret { x: Int }")
>>> view = schema_without(schema, frozenset({("Query", "b")}), frozenset())
>>> sorted(view.query_type.fields)
['a']
>>> view = schema_without(schema, frozenset(), frozenset({"Secret"}))
>>> sorted(view.query_type.fields), view.get_type("Secret")
(['a'], None)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)

from .authorization import Authorizer, DecisionKind, Principal

__all__ = ["SchemaViews", "View", "ViewKey", "schema_without"]

ViewKey = DecisionKind  # Authorizer.decision_key
_VIEWS = 64  # views kept (kinds of principal), the least recently used dropped


@dataclass(frozen=True, slots=True)
class View:
    """The schema as one kind of principal may know it."""

    key: ViewKey
    schema: GraphQLSchema
    hidden: frozenset[tuple[str, str]]  # every (type, field) it may not know


class SchemaViews:
    """One view per kind of principal (what its rules let it use), built on first use and
    kept for the last ``_VIEWS`` kinds. Building one is a walk over the schema's fields."""

    def __init__(self, schema: GraphQLSchema, authorizer: Authorizer) -> None:
        self.schema = schema
        self.authorizer = authorizer
        self._views: OrderedDict[ViewKey, View | None] = OrderedDict()
        self._lock = threading.Lock()

    def for_principal(self, principal: Principal) -> View | None:
        """Its view; None when it may know the whole schema."""
        key = self.authorizer.decision_key(principal)
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        view = self._built(key, principal)
        with self._lock:
            self._views[key] = view
            while len(self._views) > _VIEWS:
                self._views.popitem(last=False)
        return view

    def _built(self, key: ViewKey, principal: Principal) -> View | None:
        authorizer, schema = self.authorizer, self.schema
        hidden_types = frozenset(
            name
            for name, named in schema.type_map.items()
            if not name.startswith("__")
            and isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType))
            and not authorizer.type_allows(named, principal)
        )
        hidden = frozenset(
            (named.name, field_name)
            for named in schema.type_map.values()
            if not named.name.startswith("__")
            and isinstance(named, (GraphQLObjectType, GraphQLInterfaceType))
            for field_name in named.fields
            if not all(rule.allows(principal) for rule in authorizer.rules_for(named, field_name))
        )
        if not hidden and not hidden_types:
            return None
        view = schema_without(schema, hidden, hidden_types)
        return View(key, view, _coordinates(schema) - _coordinates(view))


def _coordinates(schema: GraphQLSchema) -> frozenset[tuple[str, str]]:
    return frozenset(
        (named.name, field_name)
        for named in schema.type_map.values()
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType))
        for field_name in named.fields
    )


_BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})


def schema_without(
    schema: GraphQLSchema,
    hidden_fields: frozenset[tuple[str, str]],
    hidden_types: frozenset[str],
) -> GraphQLSchema:
    """``schema`` without ``hidden_fields`` ((type, field) coordinates) and ``hidden_types``."""
    query_name = schema.query_type.name if schema.query_type is not None else None
    gone = set(hidden_types) - {query_name}
    composites = {
        name: named
        for name, named in schema.type_map.items()
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType))
        and not name.startswith("__")
    }
    # What is left of each type, to a fixed point: a type with nothing left goes, and with
    # it every field returning it.
    fields: dict[str, list[str]] = {}
    while True:
        changed = False
        for name, named in composites.items():
            if name in gone:
                continue
            if isinstance(named, GraphQLUnionType):
                if all(member.name in gone for member in named.types):
                    gone.add(name)
                    changed = True
                continue
            kept = [
                field_name
                for field_name, definition in named.fields.items()
                if (name, field_name) not in hidden_fields
                and get_named_type(definition.type).name not in gone
            ]
            if not kept and name != query_name:
                gone.add(name)  # a mutation or subscription root with nothing left too
                changed = True
            fields[name] = kept
        if not changed:
            break
    # Only what can be reached from the roots: a type behind hidden fields alone is as
    # unknown as a misspelt type name (in fragments and introspection alike).
    reachable: set[str] = set()
    implementations: dict[str, list[str]] = {}
    for name, named in composites.items():
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and name not in gone:
            for interface in named.interfaces:
                implementations.setdefault(interface.name, []).append(name)
    pending = [
        root.name
        for root in (schema.query_type, schema.mutation_type, schema.subscription_type)
        if root is not None and root.name not in gone
    ]
    while pending:
        name = pending.pop()
        if name in reachable or name in gone or name not in composites:
            continue
        reachable.add(name)
        named = composites[name]
        if isinstance(named, GraphQLUnionType):
            pending.extend(member.name for member in named.types)
            continue
        pending.extend(implementations.get(name, ()))
        pending.extend(interface.name for interface in named.interfaces)
        for field_name in fields.get(name, ()):
            pending.append(get_named_type(named.fields[field_name].type).name)
    gone.update(set(composites) - reachable)
    rebuilt: dict[str, GraphQLNamedType] = {}

    def output(type_: Any) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return GraphQLNonNull(output(type_.of_type))
        if isinstance(type_, GraphQLList):
            return GraphQLList(output(type_.of_type))
        return rebuilt.get(type_.name, type_)

    def field_map(
        named: GraphQLObjectType | GraphQLInterfaceType,
    ) -> Callable[[], dict[str, GraphQLField]]:
        def thunk() -> dict[str, GraphQLField]:
            return {
                field_name: GraphQLField(
                    output(named.fields[field_name].type),
                    args=named.fields[field_name].args,
                    deprecation_reason=named.fields[field_name].deprecation_reason,
                    ast_node=named.fields[field_name].ast_node,
                )
                for field_name in fields.get(named.name, ())
            }

        return thunk

    def interfaces(
        named: GraphQLObjectType | GraphQLInterfaceType,
    ) -> Callable[[], list[GraphQLInterfaceType]]:
        return lambda: [
            rebuilt[i.name]  # type: ignore[misc]
            for i in named.interfaces
            if i.name not in gone
        ]

    def members(named: GraphQLUnionType) -> Callable[[], list[GraphQLObjectType]]:
        return lambda: [rebuilt[m.name] for m in named.types if m.name not in gone]  # type: ignore[misc]

    for name, named in composites.items():
        if name in gone:
            continue
        if isinstance(named, GraphQLObjectType):
            rebuilt[name] = GraphQLObjectType(
                name, field_map(named), interfaces(named), ast_node=named.ast_node
            )
        elif isinstance(named, GraphQLInterfaceType):
            rebuilt[name] = GraphQLInterfaceType(
                name, field_map(named), interfaces(named), ast_node=named.ast_node
            )
        else:
            rebuilt[name] = GraphQLUnionType(name, members(named), ast_node=named.ast_node)
    others = [
        (name, named)
        for name, named in schema.type_map.items()
        if name not in composites and not name.startswith("__")
    ]

    def root(named: GraphQLObjectType | None) -> GraphQLObjectType | None:
        if named is None or named.name in gone:
            return None
        return rebuilt[named.name]  # type: ignore[return-value]

    # Input types, enums and scalars: only those the kept fields' arguments (and the
    # directives) reach, which graphql-core collects itself — a type used by hidden fields
    # alone is as unknown as a misspelt one. The built-in scalars always stay.
    builtins = [named for name, named in others if name in _BUILTIN_SCALARS]
    # assume_valid: a derived schema, valid but for what hiding may leave empty (a query root
    # with no field a principal may use): validation treats it as it is.
    return GraphQLSchema(
        query=root(schema.query_type),
        mutation=root(schema.mutation_type),
        subscription=root(schema.subscription_type),
        types=[*rebuilt.values(), *builtins],
        directives=schema.directives,
        assume_valid=True,
    )
