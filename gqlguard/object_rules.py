"""Object-level authorization (OWASP API1, broken object-level authorization): rules on the
objects a request actually loads, declared beside the schema.

A field directive decides before execution, on names; it cannot see *which* order a
resolver loaded. An :class:`ObjectRule` decides on each resolved object::

    ObjectRule("Order", owner=("sub", "row.user_id"), scopes=[["admin"]])
    ObjectRule("Query.user", policy="same_tenant")

``on`` is an object or interface type (every object of it that any field returns, through
lists, interfaces and unions too) or a ``Type.field`` coordinate (that field's result). The
rule lets an object through when one of its alternatives holds: ``owner`` (the principal's
claim equals the object's attribute, a dotted path of attributes or keys, compared as
text), ``scopes`` (OR of AND groups, as ``@requiresScopes``), ``policy`` (a registered
policy called with ``request.object`` set; ``async`` ones need an async execution). Several
rules on one object must all let it through. A rule that raises denies.

Enforced by the request's resolver middleware (:class:`gqlguard.execution.Enforcement`),
the same at every door. Per mode: ``filter`` removes a denied item from its list (or nulls
a denied single object), one ``UNAUTHORIZED_FIELD_OR_TYPE`` error per removed path;
``reject`` nulls the whole field; ``dry_run`` logs and returns everything. It runs per
object after the resolver returned (after a dataloader's batch resolved, too): its cost is
one check per returned object of a ruled type.

>>> from graphql import build_schema
>>> schema = build_schema("type Query { orders: [Order] } type Order { owner: String }")
>>> rules = ObjectRules(schema, [ObjectRule("Order", owner=("sub", "owner"))])
>>> sorted(rules.watched)
[('Query', 'orders')]
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_abstract_type,
)

from .authorization import Principal
from .config import ConfigError
from .policies import Policies, PolicyRequest

__all__ = ["ObjectRule", "ObjectRules"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class ObjectRule:
    """Who may see one kind of object (or one field's result)."""

    on: str
    # (principal claim, object attribute path): the object's owner is the caller
    owner: tuple[str, str] | None = None
    # OR of AND groups of scopes that see every such object (an admin)
    scopes: Sequence[Sequence[str]] = ()
    # a registered policy, called per object
    policy: str | None = None
    _groups: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.owner is None and not self.scopes and self.policy is None:
            raise ConfigError(f"object rule on {self.on!r}: give owner, scopes or policy")
        groups = tuple(frozenset(group) for group in self.scopes)
        if any(isinstance(group, str) for group in self.scopes):
            raise ConfigError(f"object rule on {self.on!r}: scopes=[['a', 'b'], ['c']]")
        object.__setattr__(self, "_groups", groups)

    def allows(
        self, value: Any, principal: Principal, request: PolicyRequest, policies: Policies
    ) -> bool | Awaitable[bool]:
        if principal.authenticated and any(group <= principal.scopes for group in self._groups):
            return True
        if self.owner is not None and principal.authenticated:
            claim, path = self.owner
            mine = principal.claims.get(claim, principal.subject if claim == "sub" else None)
            theirs = _attribute(value, path)
            if mine is not None and theirs not in (None, _MISSING) and str(mine) == str(theirs):
                return True
        if self.policy is not None:
            with_object = PolicyRequest(request.headers, request.client, value)
            return policies.decide_once(self.policy, principal, with_object)
        return False


def _attribute(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        else:
            value = getattr(value, part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


@dataclass(frozen=True, slots=True)
class Watch:
    """What one schema field's results must pass: its own rules, and each possible object
    type's rules (by type name)."""

    field_rules: tuple[ObjectRule, ...]
    type_rules: Mapping[str, tuple[ObjectRule, ...]]
    abstract: GraphQLNamedType | None  # the field's interface or union, to find runtime types


class ObjectRules:
    """The rules of one schema, checked against it at start."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Iterable[ObjectRule],
        policies: Policies | None = None,
    ) -> None:
        self.schema = schema
        self.policies = policies if policies is not None else Policies({})
        by_type: dict[str, list[ObjectRule]] = {}
        by_field: dict[tuple[str, str], list[ObjectRule]] = {}
        for rule in rules:
            if rule.policy is not None:
                self.policies.require([rule.policy], f"the object rule on {rule.on!r}")
            type_name, _, field_name = rule.on.partition(".")
            named = schema.get_type(type_name)
            if not isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
                raise ConfigError(f"object rule on {rule.on!r}: no object or interface type")
            if field_name:
                if field_name not in named.fields:
                    raise ConfigError(f"object rule on {rule.on!r}: no such field")
                # At run time a field resolves on an object type: a rule on an interface's
                # field holds for that field of every implementation.
                implementations = (
                    schema.get_possible_types(named) if is_abstract_type(named) else []
                )
                for owner_name in {named.name, *(t.name for t in implementations)}:
                    by_field.setdefault((owner_name, field_name), []).append(rule)
            else:
                by_type.setdefault(type_name, []).append(rule)
        # A rule on an interface holds for every object type implementing it.
        per_object: dict[str, list[ObjectRule]] = {}
        for type_name, rules_of_type in by_type.items():
            named = schema.get_type(type_name)
            assert named is not None
            owners = schema.get_possible_types(named) if is_abstract_type(named) else [named]
            for owner in owners:
                per_object.setdefault(owner.name, []).extend(rules_of_type)
        self.watched: dict[tuple[str, str], Watch] = {}
        for named in schema.type_map.values():
            if named.name.startswith("__") or not isinstance(
                named, (GraphQLObjectType, GraphQLInterfaceType)
            ):
                continue
            for field_name, definition in named.fields.items():
                returned = get_named_type(definition.type)
                possible: Sequence[GraphQLNamedType] = (
                    schema.get_possible_types(returned)
                    if isinstance(returned, (GraphQLInterfaceType, GraphQLUnionType))
                    else [returned]
                )
                type_rules = {
                    t.name: tuple(per_object[t.name]) for t in possible if t.name in per_object
                }
                field_rules = tuple(by_field.get((named.name, field_name), ()))
                if type_rules or field_rules:
                    abstract = returned if is_abstract_type(returned) else None
                    self.watched[(named.name, field_name)] = Watch(
                        field_rules, type_rules, abstract
                    )

        # The static coordinates a document may select a watched field through: the watched
        # ones, and an interface's field when any implementation's is watched (at run time
        # the field resolves on the implementation).
        through: set[tuple[str, str]] = set(self.watched)
        for named in schema.type_map.values():
            if isinstance(named, GraphQLInterfaceType) and not named.name.startswith("__"):
                for field_name in named.fields:
                    if any(
                        (impl.name, field_name) in self.watched
                        for impl in schema.get_possible_types(named)
                    ):
                        through.add((named.name, field_name))
        self.selected_through = frozenset(through)

    def __bool__(self) -> bool:
        return bool(self.watched)

    def rules_for(
        self, watch: Watch, value: Any, info: GraphQLResolveInfo[Any]
    ) -> Sequence[ObjectRule]:
        """The rules one returned object must pass (its runtime type's and the field's)."""
        if not watch.type_rules:
            return watch.field_rules
        if watch.abstract is None:
            (only,) = watch.type_rules.values()
            return (*watch.field_rules, *only)
        runtime = _runtime_type(value, info, watch.abstract)
        if runtime is None:  # cannot tell which type it is: every possible type's rules
            everything = [rule for rules in watch.type_rules.values() for rule in rules]
            return (*watch.field_rules, *dict.fromkeys(everything))
        return (*watch.field_rules, *watch.type_rules.get(runtime, ()))


def _runtime_type(
    value: Any, info: GraphQLResolveInfo[Any], abstract: GraphQLNamedType
) -> str | None:
    """The object type graphql-core will resolve ``value`` to, when it can be told without
    awaiting: the abstract type's ``resolve_type``, else the object types' ``is_type_of``."""
    resolve_type = getattr(abstract, "resolve_type", None)
    try:
        if resolve_type is not None:
            found = resolve_type(value, info, abstract)
            if isinstance(found, str):
                return found
            if isinstance(found, GraphQLObjectType):
                return found.name
            if inspect.isawaitable(found):
                getattr(found, "close", lambda: None)()
            return None
        for candidate in info.schema.get_possible_types(abstract):  # type: ignore[arg-type]
            is_type_of = candidate.is_type_of
            if is_type_of is not None:
                verdict = is_type_of(value, info)
                if verdict is True:
                    return candidate.name
    except Exception:  # undecidable: the caller applies every possible type's rules
        return None
    typename = _attribute(value, "__typename")
    return typename if isinstance(typename, str) else None
