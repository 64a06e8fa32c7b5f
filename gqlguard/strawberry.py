"""Strawberry adapter: the one-line extension and the code-first schema directives.

    schema = strawberry.Schema(query=Query, extensions=[GuardExtension(GuardConfig())])

``GuardExtension`` is a factory: Strawberry asks it for a fresh extension per request, while
the :class:`~gqlguard.guard.Guard` (its caches, its analyzer) is built once, on the first
request, and shared. The extension runs the whole guard in ``on_parse`` and hands Strawberry
the parsed, validated document, so Strawberry neither parses nor validates again (and never
with suggestions).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.schema_directive import Location

from .analysis import plain_number
from .config import GuardConfig
from .guard import Guard, IntrospectionHook, Verdict
from .masking import mask_execution_errors
from .response_cost import response_cost

__all__ = ["Authenticated", "Cost", "GuardExtension", "ListSize", "RequiresScopes"]


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


class GuardExtension:
    """Factory handed to ``strawberry.Schema(extensions=[...])``; shares one Guard."""

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        introspection_allowed: IntrospectionHook | None = None,
        on_verdict: Callable[[Verdict, Any], None] | None = None,
    ) -> None:
        self.config = config if config is not None else GuardConfig()
        self.introspection_allowed = introspection_allowed
        self.on_verdict = on_verdict
        self._guard: Guard | None = None
        self._lock = threading.Lock()

    def __call__(self) -> SchemaExtension:
        return _GuardSchemaExtension(self)

    def guard_for(self, schema: Any, rules: tuple[Any, ...]) -> Guard:
        guard = self._guard
        if guard is None:
            with self._lock:
                guard = self._guard
                if guard is None:
                    guard = self._guard = Guard(
                        schema,
                        self.config,
                        validation_rules=(
                            *rules,
                            MaybeNullValidationRule,
                            OneOfInputValidationRule,
                        ),
                        introspection_allowed=self.introspection_allowed,
                    )
        return guard


class GuardRejectedError(GraphQLError):
    """The error Strawberry reports when the guard rejects a document it could not parse."""


class _GuardSchemaExtension(SchemaExtension):
    def __init__(self, factory: GuardExtension) -> None:
        super().__init__()
        self.factory = factory
        self.verdict: Verdict | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None:
            guard = self.factory.guard_for(context.schema, context.validation_rules)
            verdict = guard.check(
                context.query or "",
                context.variables,
                context.operation_name,
                context=context.context,
            )
            self.verdict = verdict
            if self.factory.on_verdict is not None:
                self.factory.on_verdict(verdict, context.context)
            if not verdict.accepted and verdict.analysis is None:
                first = verdict.errors[0]
                raise GuardRejectedError(
                    first.message, extensions=first.extensions(verdict.expose_limits)
                )
            context.graphql_document = verdict.document
            # An empty list tells Strawberry validation already ran (with our rules).
            context.pre_execution_errors = verdict.graphql_errors()
        yield None

    def on_execute(self) -> Iterator[None]:
        yield None
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = mask_execution_errors(
                errors, self.factory.config, _request_id(self.execution_context.context)
            )

    def get_results(self) -> dict[str, Any]:
        verdict = self.verdict
        if verdict is None or verdict.analysis is None or not self.factory.config.report_cost:
            return {}
        analysis = verdict.analysis
        result = getattr(self.execution_context, "result", None)
        data = getattr(result, "data", None)
        actual = 0.0
        if data is not None and verdict.document is not None and verdict.accepted:
            guard = self.factory.guard_for(self.execution_context.schema, ())
            actual = response_cost(guard.analyzer, verdict.document, analysis.operation_name, data)
        return {
            "cost": {
                "requestedQueryCost": plain_number(analysis.field_cost),
                "actualQueryCost": plain_number(actual),
                "maximumAvailable": plain_number(self.factory.config.max_cost)
                if self.factory.config.max_cost is not None
                else None,
            }
        }


def _request_id(context: Any) -> str | None:
    value = context.get("request_id") if isinstance(context, dict) else None
    if value is None:
        value = getattr(context, "request_id", None)
    return value if isinstance(value, str) else None
