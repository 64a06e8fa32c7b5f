"""The schema directives gqlguard reads, their SDL, and one reader for every schema style.

SDL-first schemas declare the directives (``DIRECTIVES_SDL``) and use them; code-first
Strawberry schemas attach the directive classes of :mod:`gqlguard.strawberry`. Both are read
through :func:`directives_of`, so the core never imports a framework.

>>> from graphql import build_schema
>>> schema = build_schema(DIRECTIVES_SDL + "type Query { a: Int @cost(weight: 2.5) }")
>>> directives_of(schema.query_type.fields["a"])
{'cost': {'weight': 2.5}}
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from graphql import value_from_ast_untyped

__all__ = ["DIRECTIVES_SDL", "GuardDirective", "directives_of"]

DIRECTIVES_SDL = """
directive @cost(weight: Float!) on ARGUMENT_DEFINITION | ENUM | FIELD_DEFINITION | INPUT_FIELD_DEFINITION | OBJECT | SCALAR | INTERFACE | UNION
directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @policy(policies: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
"""

_KNOWN = frozenset({"cost", "listSize", "authenticated", "requiresScopes", "policy"})
_BACKREF = "strawberry-definition"


@runtime_checkable
class GuardDirective(Protocol):
    """What a code-first directive instance offers so the core can read it."""

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]: ...


def directives_of(element: Any) -> dict[str, dict[str, Any]]:
    """The gqlguard directives on a schema element (type, field, argument, input field).

    Reads SDL directives from the element's AST nodes and code-first directives from the
    definition a framework left in ``extensions``. Unknown directives are ignored.
    """
    found: dict[str, dict[str, Any]] = {}
    extension_nodes = getattr(element, "extension_ast_nodes", None) or ()
    nodes = [getattr(element, "ast_node", None), *extension_nodes]
    for node in nodes:
        for directive in getattr(node, "directives", None) or ():
            name = directive.name.value
            if name in _KNOWN:
                found[name] = {
                    argument.name.value: value_from_ast_untyped(argument.value)
                    # graphql-core 3.3 leaves ``arguments`` None on a directive written
                    # without any (a bare ``@authenticated``).
                    for argument in directive.arguments or ()
                }
    extensions = getattr(element, "extensions", None) or {}
    definition = extensions.get(_BACKREF)
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, GuardDirective):
            name, arguments = directive.gqlguard_directive()
            found[name] = arguments
    return found
