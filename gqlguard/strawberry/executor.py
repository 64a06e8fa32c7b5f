"""gqlguard's pipeline for a Strawberry schema: the executor it runs accepted operations with,
and the pipeline built from the schema's ``GuardExtension`` (one config, one Guard, one
persisted store, one set of budget buckets)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..extras import missing

try:
    from graphql.execution import ExperimentalIncrementalExecutionResults
    from strawberry.exceptions import MissingQueryError
    from strawberry.schema.exceptions import (
        CannotGetOperationTypeError,
        InvalidOperationTypeError,
    )
    from strawberry.types.graphql import OperationType
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("strawberry", "gqlguard.strawberry") from error

from ..config import GuardConfig
from ..errors import ErrorCode, GuardError, GuardRejection
from ..execution import Execute, Execution
from ..http import Authenticate, ContextGetter, Pipeline
from .extension import GuardExtension, checked_operation

__all__ = [
    "guard_extension_of",
    "strawberry_batching",
    "strawberry_executor",
    "strawberry_pipeline",
]


def strawberry_executor(schema: Any) -> Execute:
    """Runs an accepted operation with Strawberry's ``schema.execute`` (its extensions, its
    directives, its error processing), handing the schema's :class:`GuardExtension` the
    verified document for that one call."""

    async def run(execution: Execution) -> Any:
        with checked_operation(execution if execution.document is not None else None):
            try:
                result = await schema.execute(
                    execution.query,
                    variable_values=execution.variables,
                    context_value=execution.context,
                    operation_name=execution.operation_name,
                    allowed_operation_types=_operation_types(execution.allowed_operations),
                )
            except InvalidOperationTypeError:
                raise GuardRejection(
                    GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Mutations need POST."),
                    {"Allow": "POST"},
                ) from None
            except (MissingQueryError, CannotGetOperationTypeError):
                raise GuardRejection(
                    GuardError(ErrorCode.BAD_REQUEST, "The operation could not be determined.")
                ) from None
            if isinstance(result, ExperimentalIncrementalExecutionResults):
                # One JSON answer cannot carry later payloads: refused, coded (gqlguard's
                # Strawberry views stream them).
                await result.subsequent_results.aclose()
                raise GuardRejection(
                    GuardError(
                        ErrorCode.BAD_REQUEST,
                        "@defer and @stream are served by Strawberry's views, not here.",
                    )
                )
            return result

    return run


@functools.lru_cache(maxsize=8)  # a transport allows one of a few sets
def _operation_types(names: frozenset[str]) -> frozenset[OperationType]:
    return frozenset(OperationType(name) for name in names)


def strawberry_batching(schema: Any) -> tuple[bool, int | None]:
    """The schema's own batch rule (``StrawberryConfig(batching_config=...)``): batching off
    unless enabled there, and its ``max_operations``. Every door keeps it beside the guard's
    ``max_batch``: a batch Strawberry's own views would refuse is refused."""
    batching = getattr(getattr(schema, "config", None), "batching_config", None)
    if not isinstance(batching, Mapping):
        return False, None
    cap = batching.get("max_operations")
    return True, cap if isinstance(cap, int) else None


def guard_extension_of(schema: Any) -> GuardExtension | None:
    """The :class:`GuardExtension` a Strawberry schema carries, if any."""
    for extension in getattr(schema, "extensions", ()):
        if isinstance(extension, GuardExtension):
            return extension
    return None


def strawberry_pipeline(
    schema: Any,
    config: GuardConfig | None = None,
    *,
    authenticate: Authenticate | None = None,
    context_getter: ContextGetter | None = None,
) -> Pipeline:
    """gqlguard's whole pipeline for a Strawberry schema, for any web framework: one config
    (the extension's), one Guard, one persisted store. Without a ``GuardExtension`` the
    pipeline is transport only (nothing checks or limits the operations)."""
    extension = guard_extension_of(schema)
    if extension is None:
        return Pipeline(
            None,
            strawberry_executor(schema),
            config=config,
            authenticate=authenticate,
            context_getter=context_getter,
            batching=strawberry_batching(schema),
        )
    return Pipeline(
        extension.guard_for(schema),
        strawberry_executor(schema),
        config=config,
        authenticate=authenticate,
        context_getter=context_getter,
        # One manifest, one store connection, one set of budget buckets per schema.
        budget=extension.budget,
        persisted=extension.persisted,
        batching=strawberry_batching(schema),
    )
