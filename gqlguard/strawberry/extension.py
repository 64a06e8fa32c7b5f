"""``GuardExtension``: gqlguard as one more Strawberry schema extension.

    schema = strawberry.Schema(query=Query, extensions=[GuardExtension(GuardConfig())])

``GuardExtension`` is a factory: Strawberry asks it for a fresh extension per operation,
while the :class:`~gqlguard.guard.Guard` (its caches, its analyzer) is built once and shared.

Under Strawberry's own views (HTTP, WebSocket, ``schema.execute``/``subscribe``/``stream``
called directly) the extension drives the pipeline's stages from Strawberry's hooks, and it
*answers the way Strawberry answers its own pre-execution errors*: a refusal is placed in
``execution_context.pre_execution_errors`` (never raised from a hook), so every transport —
JSON, batches, graphql-transport-ws, graphql-ws, multipart, SSE — reports it with the
protocol's own error, and Strawberry's other extensions see it as they see a parse or
validation error.

- ``on_operation``: CSRF prevention (HTTP only; a WebSocket handshake is checked against the
  Origin allow-list instead) and authentication (the ``Authorization`` header, or the
  ``connection_init`` payload, is read only when a JWT key source is configured); with
  persisted queries or a budget, the persisted lookup and the budget's refusal of a spent
  client.
- ``on_parse``: the check, with the rules and parse options Strawberry holds for this
  operation (its own, the user's ``AddValidationRules``, ``MaxTokensLimiter``'s options …),
  after every extension's ``on_operation`` ran, whatever the extension order.
- ``resolve``: per-field authorization; ``on_execute`` and ``on_stream_result``: masking of
  everything a client receives (results, subscription events, incremental payloads).

Under gqlguard's own pipeline (``create_app``, :func:`~gqlguard.strawberry.executor.
strawberry_pipeline`) the request is already checked: the executor hands the verified
document over (:mod:`gqlguard.strawberry.executor`) and the extension only enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar, Token
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLResolveInfo,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from ..extras import missing

try:
    from strawberry.extensions import SchemaExtension
    from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
    from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
    from strawberry.types import ExecutionResult
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("strawberry", "gqlguard.strawberry") from error

from ..authorization import Principal
from ..budget import COUNTED_HEADER, BucketState, store_for
from ..config import GuardConfig
from ..errors import ErrorCode, GuardError, GuardRejection
from ..events import facts_of, security_event
from ..execution import DENIED_MARKER, Enforcement, Execution, result_extensions
from ..guard import (
    CheckCallback,
    Guard,
    IntrospectionHook,
    Verdict,
    startup_settings,
)
from ..http import Caller, Pipeline
from ..masking import mask_execution_errors, refuses_operation_type
from ..object_rules import ObjectRule
from ..origins import OriginPolicy
from ..persisted import Lookup, PersistedQueries, PersistedQueryError
from ..policies import Policies, PolicyEvaluation, PolicyFunction, PolicyRequest
from ..tokens import AuthenticationError, JWTAuthenticator
from ..transport import GuardRequest, Transport
from .batches import SharedByRequest
from .context import (
    answer_with,
    bearer_credentials,
    hold_principal,
    is_handshake,
    principal_in_context,
    release_principal,
    request_id_in,
    request_in,
)
from .handover import handing_over, take_handed_over
from .helper_loop import HelperLoop

__all__ = ["GuardExtension", "strawberry_rules"]


# The tracebacks Strawberry may still log for the operation running in this context (its
# log records carry nothing that names the operation; its hooks and its logging run in one
# context per operation).
_TRACEBACKS_LEFT: ContextVar[list[int] | None] = ContextVar("gqlguard_tracebacks", default=None)


class _ExpectedRejections(logging.Filter):
    """Drops Strawberry's error log records for the guard's own coded answers (a rejection is
    an expected event, logged once, as one JSON line, by gqlguard, never as a traceback), and
    past ``max_errors`` tracebacks for one operation: one small request naming a failing
    field twenty times must not write twenty tracebacks."""

    @staticmethod
    def limit(max_errors: int) -> Token[list[int] | None]:
        """At most ``max_errors`` records for the operation starting in this context; hand
        the token to :meth:`release` when it ends (nothing else is counted)."""
        return _TRACEBACKS_LEFT.set([max_errors])

    @staticmethod
    def release(token: Token[list[int] | None]) -> None:
        try:
            _TRACEBACKS_LEFT.reset(token)
        except ValueError:  # ended in another context (a hook resumed elsewhere): leave it
            _TRACEBACKS_LEFT.set(None)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if isinstance(error, GraphQLError):
            code = (error.extensions or {}).get("code")
            if code in _EXPECTED_CODES or code == DENIED_MARKER:
                return False
            if refuses_operation_type(error.original_error):
                return False  # the client's request (coded BAD_REQUEST), not a fault
        left = _TRACEBACKS_LEFT.get()
        if left is None:
            return True
        left[0] -= 1
        return left[0] >= 0


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
        on_accept: CheckCallback | None = None,
        on_reject: CheckCallback | None = None,
        principal_of: Callable[[Any], Principal | None] | None = None,
        policies: Mapping[str, PolicyFunction] | None = None,
        object_rules: Sequence[ObjectRule] = (),
    ) -> None:
        """``policies``, ``object_rules``, ``on_accept`` and ``on_reject`` are the guard's
        (see :class:`gqlguard.Guard`);
        they are checked against the schema when the guard is built: call
        :meth:`guard_for` with the schema at start to have a mistake stop the server there."""
        self.config = config if config is not None else GuardConfig()
        self.policies = Policies(policies or {})
        self.object_rules = tuple(object_rules)
        strawberry_log = logging.getLogger("strawberry.execution")
        if _STRAWBERRY_FILTER not in strawberry_log.filters:
            strawberry_log.addFilter(_STRAWBERRY_FILTER)
        self.introspection_allowed = introspection_allowed
        self.on_accept = on_accept
        self.on_reject = on_reject
        # Checked now, not when the guard is first built at a request: a mistake stops the
        # server at start (and the measure log is open while the extension lives).
        self._startup = startup_settings(self.config, on_accept, on_reject)
        self.principal_of = principal_of if principal_of is not None else principal_in_context
        self._guard: Guard | None = None
        self._view_pipeline: Pipeline | None = None
        self._lock = threading.Lock()
        # Built now, so an unusable manifest or key stops the server at start, not at a request.
        self.persisted = (
            PersistedQueries(self.config) if self.config.persisted_mode != "off" else None
        )
        self.tokens = JWTAuthenticator(self.config)
        self.transport = Transport(self.config)
        self.origins = OriginPolicy(self.config.websocket_origins)
        # One budget store per extension: every pipeline serving this schema (create_app's,
        # the one driven under Strawberry's own views) draws from the same buckets.
        self.budget = store_for(self.config)
        self.helper = HelperLoop()
        self.requests = SharedByRequest()

    def __call__(self) -> SchemaExtension:
        # Strawberry asks for the extensions inside schema.execute: a pipeline's executor
        # may have handed over what it checked for exactly this call.
        execution = take_handed_over()
        if execution is not None:
            if execution.enforcement is not None and execution.enforcement.needed:
                return _EnforcingCheckedExtension(self, execution)
            return _CheckedExtension(self, execution)
        stores = self.persisted is not None or self.config.budget_capacity is not None
        if _in_event_loop():
            # An async view: the stages that wait (stores, async policies) are awaited. A
            # plain function returning an awaitable is not known to be async: it runs on the
            # helper loop (README: register async policies as `async def`).
            if stores or self.policies.asynchronous:
                return _PipelineOperation(self)
        elif stores:
            # No loop in this thread: a sync view's execute_sync, whose hooks must not await.
            return _SyncPipelineOperation(self)
        return _GuardedOperation(self)

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

    def guard_for(self, schema: Any) -> Guard:
        """The one Guard of this extension (built on first use). Its own rules are
        graphql-core's and Strawberry's; under Strawberry's views each operation is checked
        with the rules Strawberry holds for it (:func:`strawberry_rules`)."""
        guard = self._guard
        if guard is None:
            with self._lock:
                guard = self._guard
                if guard is None:
                    guard = self._guard = Guard(
                        schema,
                        self.config,
                        validation_rules=strawberry_rules(tuple(_specified_rules())),
                        introspection_allowed=self.introspection_allowed,
                        policies=self.policies,
                        object_rules=self.object_rules,
                        on_accept=self.on_accept,
                        on_reject=self.on_reject,
                    )
        return guard


def _specified_rules() -> tuple[Any, ...]:
    from graphql import specified_rules

    return tuple(specified_rules)


def strawberry_rules(rules: tuple[Any, ...]) -> tuple[Any, ...]:
    """The rules Strawberry validates with for an operation whose ``validation_rules`` are
    ``rules``: those, then its own two (none at all when validation is disabled)."""
    if not rules:
        return ()
    return (*rules, MaybeNullValidationRule, OneOfInputValidationRule)


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


@contextlib.contextmanager
def checked_operation(execution: Execution | None) -> Iterator[None]:
    """Around one ``schema.execute`` of an operation gqlguard's pipeline checked: the
    execution handed over to this schema's extension, the principal the operation's
    (``principal_of(info)`` at every door, whatever the framework's context is), and
    Strawberry's own error log quiet — the pipeline logs each execution error it masks (at
    most max_errors, with the request id); Strawberry's records of them would be the same
    tracebacks again, without it. Held here, around the call, not by a hook: a hook costs
    every request a context of Strawberry's extension runner. Nothing handed over (None):
    Strawberry runs the operation as it would alone."""
    if execution is None:
        with handing_over(None):
            yield
        return
    token = _STRAWBERRY_FILTER.limit(0)
    held = hold_principal(execution.principal)
    try:
        with handing_over(execution):
            yield
    finally:
        release_principal(held)
        _STRAWBERRY_FILTER.release(token)


class _CheckedExtension(SchemaExtension):
    """Under gqlguard's pipeline: the request is checked; hand Strawberry the verified
    document and leave errors and ``extensions`` to the pipeline (masked once, there)."""

    def __init__(self, factory: GuardExtension, execution: Execution) -> None:
        super().__init__()
        self.factory = factory
        self.execution = execution
        self.enforcement = execution.enforcement

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        refusal = self._strawberrys_own_check()
        if refusal is None:
            context.graphql_document = self.execution.document
            context.pre_execution_errors = []  # validation ran, with the guard's rules
        elif refusal:
            context.graphql_document = self.execution.document
            context.pre_execution_errors = refusal
            self.enforcement = None  # nothing runs
        # else: Strawberry's parse options refuse the text; Strawberry parses it (bounded:
        # it passed the pre-parse limits) and reports its own syntax error.
        yield None

    def _strawberrys_own_check(self) -> list[GraphQLError] | None:
        """The pipeline checked with the guard's rules and parse options; Strawberry may
        hold more for this operation (the user's ``AddValidationRules``,
        ``MaxAliasesLimiter``, ``MaxTokensLimiter``'s options, added by their extensions in
        ``on_operation``). Those still refuse: None when they add nothing or accept, an
        empty list when Strawberry's own parse must report, else the errors to answer."""
        context = self.execution_context
        guard = self.factory.guard_for(context.schema)
        rules = strawberry_rules(tuple(context.validation_rules))
        options = context.parse_options
        if rules == guard.validation_rules and not options:
            return None
        verdict = guard.check(
            self.execution.query,
            self.execution.variables,
            self.execution.operation_name,
            context=context.context,
            principal=self.execution.principal,
            document_only=True,  # authorization and variables were checked already
            validation_rules=rules,
            parser_options=options,
        )
        if verdict.accepted:
            return None
        if verdict.errors[0].code is ErrorCode.GRAPHQL_PARSE_FAILED:
            return []
        expose = self.factory.config.expose_limits
        return [error.to_graphql_error(expose_limits=expose) for error in verdict.errors]


