"""What runs around execution, for every executor: the one request's enforcement while
resolving, the result's errors and ``extensions``, and graphql-core's executor.

An accepted verdict can still need work while fields resolve: in ``authorization_mode =
"filter"`` the denied field nodes must never reach their resolver (they become ``null``
plus one error per removed path); with ``hide_unauthorized_fields`` introspection answers
must drop what the principal may not see; and object-level rules
(:mod:`gqlguard.object_rules`) decide on each object a resolver returns. :class:`Enforcement`
does all three, as a graphql-core middleware (Strawberry's extension hook has the same
signature).

>>> from graphql import build_schema
>>> from gqlguard import Guard
>>> guard = Guard(build_schema("type Query { a: Int }"))
>>> verdict = guard.check("{ a }")
>>> Enforcement(guard, verdict).needed
False
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLResolveInfo,
    execute,
)

from .analysis import plain_number
from .authorization import ALLOWED, UNAUTHORIZED_MESSAGE, Decision, Principal
from .errors import ErrorCode
from .events import security_event
from .guard import Guard, Verdict, graphql_schema_of
from .object_rules import Watch
from .policies import PolicyRequest

__all__ = [
    "Enforcement",
    "Execute",
    "Execution",
    "graphql_core_executor",
    "result_extensions",
]

# The code a denied field's placeholder error carries while it bubbles up through
# graphql-core; :meth:`Enforcement.errors` swaps every one of them for the decision's errors.
DENIED_MARKER = "_GQLGUARD_DENIED"
_HIDING = frozenset({"__Type", "__Schema"})
_UNAUTHORIZED = ErrorCode.UNAUTHORIZED_FIELD_OR_TYPE.value
_log = logging.getLogger("gqlguard.execution")


def _materialized(
    value: Any,
    output_type: GraphQLOutputType,
    path: tuple[int, ...],
    objects: list[tuple[tuple[int, ...], Any]],
) -> Any:
    """``value`` with its lists made lists (an iterator is read once), each object noted
    with its path inside the value."""
    if isinstance(output_type, GraphQLNonNull):
        output_type = output_type.of_type
    if value is None:
        return None
    if isinstance(output_type, GraphQLList) and not isinstance(value, (str, bytes, dict)):
        try:
            items = list(value)
        except TypeError:  # not a list after all: graphql-core reports it
            return value
        return [
            _materialized(item, output_type.of_type, (*path, index), objects)
            for index, item in enumerate(items)
        ]
    objects.append((path, value))
    return value


def _without(value: Any, denied: set[tuple[int, ...]], path: tuple[int, ...]) -> Any:
    if not isinstance(value, list):
        return value
    return [
        _without(item, denied, (*path, index))
        for index, item in enumerate(value)
        if (*path, index) not in denied
    ]


async def _settled_value(value: Any) -> Any:
    """An async iterable read into a list; awaitable items of a list awaited (nested lists
    too), as graphql-core would complete them."""
    if hasattr(value, "__aiter__"):
        value = [item async for item in value]
    if isinstance(value, list):
        return [await _settled_value(item) for item in value]
    if inspect.isawaitable(value):
        return await _settled_value(await value)
    return value


async def _all_true(outcomes: list[Any]) -> bool:
    for outcome in outcomes:
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome is not True:
            return False
    return True


async def _ready(value: bool) -> bool:
    return value


class Enforcement:
    """Per request: which field nodes must not resolve, and whether introspection answers
    must be filtered for this principal."""

    __slots__ = (
        "decision",
        "denied",
        "filter_introspection",
        "guard",
        "object_errors",
        "principal",
        "request",
        "watched",
    )

    def __init__(
        self,
        guard: Guard,
        verdict: Verdict | None,
        principal: Principal | None = None,
        request: PolicyRequest | None = None,
    ) -> None:
        self.guard = guard
        principal = principal if principal is not None else Principal.anonymous()
        # The policies the check granted for this request (and no others).
        granted = verdict.policies if verdict is not None else frozenset()
        if principal.policies != granted:
            principal = dataclasses.replace(principal, policies=granted)
        self.principal = principal
        self.request = request if request is not None else PolicyRequest()
        # Object-level rules: the fields whose results they decide on, and what they removed.
        watches = verdict is not None and verdict.watches_objects
        self.watched = guard.object_rules.watched if watches else {}
        self.object_errors: list[GraphQLError] = []
        config = guard.config
        decision = verdict.authorization if verdict is not None else ALLOWED
        self.decision: Decision = decision if config.authorization_mode == "filter" else ALLOWED
        self.denied = self.decision.denied
        analysis = verdict.analysis if verdict is not None else None
        self.filter_introspection = bool(
            config.hide_unauthorized_fields
            and analysis is not None
            and analysis.introspection
            and guard.authorizer.has_rules
        )

    @property
    def needed(self) -> bool:
        """Whether the per-field hook must run at all (a call per field when it does)."""
        return bool(self.denied) or self.filter_introspection or bool(self.watched)

    @property
    def nothing_left(self) -> bool:
        """Every root field is denied: answer :meth:`empty_result` without executing."""
        return bool(self.denied) and self.decision.nothing_left

    def empty_result(self) -> ExecutionResult:
        """The data when nothing runs (its errors come from :meth:`errors`, as always)."""
        return ExecutionResult(data=self.decision.empty_data(), errors=None)

    def resolve(
        self,
        next_: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """graphql-core middleware: the outermost one, so a denied field reaches no other."""
        denied = self.denied
        # Every node merged into this response key: one denied node denies the key.
        if denied and any(node in denied for node in info.field_nodes):
            # graphql-core turns this into null (bubbling through non-null as the spec
            # says); errors() swaps it for one error per removed path.
            raise GraphQLError(UNAUTHORIZED_MESSAGE, extensions={"code": DENIED_MARKER})
        if self.filter_introspection and (
            info.parent_type.name in _HIDING or info.field_name == "__type"
        ):
            return self._hide(next_(root, info, *args, **kwargs), root, info)
        watch = self.watched.get((info.parent_type.name, info.field_name)) if self.watched else None
        if watch is None:
            return next_(root, info, *args, **kwargs)
        value = next_(root, info, *args, **kwargs)
        if inspect.isawaitable(value):
            return self._checked_later(value, watch, info)
        return self._checked(value, watch, info)

    @property
    def adds_errors(self) -> bool:
        """Whether :meth:`errors` has anything to change in the execution's errors."""
        return bool(self.denied) or bool(self.object_errors)

    def errors(self, errors: Sequence[GraphQLError] | None) -> list[GraphQLError]:
        """The execution's errors with the denial placeholders replaced by one error per
        denied path (as the decision reports them, in the document's order), then one per
        object an object-level rule removed (taken: a subscription's next event starts
        afresh)."""
        kept = [e for e in errors or () if (e.extensions or {}).get("code") != DENIED_MARKER]
        if self.denied:
            # One error per denied path, even when a result passes here twice (a query sent
            # over a WebSocket: executed, then streamed as one event).
            present = {_code_and_path(error) for error in kept}
            kept.extend(
                error
                for error in (e.to_graphql_error() for e in self.decision.errors())
                if _code_and_path(error) not in present
            )
        if self.object_errors:
            kept.extend(self.object_errors)
            self.object_errors = []
        return kept

    # -- object-level rules ----------------------------------------------------------------

    async def _checked_later(
        self, value: Awaitable[Any], watch: Watch, info: GraphQLResolveInfo[Any]
    ) -> Any:
        checked = self._checked(await value, watch, info)
        return await checked if inspect.isawaitable(checked) else checked

    def _checked(self, value: Any, watch: Watch, info: GraphQLResolveInfo[Any]) -> Any:
        """``value`` with what the rules deny removed (per mode), or an awaitable of it when
        a policy is ``async`` or the value is still to come (an async iterable, awaitable
        items: read whole, then checked — a rule sees every object before the client does)."""
        if hasattr(value, "__aiter__") or (
            isinstance(value, list) and any(inspect.isawaitable(item) for item in value)
        ):
            return self._checked_later(_settled_value(value), watch, info)
        objects: list[tuple[tuple[int, ...], Any]] = []
        value = _materialized(value, info.return_type, (), objects)
        outcomes = [self._allows(item, watch, info) for _, item in objects]
        if any(inspect.isawaitable(outcome) for outcome in outcomes):
            return self._applied_later(value, objects, outcomes, info)
        return self._applied(value, objects, [bool(outcome) for outcome in outcomes], info)

    def _allows(self, item: Any, watch: Watch, info: GraphQLResolveInfo[Any]) -> Any:
        rules = self.guard.object_rules
        try:
            outcomes = [
                rule.allows(item, self.principal, self.request, rules.policies)
                for rule in rules.rules_for(watch, item, info)
            ]
        except Exception:  # a rule that raises denies
            _log.exception("object rule failed; denying")
            return False
        if any(inspect.isawaitable(outcome) for outcome in outcomes):
            return _all_true(outcomes)
        return all(outcome is True for outcome in outcomes)

    async def _applied_later(
        self,
        value: Any,
        objects: list[tuple[tuple[int, ...], Any]],
        outcomes: list[Any],
        info: GraphQLResolveInfo[Any],
    ) -> Any:
        settled = await asyncio.gather(
            *(o if inspect.isawaitable(o) else _ready(bool(o)) for o in outcomes)
        )
        return self._applied(value, objects, [outcome is True for outcome in settled], info)

    def _applied(
        self,
        value: Any,
        objects: list[tuple[tuple[int, ...], Any]],
        allowed: list[bool],
        info: GraphQLResolveInfo[Any],
    ) -> Any:
        denied = [path for (path, _), ok in zip(objects, allowed, strict=True) if not ok]
        if not denied:
            return value
        mode = self.guard.config.authorization_mode
        base = info.path.as_list()
        if self.guard.security_events:
            security_event(
                "object_denied",
                [ErrorCode.UNAUTHORIZED_FIELD_OR_TYPE.value],
                {"principal": self.principal.subject},
                mode=mode,
                paths=[".".join(map(str, [*base, *path])) for path in denied[:100]],
            )
        if mode == "dry_run":
            return value
        if mode == "reject" or () in denied:
            # The field itself is nulled (bubbling through non-null, as graphql-core does).
            raise GraphQLError(UNAUTHORIZED_MESSAGE, extensions={"code": _UNAUTHORIZED})
        for path in denied:
            self.object_errors.append(
                GraphQLError(
                    UNAUTHORIZED_MESSAGE,
                    info.field_nodes,
                    path=[*base, *path],
                    extensions={"code": _UNAUTHORIZED},
                )
            )
        return _without(value, set(denied), ())

    def _hide(self, value: Any, root: Any, info: GraphQLResolveInfo[Any]) -> Any:
        """Introspection as the principal may know the schema: what its view holds (the
        same view its documents are validated against)."""
        if value is None:
            return value
        known = self.guard.schema_for(self.principal)
        if info.field_name in ("__type", "mutationType", "subscriptionType"):
            # A type (or root) it may not know: none, as for a name the schema lacks.
            return value if known.get_type(value.name) is not None else None
        if info.parent_type.name == "__Type" and info.field_name == "fields":
            seen = known.get_type(root.name)
            fields = getattr(seen, "fields", {})
            return [(name, definition) for name, definition in value if name in fields]
        if info.field_name in ("types", "possibleTypes", "interfaces"):
            return [t for t in value if known.get_type(t.name) is not None]
        return value


