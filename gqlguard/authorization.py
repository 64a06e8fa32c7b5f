"""Field-level authorization: ``@authenticated``, ``@requiresScopes`` and ``@policy``, decided
before execution.

Semantics (Apollo Router's, made stricter):

* ``@requiresScopes(scopes: [["a", "b"], ["c"]])`` means (a AND b) OR c;
  ``@authenticated`` means any principal with a verified identity;
  ``@policy(policies: [["a", "b"], ["c"]])`` the same nesting over named policies, granted
  per request by the app's functions (:mod:`gqlguard.policies`).
* A rule on a field and a rule on the field's return type must both pass. A field selected on
  an interface must pass the rules of the interface field *and* of the same field on every
  implementation, because the static query cannot tell which object will come back.
* Any error while deciding means deny.

The decision is per field node of the document (each has one static parent type), computed
once per document and per set of *relevant* scopes the principal holds, and cached.
Enforcement is the adapters' job: filter (the field resolves to ``null`` with an
``UNAUTHORIZED_FIELD_OR_TYPE`` error, its resolver never runs), reject, or dry-run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_non_null_type,
)

from .directives import directives_of
from .errors import ErrorCode, GuardError
from .fragments import fragments_of, narrow

__all__ = [
    "UNAUTHORIZED_MESSAGE",
    "AuthorizationMode",
    "Authorizer",
    "Decision",
    "Principal",
    "Requirement",
]

# An error while deciding is a bug to fix (its traceback goes here), and it denies.
log = logging.getLogger("gqlguard.execution")

AuthorizationMode = Literal["filter", "reject", "dry_run"]
UNAUTHORIZED_MESSAGE = "Unauthorized field or type."
_MAX_REPORTED_PATHS = 100
_PATH_WALK_BUDGET = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a verified subject and its scopes, or nobody."""

    subject: str | None = None
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)
    # The named policies granted for the request being decided: the guard sets them from
    # the registered functions (whatever a principal is built with is replaced).
    policies: frozenset[str] = frozenset()

    @property
    def authenticated(self) -> bool:
        return self.subject is not None

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one schema element asks of a principal."""

    authenticated: bool = False
    # Outer tuple OR, inner frozenset AND; None when no @requiresScopes.
    scopes: tuple[frozenset[str], ...] | None = None
    # The same nesting for @policy; None when none. Policies decide anonymous callers too.
    policies: tuple[frozenset[str], ...] | None = None

    def allows(self, principal: Principal) -> bool:
        if (self.authenticated or self.scopes is not None) and not principal.authenticated:
            return False
        if self.scopes is not None and not any(group <= principal.scopes for group in self.scopes):
            return False
        if self.policies is None:
            return True
        return any(group <= principal.policies for group in self.policies)

    @classmethod
    def of(cls, element: Any) -> Requirement | None:
        directives = directives_of(element)
        authenticated = "authenticated" in directives
        scopes = policies = None
        if "requiresScopes" in directives:
            scopes = _groups(directives["requiresScopes"].get("scopes"))
            if scopes is None:  # a malformed rule can only deny
                return cls(authenticated=True, scopes=())
        if "policy" in directives:
            policies = _groups(directives["policy"].get("policies"))
            if policies is None:
                return cls(authenticated=True, scopes=())
        if not authenticated and scopes is None and policies is None:
            return None
        return cls(authenticated=authenticated, scopes=scopes, policies=policies)


def _groups(raw: Any) -> tuple[frozenset[str], ...] | None:
    """``[["a", "b"], ["c"]]`` as OR-of-AND groups; None when malformed."""
    if not isinstance(raw, list) or not all(isinstance(group, list) for group in raw):
        return None
    return tuple(frozenset(str(name) for name in group) for group in raw)


@dataclass(frozen=True, slots=True)
class Decision:
    """Which field nodes the principal may not have, and where they are in the response."""

    denied: frozenset[FieldNode] = frozenset()
    paths: tuple[tuple[str, ...], ...] = ()
    # (response key, non-null) of every root field, to answer when nothing is left to run
    root_keys: tuple[tuple[str, bool], ...] = ()
    nothing_left: bool = False
    # (parent type, field) of each denied selection: what an unknown-field error would name
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.denied

    def errors(self) -> list[GuardError]:
        return [
            GuardError(
                ErrorCode.UNAUTHORIZED_FIELD_OR_TYPE,
                UNAUTHORIZED_MESSAGE,
                extra={"path": list(path)},
            )
            for path in self.paths
        ]

    def empty_data(self) -> dict[str, None] | None:
        """The response data when nothing executes: null everywhere, bubbled if non-null."""
        if any(non_null for _, non_null in self.root_keys):
            return None
        return {key: None for key, _ in self.root_keys}


ALLOWED = Decision()

# Requirements of one field node: its parent field rules, its return type rules.
_NodeRules = tuple[Requirement, ...]
# A kind of principal as decisions see it: authenticated, relevant scopes, relevant policies.
DecisionKind = tuple[bool, frozenset[str], frozenset[str]]
# The kinds whose key objects are shared (a few per role in practice; bounded for clients
# with many scope combinations).
_KINDS_SHARED = 4096


class Authorizer:
    """Reads the schema's rules once; decides documents against principals."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._field_rules: dict[tuple[str, str], _NodeRules] = {}
        self._relevant: set[str] = set()
        self._policy_names: set[str] = set()
        self.has_rules = False
        for named in schema.type_map.values():
            if named.name.startswith("__"):
                continue
            requirement = Requirement.of(named)
            if requirement is not None:
                self._note(requirement)
            if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
                for field_definition in named.fields.values():
                    field_requirement = Requirement.of(field_definition)
                    if field_requirement is not None:
                        self._note(field_requirement)
        # Every policy the schema's ``@policy`` directives name (read on every check).
        self.policy_names: frozenset[str] = frozenset(self._policy_names)
        # One key object per kind of principal, shared by every document that keeps
        # something for that kind (each key's sets would otherwise be ~500 bytes a copy).
        self._kinds: dict[DecisionKind, DecisionKind] = {}

    def _note(self, requirement: Requirement) -> None:
        self.has_rules = True
        for group in requirement.scopes or ():
            self._relevant.update(group)
        for group in requirement.policies or ():
            self._policy_names.update(group)

    def type_allows(self, named: GraphQLNamedType, principal: Principal) -> bool:
        """Whether a type-level rule lets the principal see this type at all."""
        requirement = Requirement.of(named)
        return requirement is None or requirement.allows(principal)

    def relevant_scopes(self, principal: Principal) -> frozenset[str]:
        """The part of the principal's scopes any rule looks at."""
        return principal.scopes & self._relevant

    def decision_key(
        self, principal: Principal, policies: frozenset[str] | None = None
    ) -> DecisionKind:
        """What a decision depends on: a cache key per kind of principal (``policies``: the
        ones granted for this request, when not yet the principal's). The first
        ``_KINDS_SHARED`` kinds get one key object each, whoever asks."""
        key = (
            principal.authenticated,
            principal.scopes & self._relevant,
            (principal.policies if policies is None else policies) & self._policy_names,
        )
        shared = self._kinds.get(key)
        if shared is not None:
            return shared
        if len(self._kinds) < _KINDS_SHARED:
            self._kinds.setdefault(key, key)
        return key

    def coordinates_in(
        self, document: DocumentNode, operation: OperationDefinitionNode
    ) -> frozenset[tuple[str, str]]:
        """Every (static parent type, field) the operation selects, through fragments (each
        selection set once per parent type); names the schema lacks included."""
        fragments = fragments_of(document)
        root = self.schema.get_root_type(operation.operation)
        coordinates: set[tuple[str, str]] = set()
        if root is None:
            return frozenset()
        seen: set[tuple[int, str]] = set()
        stack: list[tuple[SelectionSetNode, GraphQLNamedType]] = [(operation.selection_set, root)]
        while stack:
            selection_set, parent = stack.pop()
            if (id(selection_set), parent.name) in seen:
                continue
            seen.add((id(selection_set), parent.name))
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    coordinates.add((parent.name, name))
                    definition = getattr(parent, "fields", {}).get(name)
                    if selection.selection_set is not None and definition is not None:
                        stack.append((selection.selection_set, get_named_type(definition.type)))
                else:
                    narrowed = narrow(selection, parent, self.schema, fragments)
                    if narrowed is not None and narrowed[1] is not None:
                        stack.append((narrowed[0], narrowed[1]))
        return frozenset(coordinates)

    def policies_at(self, coordinates: frozenset[tuple[str, str]]) -> frozenset[str]:
        """The policies a decision on these coordinates can read."""
        if not self._policy_names:
            return frozenset()
        names: set[str] = set()
        for parent_name, field_name in coordinates:
            parent = self.schema.get_type(parent_name)
            if parent is None:
                continue
            for rule in self.rules_for(parent, field_name):
                for group in rule.policies or ():
                    names.update(group)
        return frozenset(names)

    def rules_for(self, parent: GraphQLNamedType, name: str) -> _NodeRules:
        key = (parent.name, name)
        cached = self._field_rules.get(key)
        if cached is not None:
            return cached
        rules: list[Requirement] = []
        owners: list[GraphQLNamedType] = [parent]
        if is_abstract_type(parent):
            owners.extend(self.schema.get_possible_types(parent))
        # The parent's own rule too — and, for an interface, every implementation's: a field of
        # a ruled type is that type's, however the object was reached (the static query cannot
        # tell which implementation comes back).
        for owner in owners:
            owner_rule = Requirement.of(owner)
            if owner_rule is not None:
                rules.append(owner_rule)
        for owner in owners:
            definition = getattr(owner, "fields", {}).get(name)
            if definition is None:
                continue
            for element in (definition, get_named_type(definition.type)):
                requirement = Requirement.of(element)
                if requirement is not None:
                    rules.append(requirement)
        result = tuple(dict.fromkeys(rules))
        if any(name in getattr(owner, "fields", {}) for owner in owners):
            self._field_rules[key] = result  # never for names a client makes up
        return result

    def decide(
        self, document: DocumentNode, operation: OperationDefinitionNode, principal: Principal
    ) -> Decision:
        """Decide every field node of the operation; any error while deciding denies all."""
        if not self.has_rules:
            return ALLOWED
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return ALLOWED  # nothing can run: the analysis refuses the operation type
        root_keys = self._root_keys(operation)
        try:
            denied, root_denied, fields = self._denied(document, operation, principal)
            if not denied:
                return ALLOWED
            paths = self._paths(document, operation, set(denied))
        except Exception as error:  # any error while deciding means deny
            if not isinstance(error, LookupError):  # an unknown fragment is the client's
                log.exception("authorization failed while deciding; denying the operation")
            roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
            return Decision(
                frozenset(roots),
                tuple(((s.alias or s.name).value,) for s in roots),
                root_keys,
                nothing_left=True,
                fields=tuple((root.name, s.name.value) for s in roots),
            )
        return Decision(
            frozenset(denied), paths, root_keys, nothing_left=root_denied, fields=fields
        )

    def _root_keys(self, operation: OperationDefinitionNode) -> tuple[tuple[str, bool], ...]:
        root = self.schema.get_root_type(operation.operation)
        keys: list[tuple[str, bool]] = []
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = root.fields.get(selection.name.value) if root else None
                non_null = definition is not None and is_non_null_type(definition.type)
                keys.append(((selection.alias or selection.name).value, non_null))
        return tuple(keys)

    def _denied(
        self, document: DocumentNode, operation: OperationDefinitionNode, principal: Principal
    ) -> tuple[dict[FieldNode, None], bool, tuple[tuple[str, str], ...]]:
        """Denied field nodes, each selection set visited once per static parent type."""
        fragments = fragments_of(document)
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            raise LookupError("operation type not in schema")
        denied: dict[FieldNode, None] = {}
        fields: dict[tuple[str, str], None] = {}
        root_fields = root_denied = 0
        # A fragment at the root (inline or spread, with or without @skip/@include) makes the
        # set of root fields depend on execution: then the operation always runs, and the
        # per-field hook nulls what is denied.
        root_fragments = False
        seen: set[tuple[int, str]] = set()
        stack: list[tuple[SelectionSetNode, GraphQLNamedType]] = [(operation.selection_set, root)]
        while stack:
            selection_set, parent = stack.pop()
            if (id(selection_set), parent.name) in seen:
                continue
            seen.add((id(selection_set), parent.name))
            is_root = selection_set is operation.selection_set
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    if name.startswith("__"):
                        continue
                    root_fields += is_root
                    if not all(rule.allows(principal) for rule in self.rules_for(parent, name)):
                        denied[selection] = None
                        fields[(parent.name, name)] = None
                        root_denied += is_root
                        continue
                    definition = getattr(parent, "fields", {}).get(name)
                    if selection.selection_set is not None and definition is not None:
                        stack.append((selection.selection_set, get_named_type(definition.type)))
                else:
                    root_fragments = root_fragments or is_root
                    narrowed = self._narrowed(selection, parent, fragments)
                    if narrowed is not None:
                        stack.append(narrowed)
        nothing_left = root_fields > 0 and root_denied == root_fields and not root_fragments
        return denied, nothing_left, tuple(fields)

    def _narrowed(
        self,
        selection: Any,
        parent: GraphQLNamedType,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> tuple[SelectionSetNode, GraphQLNamedType] | None:
        """Where a fragment leads; None when its type is unknown (nothing there can resolve,
        and validation refuses it). An unknown fragment denies the operation."""
        narrowed = narrow(selection, parent, self.schema, fragments)
        if narrowed is None:
            raise LookupError("unknown fragment")
        selection_set, narrowed_type, _ = narrowed
        return (selection_set, narrowed_type) if narrowed_type is not None else None

    def _paths(
        self, document: DocumentNode, operation: OperationDefinitionNode, denied: set[FieldNode]
    ) -> tuple[tuple[str, ...], ...]:
        """Response paths of the denied fields (no list indices), bounded in number and work."""
        fragments = fragments_of(document)
        root = self.schema.get_root_type(operation.operation)
        assert root is not None
        paths: dict[tuple[str, ...], None] = {}
        budget = _PATH_WALK_BUDGET
        stack: list[tuple[SelectionSetNode, GraphQLNamedType, tuple[str, ...]]] = [
            (operation.selection_set, root, ())
        ]
        while stack and budget > 0 and len(paths) < _MAX_REPORTED_PATHS:
            selection_set, parent, path = stack.pop()
            budget -= 1
            for selection in reversed(selection_set.selections):
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    if selection in denied:
                        paths[(*path, key)] = None
                        continue
                    definition = getattr(parent, "fields", {}).get(selection.name.value)
                    if selection.selection_set is not None and definition is not None:
                        child = get_named_type(definition.type)
                        stack.append((selection.selection_set, child, (*path, key)))
                else:
                    narrowed = self._narrowed(selection, parent, fragments)
                    if narrowed is not None:
                        stack.append((*narrowed, path))
        return tuple(sorted(paths))
