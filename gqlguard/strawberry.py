"""Strawberry adapter: the one-line extension and the code-first schema directives.

    schema = strawberry.Schema(query=Query, extensions=[GuardExtension(GuardConfig())])

``GuardExtension`` is a factory: Strawberry asks it for a fresh extension per request, while
the :class:`~gqlguard.guard.Guard` (its caches, its analyzer) is built once and shared.

Two ways in, one guard:

* **gqlguard's pipeline** (``gqlguard.starlette.create_app``, or :func:`strawberry_pipeline`
  under any framework): the pipeline has checked the request; :func:`strawberry_executor`
  runs ``schema.execute`` and hands this extension the verified document and verdict for
  exactly that call, so Strawberry neither parses nor validates again and nothing is checked
  twice. Strawberry's ``schema.execute`` takes query text only: the hand-over is a
  ``ContextVar`` the executor sets around that one call (never the GraphQL context, which
  the user's code and data can write).
* **Strawberry's own views** (its ASGI app, FastAPI's ``GraphQLRouter``, Django, aiohttp …):
  the extension runs the stages those views have no place for — CSRF prevention, the
  persisted lookup (async hook), ``Guard.check`` in ``on_parse`` — and masks errors itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, specified_rules

from .extras import missing

try:
    import strawberry
    from strawberry.exceptions import MissingQueryError
    from strawberry.extensions import SchemaExtension
    from strawberry.schema.exceptions import (
        CannotGetOperationTypeError,
        InvalidOperationTypeError,
    )
    from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
    from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
    from strawberry.schema_directive import Location
    from strawberry.types.graphql import OperationType
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("strawberry", "gqlguard.strawberry") from error

from .authorization import Principal
from .config import GuardConfig
from .csrf import CsrfPrevention
from .errors import ErrorCode, GuardError, GuardRejection
from .events import facts_of, security_event
from .execution import DENIED_MARKER, Enforcement, Execute, Execution, result_extensions
from .guard import Guard, IntrospectionHook, Verdict
from .http import Authenticate, ContextGetter, Pipeline
from .masking import mask_execution_errors
from .persisted import NO_CACHE_HEADERS, Lookup, PersistedQueries, PersistedQueryError

__all__ = [
    "Authenticated",
    "Cost",
    "GuardExtension",
    "ListSize",
    "RequiresScopes",
    "guard_extension_of",
    "strawberry_executor",
    "strawberry_pipeline",
]


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


class _ExpectedRejections(logging.Filter):
    """Drops Strawberry's error log records for the guard's own coded answers: a rejection is
    an expected event, logged once (as one JSON line) by gqlguard, never as a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if isinstance(error, GraphQLError):
            code = (error.extensions or {}).get("code")
            return not (code in _EXPECTED_CODES or code == DENIED_MARKER)
        return True


_EXPECTED_CODES = frozenset(code.value for code in ErrorCode) - {
    ErrorCode.INTERNAL_SERVER_ERROR.value
}
_STRAWBERRY_FILTER = _ExpectedRejections()


class GuardExtension:
    """Factory handed to ``strawberry.Schema(extensions=[...])``; shares one Guard."""

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        introspection_allowed: IntrospectionHook | None = None,
        on_verdict: Callable[[Verdict, Any], None] | None = None,
        principal_of: Callable[[Any], Principal | None] | None = None,
    ) -> None:
        self.config = config if config is not None else GuardConfig()
        strawberry_log = logging.getLogger("strawberry.execution")
        if _STRAWBERRY_FILTER not in strawberry_log.filters:
            strawberry_log.addFilter(_STRAWBERRY_FILTER)
        self.introspection_allowed = introspection_allowed
        self.on_verdict = on_verdict
        self.principal_of = principal_of if principal_of is not None else principal_in_context
        self._guard: Guard | None = None
        self._lock = threading.Lock()
        self.csrf = (
            CsrfPrevention(self.config.csrf_required_headers)
            if self.config.csrf_prevention
            else None
        )
        # Built now, so an unusable manifest stops the server at start, not at a request.
        self.persisted = (
            PersistedQueries(self.config) if self.config.persisted_mode != "off" else None
        )

    def __call__(self) -> SchemaExtension:
        # Strawberry asks for the extensions inside schema.execute: a pipeline's executor
        # has handed over what it checked for exactly this call.
        execution = _HANDED_OVER.get()
        if execution is not None:
            _HANDED_OVER.set(None)  # one call: a schema.execute nested in a resolver checks
            if execution.enforcement is not None and execution.enforcement.needed:
                return _EnforcingCheckedExtension(self, execution)
            return _CheckedExtension(self, execution)
        if self.persisted is not None:
            return _PersistedGuardSchemaExtension(self)
        return _GuardSchemaExtension(self)

    def guard_for(self, schema: Any, rules: tuple[Any, ...] = tuple(specified_rules)) -> Guard:
        """The one Guard of this extension (built on first use, with Strawberry's rules)."""
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