@dataclass(frozen=True, slots=True)
class Execution:
    """One accepted operation, handed to the executor: run ``document`` (verified and
    validated; never parse ``query`` again unless the executor only takes text)."""

    document: DocumentNode | None  # None only when the app has no guard (transport only)
    verdict: Verdict | None
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None  # the operation the guard selected, resolved once
    context: Any  # the pipeline's dict, or the framework's own context (Strawberry's views)
    principal: Principal
    # "query", "mutation", "subscription": what the transport allows (GET: queries only)
    allowed_operations: frozenset[str] = frozenset({"query", "mutation", "subscription"})
    enforcement: Enforcement | None = field(default=None)
    extensions: dict[str, Any] | None = None  # the request's `extensions` for this operation


Execute = Callable[[Execution], Awaitable[ExecutionResult]]


def graphql_core_executor(
    schema: Any,
    *,
    root_value: Any = None,
    middleware: Sequence[Any] = (),
) -> Execute:
    """An executor for any graphql-core schema (Ariadne's, Graphene's ``graphql_schema``,
    ``graphql.build_schema``): graphql-core's ``execute`` on the verified document, with the
    request's enforcement as the outermost middleware."""
    graphql_schema = graphql_schema_of(schema)

    async def run(execution: Execution) -> ExecutionResult:
        if execution.document is None:  # pragma: no cover - the pipeline always has a guard
            raise ValueError("graphql_core_executor needs a guarded pipeline")
        enforcement = execution.enforcement
        if enforcement is not None and enforcement.nothing_left:
            result = enforcement.empty_result()  # nothing is left to run
        else:
            layers = [*middleware]
            if enforcement is not None and enforcement.needed:
                layers.append(enforcement)  # graphql-core: the last middleware is outermost
            running = execute(
                graphql_schema,
                execution.document,
                root_value=root_value,
                context_value=execution.context,
                variable_values=execution.variables,
                operation_name=execution.operation_name,
                middleware=layers or None,
            )
            result = await running if inspect.isawaitable(running) else running
        if enforcement is not None and enforcement.adds_errors:
            result.errors = enforcement.errors(result.errors) or None
        return result

    return run


