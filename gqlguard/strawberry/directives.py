"""Strawberry code-first schema directives for gqlguard's SDL directives.

``@cost`` and ``@listSize`` (IBM's GraphQL Cost Directives) feed the cost analyzer;
``@authenticated``, ``@requiresScopes`` and ``@policy`` (Apollo Router's names) feed
authorization. Each
class says, through ``gqlguard_directive()``, the SDL directive and arguments it stands for.
"""

from __future__ import annotations

from typing import Any

from ..extras import missing

try:
    import strawberry
    from strawberry.schema_directive import Location
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("strawberry", "gqlguard.strawberry") from error

__all__ = ["Authenticated", "Cost", "ListSize", "Policy", "RequiresScopes"]


@strawberry.schema_directive(
    name="cost",
    locations=[
        Location.FIELD_DEFINITION,
        Location.ARGUMENT_DEFINITION,
        Location.INPUT_FIELD_DEFINITION,
        Location.OBJECT,
        Location.SCALAR,
        Location.ENUM,
        Location.INTERFACE,
        Location.UNION,
    ],
)
class Cost:
    weight: float

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "cost", {"weight": self.weight}


@strawberry.schema_directive(name="listSize", locations=[Location.FIELD_DEFINITION])
class ListSize:
    assumed_size: int | None = None
    slicing_arguments: list[str] | None = None
    sized_fields: list[str] | None = None
    require_one_slicing_argument: bool = True

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "listSize", {
            "assumedSize": self.assumed_size,
            "slicingArguments": self.slicing_arguments,
            "sizedFields": self.sized_fields,
            "requireOneSlicingArgument": self.require_one_slicing_argument,
        }


_AUTH_LOCATIONS = [
    Location.FIELD_DEFINITION,
    Location.OBJECT,
    Location.INTERFACE,
    Location.SCALAR,
    Location.ENUM,
]


@strawberry.schema_directive(name="authenticated", locations=_AUTH_LOCATIONS)
class Authenticated:
    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "authenticated", {}


@strawberry.schema_directive(name="requiresScopes", locations=_AUTH_LOCATIONS)
class RequiresScopes:
    scopes: list[list[str]]

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "requiresScopes", {"scopes": [list(group) for group in self.scopes]}


@strawberry.schema_directive(name="policy", locations=_AUTH_LOCATIONS)
class Policy:
    """``policies=[["staff", "emea"], ["admin"]]``: (staff AND emea) OR admin, each name a
    policy registered with the guard."""

    policies: list[list[str]]

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "policy", {"policies": [list(group) for group in self.policies]}