# The execution a pipeline's executor hands to this schema's extension for one
# ``schema.execute`` call (see the module docstring).
_HANDED_OVER: ContextVar[Execution | None] = ContextVar("gqlguard_execution", default=None)


class GuardRejectedError(GraphQLError):
    """The error Strawberry reports when the guard rejects a document it could not parse."""


class _CheckedExtension(SchemaExtension):
    """Under gqlguard's pipeline: the request is checked; hand Strawberry the verified
    document, keep denied fields from resolving, and leave errors and ``extensions`` to the
    pipeline (masked once, there)."""

    def __init__(self, factory: GuardExtension, execution: Execution) -> None:
        super().__init__()
        self.factory = factory
        self.execution = execution
        self.enforcement = execution.enforcement

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        verdict = self.execution.verdict
        if verdict is not None and self.factory.on_verdict is not None:
            self.factory.on_verdict(verdict, context.context)
        context.graphql_document = self.execution.document
        context.pre_execution_errors = []  # validation ran, with the guard's rules
        yield None

    def on_execute(self) -> Iterator[None]:
        yield from _around_execution(self.execution_context, self.enforcement)


class _EnforcingCheckedExtension(_CheckedExtension):
    """As :class:`_CheckedExtension`, plus the per-field hook (only for requests that need it:
    Strawberry installs a hook per extension class that defines ``resolve``)."""

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        assert self.enforcement is not None
        return self.enforcement.resolve(_next, root, info, *args, **kwargs)


class _GuardSchemaExtension(SchemaExtension):
    """Under Strawberry's own views: the guard runs here, in ``on_parse``."""

    def __init__(self, factory: GuardExtension) -> None:
        super().__init__()
        self.factory = factory
        self.verdict: Verdict | None = None
        self.enforcement: Enforcement | None = None
        self.lookup: Lookup | None = None

    def on_operation(self) -> Iterator[None]:
        self._refuse_cross_site()
        self._refuse_persisted_query()
        yield None

    def _refuse_persisted_query(self) -> None:
        # persisted_mode="off": an APQ client sending only a hash must hear "not supported"
        # (200, as Apollo Server answers) to fall back to sending its query — not Strawberry's
        # 400 text/plain "No GraphQL query found", which makes it give up.
        context = self.execution_context
        extensions = context.operation_extensions
        if (
            context.query is None
            and isinstance(extensions, dict)
            and extensions.get("persistedQuery")
        ):
            refused = PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED)
            _answer_with(context.context, refused.status, NO_CACHE_HEADERS)
            raise GuardRejectedError(refused.error.message, extensions=refused.error.extensions())

    def _refuse_cross_site(self) -> None:
        # Under Strawberry's own HTTP views the request is in the context; without one
        # (schema.execute called directly) there is no browser to forge anything.
        csrf = self.factory.csrf
        if csrf is None:
            return
        context = self.execution_context.context
        request = context.get("request") if isinstance(context, dict) else None
        request = request if request is not None else getattr(context, "request", None)
        headers = getattr(request, "headers", None)
        if headers is None:
            return
        refused = csrf.violation(headers)
        if refused is not None:
            _answer_with(context, 400, {})
            raise GuardRejectedError(refused.message, extensions=refused.extensions())

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None:
            guard = self.factory.guard_for(context.schema, tuple(context.validation_rules))
            principal = self._principal(context.context)
            verdict = guard.check(
                context.query or "",
                context.variables,
                context.operation_name,
                context=context.context,
                principal=principal,
                document_id=self.lookup.document_id if self.lookup is not None else None,
            )
            self.verdict = verdict
            self.enforcement = Enforcement(guard, verdict, principal)
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
        context = self.execution_context
        config, request_id = self.factory.config, _request_id(context.context)
        yield from _around_execution(
            context,
            self.enforcement,
            # No pipeline answers for this request: its errors are masked here, once.
            lambda errors: mask_execution_errors(errors, config, request_id),
        )

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        enforcement = self.enforcement
        if enforcement is None or not enforcement.needed:
            return _next(root, info, *args, **kwargs)
        return enforcement.resolve(_next, root, info, *args, **kwargs)

    def _principal(self, context: Any) -> Principal:
        try:
            principal = self.factory.principal_of(context)
        except Exception:  # a failing hook must not become a privileged request
            logging.getLogger("gqlguard.execution").exception("principal hook failed")
            security_event("principal_hook_failed", (), facts_of(context))
            return Principal.anonymous()
        return principal if isinstance(principal, Principal) else Principal.anonymous()

    def get_results(self) -> dict[str, Any]:
        verdict = self.verdict
        guard = self.factory._guard
        if verdict is None or guard is None:
            return {}
        result = getattr(self.execution_context, "result", None)
        return result_extensions(verdict, guard, getattr(result, "data", None))