def result_extensions(
    verdict: Verdict | None, guard: Guard, data: Any, actual: float | None = None
) -> dict[str, Any]:
    """The response's ``extensions`` gqlguard adds: the dry-run authorization report and the
    cost (``report_cost``) in IBM's names. ``actual`` defaults to the response cost of
    ``data``."""
    config = guard.config
    analysis = verdict.analysis if verdict is not None else None
    results: dict[str, Any] = {}
    if verdict is None or analysis is None:
        return results
    decision = verdict.authorization
    if not decision.allowed and config.authorization_mode == "dry_run":
        results["authorization"] = {
            "dryRun": True,
            "wouldDeny": [list(path) for path in decision.paths],
        }
    if not config.report_cost:
        return results
    if actual is None:
        actual = (
            guard.actual_cost(verdict.document, analysis.operation_name, data)
            if data is not None and verdict.document is not None and verdict.accepted
            else 0.0
        )
    # A denied field is null without running: what ran never exceeds what was estimated.
    actual = min(actual, analysis.field_cost)
    results["cost"] = {
        "requestedQueryCost": plain_number(analysis.field_cost),
        "actualQueryCost": plain_number(actual),
        "maximumAvailable": plain_number(config.max_cost) if config.max_cost is not None else None,
    }
    return results


def _code_and_path(error: GraphQLError) -> tuple[Any, tuple[Any, ...]]:
    extensions = error.extensions or {}
    return extensions.get("code"), tuple(error.path or extensions.get("path") or ())
