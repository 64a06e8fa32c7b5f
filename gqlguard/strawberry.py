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
  the view reads the body and executes; the extension drives the pipeline's stages from its
  hooks (:meth:`GuardExtension.view_pipeline`) — CSRF prevention, authentication, and, with an
  async hook when persisted queries or the budget are on, the persisted lookup, the check,
  the budget charge and refund — and masks errors itself.
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
from .budget import BucketState, store_for
from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection
from .events import facts_of, security_event
from .execution import DENIED_MARKER, Enforcement, Execute, Execution, result_extensions
from .guard import Guard, IntrospectionHook, Verdict
from .http import Authenticate, Caller, ContextGetter, Pipeline
from .masking import mask_execution_errors
from .persisted import Lookup, PersistedQueries, PersistedQueryError
from .transport import GuardRequest

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
        self._view_pipeline: Pipeline | None = None
        self._lock = threading.Lock()
        # Built now, so an unusable manifest stops the server at start, not at a request.
        self.persisted = (
            PersistedQueries(self.config) if self.config.persisted_mode != "off" else None
        )
        # One budget store per extension: every pipeline serving this schema (create_app's,
        # the one driven under Strawberry's own views) draws from the same buckets.
        self.budget = store_for(self.config)

    def __call__(self) -> SchemaExtension:
        # Strawberry asks for the extensions inside schema.execute: a pipeline's executor
        # has handed over what it checked for exactly this call.
        execution = _HANDED_OVER.get()
        if execution is not None:
            _HANDED_OVER.set(None)  # one call: a schema.execute nested in a resolver checks
            if execution.enforcement is not None and execution.enforcement.needed:
                return _EnforcingCheckedExtension(self, execution)
            return _CheckedExtension(self, execution)
        if self.persisted is not None or self.config.budget_capacity is not None:
            return _PipelineViewExtension(self)
        return _GuardSchemaExtension(self)

    def view_pipeline(self, schema: Any) -> Pipeline:
        """The pipeline whose stages this extension runs under Strawberry's own views (the
        view reads the body and executes; the pipeline's transport and executor stay idle)."""
        pipeline = self._view_pipeline
        if pipeline is None:
            guard = self.guard_for(schema)  # takes the lock itself
            with self._lock:
                pipeline = self._view_pipeline
                if pipeline is None:
                    pipeline = self._view_pipeline = Pipeline(
                        guard, _executed_by_the_view, budget=self.budget, persisted=self.persisted
                    )
        return pipeline

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


class _FieldHook:
    """The per-field hook: Strawberry installs it for an extension class that defines
    ``resolve``, so only the classes that may need it inherit this."""

    enforcement: Enforcement | None

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


class _EnforcingCheckedExtension(_FieldHook, _CheckedExtension):
    """As :class:`_CheckedExtension`, for the requests that need enforcing while resolving."""