class _PersistedGuardSchemaExtension(_GuardSchemaExtension):
    """Adds the persisted-query stage (APQ via ``extensions.persistedQuery``) for Strawberry's
    own HTTP integrations. Its hook is async: with persisted queries on, execute with
    ``schema.execute`` (every ASGI integration does), not ``execute_sync``."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        self._refuse_cross_site()
        context = self.execution_context
        persisted = self.factory.persisted
        if persisted is not None:
            try:
                self.lookup = await persisted.lookup(
                    context.query,
                    context.operation_extensions,
                    context=context.context if isinstance(context.context, dict) else None,
                )
            except PersistedQueryError as refused:
                _answer_with(context.context, refused.status, NO_CACHE_HEADERS)
                raise GuardRejectedError(
                    refused.error.message, extensions=refused.error.extensions()
                ) from None
            context.query = self.lookup.query
        yield None
        verdict = self.verdict
        if persisted and self.lookup and verdict is not None and verdict.accepted:
            await persisted.register(self.lookup)


def _around_execution(
    context: Any,
    enforcement: Enforcement | None,
    mask: Callable[[list[GraphQLError]], list[GraphQLError]] | None = None,
) -> Iterator[None]:
    """Strawberry's execution step, enforced: nothing runs when every root field is denied;
    afterwards the denial placeholders become one error per denied path (and, without the
    pipeline, the errors are masked)."""
    if enforcement is not None and enforcement.nothing_left:
        context.result = enforcement.empty_result()  # answer without executing anything
    yield None
    result = context.result
    if result is None:
        return
    errors = list(getattr(result, "errors", None) or ())
    if enforcement is not None and enforcement.denied:
        errors = enforcement.errors(errors)
        result.errors = errors or None
    if errors and mask is not None:
        result.errors = mask(errors) or None


def strawberry_executor(schema: Any) -> Execute:
    """Runs an accepted operation with Strawberry's ``schema.execute`` (its extensions, its
    directives, its error processing), handing the schema's :class:`GuardExtension` the
    verified document for that one call."""

    async def run(execution: Execution) -> Any:
        token = _HANDED_OVER.set(execution if execution.document is not None else None)
        try:
            return await schema.execute(
                execution.query,
                variable_values=execution.variables,
                context_value=execution.context,
                operation_name=execution.operation_name,
                allowed_operation_types=frozenset(
                    OperationType(name) for name in execution.allowed_operations
                ),
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
        finally:
            _HANDED_OVER.reset(token)

    return run


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
        )
    return Pipeline(
        extension.guard_for(schema),
        strawberry_executor(schema),
        config=config,
        authenticate=authenticate,
        context_getter=context_getter,
        # One manifest, one store connection per app.
        persisted=extension.persisted,
    )


def _answer_with(context: Any, status: int, headers: dict[str, str]) -> None:
    # Strawberry's HTTP views put a sub-response in the context; its status and headers
    # reach the client.
    response = context.get("response") if isinstance(context, dict) else None
    response = response if response is not None else getattr(context, "response", None)
    target = getattr(response, "headers", None)
    if target is not None:
        for name, value in headers.items():
            target[name] = value
    if response is not None and hasattr(response, "status_code"):
        response.status_code = status


def principal_in_context(context: Any) -> Principal | None:
    """The default principal hook: ``context["principal"]`` or ``context.principal``."""
    if isinstance(context, dict):
        found = context.get("principal")
    else:
        found = getattr(context, "principal", None)
    return found if isinstance(found, Principal) else None


def _request_id(context: Any) -> str | None:
    value = context.get("request_id") if isinstance(context, dict) else None
    if value is None:
        value = getattr(context, "request_id", None)
    return value if isinstance(value, str) else None