class _EnforcingCheckedExtension(_FieldHook, _CheckedExtension):
    """As :class:`_CheckedExtension`, for the requests that need enforcing while resolving:
    denied fields kept from resolving (and reported once), object rules applied."""

    def on_execute(self) -> Iterator[None]:
        yield from _around_execution(self.execution_context, self.enforcement)


class _GuardedOperation(_FieldHook, SchemaExtension):
    """One operation under Strawberry's own views, with synchronous hooks (so
    ``execute_sync`` works): the request stages that need no I/O, then the check."""

    def __init__(self, factory: GuardExtension) -> None:
        super().__init__()
        self.factory = factory
        self.verdict: Verdict | None = None
        self.enforcement: Enforcement | None = None
        self.lookup: Lookup | None = None
        self.principal = Principal.anonymous()
        self.policy_request = PolicyRequest()
        self.policies: PolicyEvaluation | None = None
        self.caller: Caller | None = None  # None until a request is found in the context
        self.refusal: list[GraphQLError] | None = None
        self.held: Token[Principal | None] | None = None

    # -- the stages ------------------------------------------------------------------------

    def on_operation(self) -> Iterator[None]:
        token = _STRAWBERRY_FILTER.limit(self.factory.config.max_errors)
        try:
            self._admit_caller()
            self._refuse_persisted_query()
        except GuardRejection as rejected:
            self._refuse_request(rejected)
        yield None
        release_principal(self.held)
        _STRAWBERRY_FILTER.release(token)

    def on_parse(self) -> Iterator[None]:
        self._check()
        yield None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if self.refusal is not None:
            # Only reached when an extension after ours replaced the pre-execution errors
            # (Strawberry's ValidationCache does): the refusal stands, nothing runs.
            context.result = ExecutionResult(data=None, errors=list(self.refusal))
        yield from _around_execution(context, self.enforcement, self._mask)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # Subscription events and incremental payloads, as every streaming transport sends
        # them: masked like a single result (with the objects a rule removed reported).
        enforcement = self.enforcement
        if enforcement is not None and enforcement.adds_errors:
            # Denial placeholders become their coded errors; removed objects are reported.
            result.errors = enforcement.errors(getattr(result, "errors", None)) or None
        _mask_payload(result, self._mask)
        yield None

    def get_results(self) -> dict[str, Any]:
        verdict = self.verdict
        guard = self.factory._guard
        if verdict is None or guard is None or not verdict.accepted:
            return {}
        result = getattr(self.execution_context, "result", None)
        results = result_extensions(verdict, guard, getattr(result, "data", None))
        throttle = getattr(self, "throttle", None)
        if throttle is not None and isinstance(results.get("cost"), dict):
            results["cost"]["throttleStatus"] = throttle  # as the pipeline reports it
        return results

    # -- request stages ----------------------------------------------------------------------

    def _admit_caller(self) -> Caller | None:
        """CSRF prevention (or, for a WebSocket, the Origin allow-list) and authentication,
        for the request in Strawberry's context (None: no request, e.g. ``schema.execute``
        called directly)."""
        factory = self.factory
        context = self.execution_context.context
        request = request_in(context)
        principal = self._principal_in(context)
        if request is None:
            self.principal = principal or Principal.anonymous()
            self.held = hold_principal(self.principal)
            return None
        self.policy_request = PolicyRequest(request.headers, None)
        pipeline = factory.view_pipeline(self.execution_context.schema)
        caller = self.caller = pipeline.caller(request)
        handshake = is_handshake(request)
        if handshake:
            factory.origins.refuse_cross_site(request.headers)
        else:
            factory.transport.refuse_cross_site(request)
        if principal is None:
            principal = _principal_from_credentials(factory.tokens, context, request)
        caller.principal = self.principal = principal
        self.held = hold_principal(principal)  # for principal_of(info), at every door
        if not handshake and isinstance(context, MutableMapping) and "principal" not in context:
            # Resolvers read it where create_app's pipeline puts it: context["principal"] —
            # an HTTP request's own context only: a WebSocket's is the connection's, and a
            # principal put there would outlive its token (and a re-init) for every later
            # operation.
            context["principal"] = principal
        self.policy_request = caller.policy_request
        if not handshake:  # a WebSocket's operations are requests of their own
            self._share_with_batch(request.native, caller)
        return caller

    def _share_with_batch(self, native: Any, caller: Caller) -> None:
        """Strawberry's batching: the request's operations share one policy evaluation, and
        past ``max_batch`` operations the rest are refused (those before it already run:
        Strawberry starts them together)."""
        shared = self.factory.requests.of(native)
        shared.count += 1
        limit = self.factory.config.max_batch
        if limit is not None and shared.count > limit:
            raise GuardRejection(
                GuardError(
                    ErrorCode.BATCH_LIMIT_EXCEEDED,
                    "Too many operations in one batch.",
                    measured=shared.count,
                    limit=limit,
                )
            )
        guard = self.factory.guard_for(self.execution_context.schema)
        if shared.policies is None:
            shared.policies = guard.policies.evaluation(self.principal, self.policy_request)
        caller.policies = self.policies = shared.policies

    def _principal_in(self, context: Any) -> Principal | None:
        try:
            found = self.factory.principal_of(context)
        except Exception:  # a failing hook fails closed, as the pipeline's does
            security_event(
                "principal_hook_failed", [ErrorCode.UNAUTHENTICATED.value], facts_of(context)
            )
            raise AuthenticationError from None
        return found if isinstance(found, Principal) else None

    def _refuse_persisted_query(self) -> None:
        # persisted_mode="off": an APQ client sending only a hash must hear "not supported"
        # (as Apollo Server answers) to fall back to sending its query — not Strawberry's
        # 400 "No GraphQL query found", which makes it give up.
        context = self.execution_context
        extensions = context.operation_extensions
        if (
            context.query is None
            and isinstance(extensions, dict)
            and extensions.get("persistedQuery")
        ):
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED)

    def _refuse_request(self, rejected: GuardRejection, *, logged: bool = False) -> None:
        """The request refused as a whole: its status and headers on Strawberry's response,
        one security event (unless the stage that refused ``logged`` it), and Strawberry's
        pre-execution error."""
        context = self.execution_context.context
        if rejected.status != 200 and not logged:  # an APQ miss is the protocol
            caller = self.caller
            facts = caller.facts() if caller is not None else facts_of(context)
            security_event("rejected", [rejected.error.code.value], facts)
        answer_with(context, rejected.status, rejected.headers)
        self._refuse([rejected.error.to_graphql_error(expose_limits=self._expose_limits)])

    @property
    def _expose_limits(self) -> bool:
        return self.factory.config.expose_limits

    # -- the check ---------------------------------------------------------------------------

    def _check(self) -> None:
        if self.refusal is not None:
            return
        context = self.execution_context
        guard = self.factory.guard_for(context.schema)
        verdict = self.verdict
        if verdict is None:
            policies = self.policies or guard.policies.evaluation(
                self.principal, self.policy_request
            )

            def checked() -> Verdict:
                return guard.check(
                    context.query or "",
                    context.variables,
                    context.operation_name,
                    context=context.context,
                    principal=self.principal,
                    document_id=self.lookup.document_id if self.lookup is not None else None,
                    validation_rules=strawberry_rules(tuple(context.validation_rules)),
                    parser_options=context.parse_options,
                    policies=policies,
                    facts=self.caller.facts() if self.caller is not None else None,
                )

            verdict = checked()
            if verdict.pending_policies:
                # A sync view (an async one awaits them, in _PipelineOperation): async
                # policies run on the helper loop while this thread waits.
                self.factory.helper.run(policies.resolve(verdict.pending_policies))
                verdict = checked()
            self.verdict = verdict
        self._apply(guard, verdict)

    def _apply(self, guard: Guard, verdict: Verdict) -> None:
        context = self.execution_context
        if verdict.document is None and self._answered_by_strawberry(verdict):
            return
        if not verdict.accepted:
            if verdict.errors[0].code is ErrorCode.BAD_REQUEST:
                answer_with(context.context, 400, {})  # a request error, as Strawberry answers
            if verdict.document is not None:
                context.graphql_document = verdict.document
            self._refuse(verdict.graphql_errors())
            return
        self.enforcement = Enforcement(guard, verdict, self.principal, self.policy_request)
        analysis = verdict.analysis
        if (
            self.enforcement.nothing_left
            and analysis is not None
            and analysis.operation_type == "subscription"
        ):
            # Every root field denied: refused before its source starts (Strawberry's
            # subscribe would run the source generator and null each event).
            context.graphql_document = verdict.document
            refusal, self.enforcement = self.enforcement.errors([]), None
            self._refuse(refusal)
            return
        context.graphql_document = verdict.document
        # An empty list tells Strawberry validation already ran, with its rules.
        context.pre_execution_errors = []

    def _answered_by_strawberry(self, verdict: Verdict) -> bool:
        """Syntax errors are left to Strawberry, word for word: graphql-core's parser refused
        the text, and Strawberry parses the same text with the same parser and options (it
        passed the pre-parse limits, so that parse is bounded), so nothing can run. Every
        other refusal is answered here — the choice of the operation included: Strawberry
        runs the first operation of a multi-operation document sent without a name, which
        the guard never checked."""
        return verdict.errors[0].code is ErrorCode.GRAPHQL_PARSE_FAILED

    def _refuse(self, errors: list[GraphQLError]) -> None:
        """Answer ``errors`` through Strawberry's own path for pre-execution errors: with
        them set, Strawberry neither parses nor validates nor executes, and reports them."""
        context = self.execution_context
        if context.graphql_document is None:
            context.graphql_document = _nothing_selected(
                context.operation_name, getattr(context, "allowed_operations", None)
            )
        context.pre_execution_errors = errors
        self.refusal = errors

    def _mask(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        request_id = self.caller.request_id if self.caller is not None else None
        return mask_execution_errors(
            errors,
            self.factory.config,
            request_id or request_id_in(self.execution_context.context),
            # Strawberry's process_errors logs every error once already.
            log_resolver_errors=False,
        )


class _PipelineStages(_GuardedOperation):
    """Under Strawberry's own views with persisted queries or a cost budget on: the same
    stages plus the persisted lookup and the budget (charge before execution, refund after).
    The stages are coroutines (the stores may be Redis); the two subclasses run them from
    asynchronous hooks (async views) or on the helper loop (sync views)."""

    bucket: BucketState | None = None
    sent_query: str | None = None  # the text the request carried (None: a hash only)
    throttle: dict[str, Any] | None = None  # throttleStatus, once refunded
    caller_for_check: Caller | None = None

    def _admit_caller_first(self) -> GuardRejection | None:
        """The request's own stages, on the hook's thread (a sync view's thread: its
        framework's request, ORM and principal hook stay where they belong)."""
        self.sent_query = self.execution_context.query
        try:
            self._admit_caller()
        except GuardRejection as rejected:
            return rejected
        return None

    async def _admit_request(self, rejected: GuardRejection | None) -> None:
        """The request's store stages: the spent-client refusal, the persisted lookup."""
        context = self.execution_context
        pipeline = self.factory.view_pipeline(context.schema)
        try:
            if rejected is not None:
                raise rejected
            caller = self.caller
            if caller is not None and pipeline.budget is not None:
                await pipeline.budget.refuse_spent(caller.budget_key)
            lookup = await pipeline.lookup(self._envelope(), context.context)
            if isinstance(lookup, PersistedQueryError):
                raise lookup
            self.lookup = lookup
            context.query = lookup.query
        except GuardRejection as refused:
            from_lookup = isinstance(refused, PersistedQueryError)  # Pipeline.lookup logged it
            if self.caller is not None and not from_lookup:
                await pipeline.refused(self.caller, refused)
            self._refuse_request(refused, logged=from_lookup)

    async def _refund(self) -> None:
        context = self.execution_context
        pipeline = self.factory.view_pipeline(context.schema)
        caller, bucket, verdict = self.caller, self.bucket, self.verdict
        if caller is not None and bucket is not None and verdict is not None:
            estimated = pipeline.estimated(verdict)
            actual = pipeline.actual_cost(verdict, context.result)
            headers, available = await pipeline.refund(caller, bucket, estimated, actual)
            headers[COUNTED_HEADER] = pipeline.counted(verdict) or ""
            answer_with(context.context, None, headers)
            self.throttle = pipeline.throttle_status(bucket, available, verdict)

    @property
    def _admitting(self) -> Caller:
        if self.caller is None:  # no request (schema.execute called directly): one caller
            self.caller_for_check = self.caller_for_check or Caller(
                GuardRequest("POST", {}), "direct", "local", self.principal
            )
            return self.caller_for_check
        return self.caller

    def _admitting_policies(self) -> PolicyEvaluation:
        policies = self._admitting.policies
        assert policies is not None  # check_now made it
        return policies

    def _check_operation(self) -> Verdict | None:
        """The check, on the hook's thread (None: the request is refused, or nothing was
        looked up); its verdict may wait for ``async`` policies."""
        context = self.execution_context
        lookup = self.lookup
        if self.refusal is not None or lookup is None:
            return None
        pipeline = self.factory.view_pipeline(context.schema)
        self.verdict = pipeline.check_now(
            self._admitting,
            lookup,
            self._envelope(),
            context.context,
            validation_rules=strawberry_rules(tuple(context.validation_rules)),
            parser_options=context.parse_options,
        )
        return self.verdict

    async def _settle(self, verdict: Verdict) -> None:
        """The verdict's store stages: APQ registration, the budget's charge."""
        context = self.execution_context
        pipeline = self.factory.view_pipeline(context.schema)
        lookup = self.lookup
        assert lookup is not None
        miss = pipeline.hidden_miss({"query": self.sent_query}, verdict)
        if miss is not None:
            self._refuse_request(miss)
            return
        try:
            if self.caller is not None:
                self.bucket = await pipeline.settle_admission(self.caller, [(lookup, verdict)])
            elif verdict.accepted:
                await pipeline.persisted.register(lookup)
        except GuardRejection as rejected:
            self._refuse_request(rejected)

    def _finish(self, verdict: Verdict) -> None:
        if self.refusal is None:
            context = self.execution_context
            pipeline = self.factory.view_pipeline(context.schema)
            self._apply(pipeline.guard or self.factory.guard_for(context.schema), verdict)

    def _envelope(self) -> dict[str, Any]:
        context = self.execution_context
        return {
            "query": context.query,
            "variables": context.variables,
            "operation_name": context.operation_name,
            "extensions": context.operation_extensions,
            "document_id": None,
        }


class _PipelineOperation(_PipelineStages):
    """The stages from asynchronous hooks (``schema.execute``/``subscribe``, as every async
    view runs)."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        token = _STRAWBERRY_FILTER.limit(self.factory.config.max_errors)
        await self._admit_request(self._admit_caller_first())
        yield None
        await self._refund()
        release_principal(self.held)
        _STRAWBERRY_FILTER.release(token)

    async def on_parse(self) -> AsyncIterator[None]:  # type: ignore[override]
        verdict = self._check_operation()
        if verdict is not None and verdict.pending_policies:
            await self._admitting_policies().resolve(verdict.pending_policies)
            verdict = self._check_operation()
        if verdict is not None:
            await self._settle(verdict)
            self._finish(verdict)
        yield None


class _SyncPipelineOperation(_PipelineStages):
    """The stages from synchronous hooks (``schema.execute_sync``: Django's and Flask's sync
    views): the request's own stages and the check on the view's thread; only what waits on
    a store (or an ``async`` policy) runs on the extension's helper loop, the thread waiting."""

    def on_operation(self) -> Iterator[None]:
        token = _STRAWBERRY_FILTER.limit(self.factory.config.max_errors)
        rejected = self._admit_caller_first()
        self.factory.helper.run(self._admit_request(rejected))
        yield None
        self.factory.helper.run(self._refund())
        release_principal(self.held)
        _STRAWBERRY_FILTER.release(token)

    def on_parse(self) -> Iterator[None]:
        verdict = self._check_operation()
        if verdict is not None and verdict.pending_policies:
            self.factory.helper.run(self._admitting_policies().resolve(verdict.pending_policies))
            verdict = self._check_operation()
        if verdict is not None:
            self.factory.helper.run(self._settle(verdict))
            self._finish(verdict)
        yield None


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _principal_from_credentials(
    tokens: JWTAuthenticator, context: Any, request: GuardRequest
) -> Principal:
    """The bearer JWT (an unusable one is UNAUTHENTICATED, never anonymous) — read only
    when a key source is configured: otherwise the credentials are the app's own."""
    if not tokens.configured:
        return Principal.anonymous()
    return tokens.principal(bearer_credentials(context, request))


def _nothing_selected(operation_name: Any, allowed: Any = None) -> DocumentNode:
    """A document for a refusal that came before any document: Strawberry reads an
    operation (by name) from it to find the operation's type, and nothing else. The name is
    the one sent, whatever its type: Strawberry finds the operation by equality. The type is
    one the transport allows (a query where it can be; graphql-ws carries subscriptions
    only), so Strawberry reports the refusal instead of refusing the type."""
    kinds = {getattr(kind, "value", kind) for kind in allowed or ()}
    kind = next(
        (
            OperationType(name)
            for name in ("query", "mutation", "subscription")
            if not kinds or name in kinds
        ),
        OperationType.QUERY,
    )
    operation = OperationDefinitionNode(
        operation=kind,
        name=NameNode(value=operation_name) if operation_name is not None else None,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=()),
    )
    return DocumentNode(definitions=(operation,))


def _completed(result: Any) -> tuple[Any, ...]:
    return tuple(getattr(result, "completed", None) or ())


def _mask_result(result: Any, mask: Callable[[list[GraphQLError]], list[GraphQLError]]) -> None:
    errors = getattr(result, "errors", None)
    if errors:
        result.errors = mask(list(errors)) or None


def _mask_payload(result: Any, mask: Callable[[list[GraphQLError]], list[GraphQLError]]) -> None:
    """One streamed payload (a subscription event, an incremental one) masked: its own
    errors, its incremental parts' and its completed entries'."""
    _mask_result(result, mask)
    for part in (*(getattr(result, "incremental", None) or ()), *_completed(result)):
        _mask_result(part, mask)


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
    initial = getattr(result, "initial_result", None)  # incremental delivery
    target = initial if initial is not None else result
    errors = list(getattr(target, "errors", None) or ())
    if enforcement is not None and enforcement.adds_errors:
        errors = enforcement.errors(errors)
        target.errors = errors or None
    if errors and mask is not None:
        target.errors = mask(errors) or None


async def _executed_by_the_view(execution: Execution) -> Any:  # pragma: no cover
    raise RuntimeError("under Strawberry's own views, Strawberry executes")