class _GuardSchemaExtension(_FieldHook, SchemaExtension):
    """Under Strawberry's own views, with synchronous hooks (so ``execute_sync`` works): the
    pipeline's request stages that need no I/O (CSRF prevention, authentication), then the
    check in ``on_parse``."""

    def __init__(self, factory: GuardExtension) -> None:
        super().__init__()
        self.factory = factory
        self.verdict: Verdict | None = None
        self.enforcement: Enforcement | None = None
        self.lookup: Lookup | None = None
        self.principal = Principal.anonymous()
        self.caller: Caller | None = None  # None until a request is found in the context

    def on_operation(self) -> Iterator[None]:
        try:
            self._admit_caller()
            self._refuse_persisted_query()
        except GuardRejection as rejected:
            self._answer_refusal(rejected)
        yield None

    def _admit_caller(self) -> Caller | None:
        """CSRF prevention and authentication, as the pipeline runs them, for the request in
        Strawberry's context (None: ``schema.execute`` called directly, no HTTP request)."""
        context = self.execution_context.context
        pipeline = self.factory.view_pipeline(self.execution_context.schema)
        request = _request_in(context)
        if request is None:
            self.principal = self._principal_in(context) or Principal.anonymous()
            return None
        caller = pipeline.caller(request)
        self.caller = caller
        pipeline.transport.refuse_cross_site(request)
        principal = self._principal_in(context)
        if principal is None:
            # No principal in the context: the bearer JWT, as the pipeline verifies it (an
            # unusable one is UNAUTHENTICATED, never anonymous).
            principal = pipeline.tokens.principal(request.headers.get("authorization"))
        caller.principal = self.principal = principal
        return caller

    def _principal_in(self, context: Any) -> Principal | None:
        try:
            found = self.factory.principal_of(context)
        except Exception:  # a failing hook fails closed, as the pipeline's does
            security_event(
                "principal_hook_failed", [ErrorCode.UNAUTHENTICATED.value], facts_of(context)
            )
            raise GuardRejection(
                GuardError(ErrorCode.UNAUTHENTICATED, "Invalid or expired credentials."),
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        return found if isinstance(found, Principal) else None

    def _answer_refusal(self, rejected: GuardRejection) -> None:
        """The request refused as a whole: its status and headers on Strawberry's response,
        one security event, and the error Strawberry reports."""
        context = self.execution_context.context
        if rejected.status != 200:  # an APQ miss is the protocol, not a security event
            caller = self.caller
            facts = caller.facts() if caller is not None else facts_of(context)
            security_event("rejected", [rejected.error.code.value], facts)
        _answer_with(context, rejected.status, rejected.headers)
        error = rejected.error
        raise GuardRejectedError(
            error.message, extensions=error.extensions(self.factory.config.expose_limits)
        )

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
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None:
            guard = self.factory.guard_for(context.schema, tuple(context.validation_rules))
            verdict = self.verdict
            if verdict is None:
                verdict = self.verdict = guard.check(
                    context.query or "",
                    context.variables,
                    context.operation_name,
                    context=context.context,
                    principal=self.principal,
                    document_id=self.lookup.document_id if self.lookup is not None else None,
                )
            self.enforcement = Enforcement(guard, verdict, self.principal)
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
        if self.caller is not None:
            request_id = self.caller.request_id
        yield from _around_execution(
            context,
            self.enforcement,
            # No pipeline answers for this request: its errors are masked here, once.
            lambda errors: mask_execution_errors(errors, config, request_id),
        )

    def get_results(self) -> dict[str, Any]:
        verdict = self.verdict
        guard = self.factory._guard
        if verdict is None or guard is None:
            return {}
        result = getattr(self.execution_context, "result", None)
        return result_extensions(verdict, guard, getattr(result, "data", None))


class _PipelineViewExtension(_GuardSchemaExtension):
    """Under Strawberry's own views with persisted queries or a cost budget on: every stage of
    the pipeline that Strawberry leaves room for, in its order, with asynchronous hooks
    (execute with ``schema.execute``, as every ASGI integration does)."""

    bucket: BucketState | None = None

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        pipeline = self.factory.view_pipeline(context.schema)
        caller: Caller | None = None
        try:
            caller = self._admit_caller()
            if caller is not None and pipeline.budget is not None:
                await pipeline.budget.refuse_spent(caller.budget_key)
            envelope = {
                "query": context.query,
                "variables": context.variables,
                "operation_name": context.operation_name,
                "extensions": context.operation_extensions,
                "document_id": None,
            }
            allowed = frozenset(kind.value for kind in context.allowed_operations)
            admitting = caller
            if admitting is None:  # schema.execute called directly: no client to budget
                admitting = Caller(GuardRequest("POST", {}), "direct", "local", self.principal)
            lookup, verdict = await pipeline.admit(admitting, envelope, context.context, allowed)
            if isinstance(lookup, PersistedQueryError):
                raise lookup
            self.lookup, self.verdict = lookup, verdict
            context.query = lookup.query
            if caller is not None:
                self.bucket = await pipeline.settle_admission(caller, [(lookup, verdict)])
            elif verdict is None or verdict.accepted:
                await pipeline.persisted.register(lookup)
        except GuardRejection as rejected:
            refused_caller = self.caller  # set before CSRF ran
            if refused_caller is not None and not isinstance(rejected, PersistedQueryError):
                await pipeline.refused(refused_caller, rejected)
            self._answer_refusal(rejected)
        yield None
        if caller is not None and self.bucket is not None and self.verdict is not None:
            analysis = self.verdict.analysis
            estimated = analysis.field_cost if analysis is not None else 0.0
            actual = pipeline.actual_cost(self.verdict, context.result)
            headers, _ = await pipeline.refund(caller, self.bucket, estimated, actual)
            _answer_with(context.context, None, headers)


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
        # One manifest, one store connection, one set of budget buckets per schema.
        budget=extension.budget,
        persisted=extension.persisted,
    )


async def _executed_by_the_view(execution: Execution) -> Any:  # pragma: no cover
    raise RuntimeError("under Strawberry's own views, Strawberry executes")


def _request_in(context: Any) -> GuardRequest | None:
    """The HTTP request in Strawberry's context, as the pipeline reads one (headers, method,
    client address); None when there is none."""
    request = context.get("request") if isinstance(context, dict) else None
    request = request if request is not None else getattr(context, "request", None)
    headers = getattr(request, "headers", None)
    if request is None or headers is None:
        return None
    client = getattr(request, "client", None)  # Starlette, FastAPI
    address = getattr(client, "host", None) or getattr(request, "remote", None)  # aiohttp
    if address is None:
        address = getattr(request, "META", {}).get("REMOTE_ADDR")  # Django
    return GuardRequest(
        method=str(getattr(request, "method", "POST")),
        headers=headers,
        client=address if isinstance(address, str) else None,
        native=request,
    )


def _answer_with(context: Any, status: int | None, headers: dict[str, str]) -> None:
    # Strawberry's HTTP views put a sub-response in the context; its status and headers
    # reach the client.
    response = context.get("response") if isinstance(context, dict) else None
    response = response if response is not None else getattr(context, "response", None)
    target = getattr(response, "headers", None)
    if target is not None:
        for name, value in headers.items():
            target[name] = value
    if status is not None and response is not None and hasattr(response, "status_code"):
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
