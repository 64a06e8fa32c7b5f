"""The request pipeline, framework-free: a :class:`GuardRequest` in, a :class:`GuardResponse`
out, every stage in order and written once.

    CSRF -> authentication -> spent client -> transport (gqlguard.transport: method, media
    type, body cap, JSON, envelope, batch cap) -> per operation: context, persisted lookup,
    Guard.check (pre-parse limits, analysis, limits, validation, authorization), running
    batch cost -> budget charge -> execution (injected) -> actual cost -> refund, headers,
    security event

Adapters translate their framework's request into a :class:`GuardRequest` and the response
back (``gqlguard.starlette`` is one, a few lines long); execution is injected: an
:data:`~gqlguard.execution.Execute` callable receives an :class:`~gqlguard.execution.Execution`
(the verified document, the verdict, the principal, the context) and returns an
``ExecutionResult`` — :func:`~gqlguard.execution.graphql_core_executor` for any graphql-core
schema (Ariadne, Graphene), :func:`gqlguard.strawberry.strawberry_executor` for Strawberry.

Nothing passes through the GraphQL context or the response body: the verdict, the principal
and the actual cost are values this module holds. Every hook failure (``authenticate``,
``context_getter``, the executor itself) is answered with a code, never a 5xx.

Responses follow GraphQL-over-HTTP: ``application/graphql-response+json`` clients get 400 for
request errors, ``application/json`` clients get 200 with ``errors``; request errors carry no
``data``.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from graphql import ASTValidationRule

from . import telemetry
from .analysis import plain_number
from .authorization import Principal
from .budget import COUNTED_HEADER, BucketState, BudgetGate, BudgetStore, rate_limit_headers
from .config import ConfigError, GuardConfig, protections_summary
from .cpu_turns import CpuTurns
from .errors import LIMIT_CODES, ErrorCode, GuardError, GuardRejection
from .events import facts_of, security_event
from .execution import Enforcement, Execute, Execution, result_extensions
from .guard import Guard, Verdict
from .limits import budget_charge
from .masking import mask_execution_errors
from .offload import OffLoopChecks
from .persisted import NO_CACHE_HEADERS, Lookup, PersistedQueries, PersistedQueryError
from .policies import PolicyEvaluation, PolicyRequest
from .tokens import AuthenticationError, JWTAuthenticator
from .transport import (
    GRAPHQL_RESPONSE,
    JSON,
    SECURITY_HEADERS,
    GuardRequest,
    GuardResponse,
    Transport,
    rejection_response,
    request_id_of,
)

__all__ = [
    "Authenticate",
    "Caller",
    "ContextGetter",
    "GuardRequest",
    "GuardResponse",
    "Host",
    "Pipeline",
    "RunHere",
]

# Refusals that are not the client's fault. A budget refusal is charged like any other: a
# client flooding requests its bucket cannot pay drains it, and is then refused before its
# body is read instead of being checked in full every time.
_NOT_CHARGED = frozenset({ErrorCode.INTERNAL_SERVER_ERROR})
_log = logging.getLogger("gqlguard.execution")

# Hooks receive the framework's own request (``GuardRequest.native``), or the GuardRequest.
Authenticate = Callable[[Any], Awaitable[Principal | None] | Principal | None]
ContextGetter = Callable[[Any], Awaitable[dict[str, Any]] | dict[str, Any]]

T = TypeVar("T")


class RunHere(Protocol):
    """Runs a piece of the request's own work (a user's hook, the check, which calls the
    user's policies) where the framework wants it: a sync framework's request thread."""

    def __call__(self, work: Callable[[], T], /) -> Awaitable[T]: ...


async def _run_in_place(work: Callable[[], T]) -> T:
    return work()


def _on_the_loop(caller: Caller) -> bool:
    """Whether the request's own work runs on the event loop (not a sync door's thread)."""
    return caller.host is None or caller.host.run_here is _run_in_place


_NOT_READ = object()


@dataclass(frozen=True, slots=True)
class Host:
    """What a framework that owns part of the request hands to :meth:`Pipeline.handle`
    (Strawberry's views: their context, their execution, their decoded multipart body).

    ``execute`` replaces the pipeline's executor for this request. ``context`` is the
    framework's GraphQL context, shared by a batch's operations (None: the pipeline builds
    its own per operation); the principal is put in it as ``context["principal"]`` when it is
    a mapping without one. ``principal`` finds a principal the framework already knows (its
    context's), before the bearer token is read. ``payload`` is a body the framework has
    decoded itself (a GraphQL multipart upload's operations), else the pipeline reads the
    body. ``run_here`` runs the request's own work (hooks, the check with its policies) on
    the framework's thread when the pipeline runs elsewhere (sync views).
    """

    execute: Execute
    context: Any = None
    principal: Callable[[], Principal | None] | None = None
    payload: Any = _NOT_READ
    run_here: RunHere = _run_in_place
    # The framework's own rule for batches (Strawberry's batching_config): off, or a cap;
    # the stricter of it and the guard's config holds.
    batching: bool = True
    max_batch: int | None = None


@dataclass(slots=True)
class _Operation:
    """One element of a request (the request itself, or one element of a batch)."""

    envelope: dict[str, Any]
    context: Any
    lookup: Lookup | PersistedQueryError
    verdict: Verdict | None = None
    body: dict[str, Any] = field(default_factory=dict)
    request_error: bool = False
    actual: float = 0.0  # the cost to keep: the budget refunds the estimate minus this


@dataclass(slots=True)
class Caller:
    """Who is asking: the request, its id, the client address, the principal (once
    :meth:`Pipeline.admit_caller` has run)."""

    request: GuardRequest
    request_id: str
    client: str
    principal: Principal | None = None
    # The request's policy outcomes (each policy runs once per request, batch or not).
    policies: PolicyEvaluation | None = None
    host: Host | None = None  # the framework's part of this request, if it has one

    @property
    def policy_request(self) -> PolicyRequest:
        """What a policy reads of this request: the same at every door."""
        return PolicyRequest(self.request.headers, self.client)

    @property
    def hook_argument(self) -> Any:
        return self.request.native if self.request.native is not None else self.request

    def facts(self) -> dict[str, Any]:
        principal = self.principal
        return {
            "request_id": self.request_id,
            "principal": principal.subject if principal is not None else None,
            "client": self.client,
        }

    @property
    def budget_key(self) -> str:
        principal = self.principal
        if principal is not None and principal.authenticated:
            return f"sub:{principal.subject}"
        return f"ip:{self.client}"


def announce_protections(summary: str) -> None:
    """The startup line of protections: to the ``gqlguard`` logger at INFO when logging is
    configured anywhere on its path, else to standard error — an INFO record with no handler
    is dropped, and this line is what tells an operator which protections are on."""
    log = logging.getLogger("gqlguard")
    if log.hasHandlers():
        log.info("gqlguard: %s", summary)
    else:
        print(f"gqlguard: {summary}", file=sys.stderr, flush=True)


class Pipeline:
    """The whole request pipeline around one :class:`Guard` and one executor.

    ``guard=None`` is transport only (no limit, no validation: for a baseline, or a schema
    that has no guard yet); ``config`` then configures the transport. With a guard, its
    config is the pipeline's: a different ``config`` is a startup error.
    """

    def __init__(
        self,
        guard: Guard | None,
        execute: Execute,
        *,
        config: GuardConfig | None = None,
        authenticate: Authenticate | None = None,
        context_getter: ContextGetter | None = None,
        budget: BudgetStore | None = None,
        persisted: PersistedQueries | None = None,
        batching: tuple[bool, int | None] = (True, None),
    ) -> None:
        """``batching``: the framework's own batch rule (on, its cap), kept beside the
        guard's — as a :class:`Host` says it per request."""
        if guard is not None and config is not None and config != guard.config:
            # Two configurations would mean two sets of limits, two persisted stores: one
            # of them silently ignored. Refuse to start instead.
            raise ConfigError(
                "the GuardConfig differs from the guard's (the schema's GuardExtension "
                "config): pass the same object, or omit it to use the guard's"
            )
        self.guard = guard
        self.config = guard.config if guard is not None else config or GuardConfig()
        self.off_loop = OffLoopChecks()
        self.turns = CpuTurns()
        self.execute = execute
        self.batching = batching
        self.authenticate = authenticate
        self.context_getter = context_getter
        self.budget = BudgetGate.for_config(self.config, budget)
        self.persisted = persisted if persisted is not None else PersistedQueries(self.config)
        self.transport = Transport(self.config)
        self.tokens = JWTAuthenticator(self.config)
        announce_protections(protections_summary(self.config, guarded=guard is not None))

    # -- the pipeline --------------------------------------------------------------------

    async def handle(self, request: GuardRequest, host: Host | None = None) -> GuardResponse:
        """Answer one request; never raises for anything the client sent. ``host``: the
        parts a framework owns (see :class:`Host`); every stage stays here, in order."""
        caller = self.caller(request)
        caller.host = host
        wants_graphql_response = GRAPHQL_RESPONSE in request.headers.get("accept", "")
        try:
            await self.admit_caller(caller)
            if host is not None and host.payload is not _NOT_READ:
                payload, allowed = self.transport.decoded(request, host.payload)
            else:
                payload, allowed, _ = await self.transport.read(request)
            body, status, headers = await self._operations(
                caller, payload, allowed, wants_graphql_response
            )
        except GuardRejection as rejected:
            await self.refused(caller, rejected)
            return rejection_response(rejected, self.config, request, caller.facts())
        return GuardResponse(
            status,
            {**SECURITY_HEADERS, **headers, "X-Request-ID": caller.request_id},
            body,
            GRAPHQL_RESPONSE if wants_graphql_response else JSON,
        )

    async def screen(self, request: GuardRequest, host: Host | None = None) -> GuardResponse | None:
        """The request's own stages without its operations — CSRF prevention, the
        principal, a spent client, the transport (media type, body cap, strict JSON, the
        envelope, batch caps) — for a request whose operation the framework runs itself (a
        streamed subscription, checked by the schema's extension): the refusal, or None."""
        caller = self.caller(request)
        caller.host = host
        try:
            await self.admit_caller(caller)
            payload, _, _ = await self.transport.read(request)
            if isinstance(payload, list):
                rule = (host.batching, host.max_batch) if host is not None else self.batching
                refused_batch = _framework_batch_refusal(*rule, len(payload))
                if refused_batch is not None:
                    raise refused_batch
            self.transport.envelopes(payload)
        except GuardRejection as rejected:
            await self.refused(caller, rejected)
            return rejection_response(rejected, self.config, request, caller.facts())
        return None

    # -- the stages, for adapters whose framework reads the body and executes (Strawberry's
    # own views drive these from GuardExtension's hooks, in this same order) ----------------

    def caller(self, request: GuardRequest) -> Caller:
        return Caller(request, request_id_of(request), self._client(request))

    async def admit_caller(self, caller: Caller) -> None:
        """The request-level stages before any body is read: CSRF prevention, authentication,
        and the refusal of a client whose budget is spent. Raises :class:`GuardRejection`."""
        self.transport.refuse_cross_site(caller.request)
        await self.identify(caller)
        await self.refuse_spent(caller)

    async def identify(self, caller: Caller) -> None:
        """The caller's principal and its policy evaluation (a WebSocket connection's, from
        its ``connection_init``: the handshake has no CSRF rule to pass)."""
        caller.principal = await self._principal(caller)
        self.evaluate_policies(caller)

    async def refuse_spent(self, caller: Caller) -> None:
        """A client whose budget is spent is refused before anything else is read."""
        if self.budget is not None:
            await self.budget.refuse_spent(caller.budget_key)

    async def operation_context(self, caller: Caller) -> Any:
        """One operation's GraphQL context (the framework's, or one the pipeline builds)."""
        return await self._context_for(caller)

    async def admit(
        self,
        caller: Caller,
        envelope: dict[str, Any],
        context: Any,
        allowed: frozenset[str],
        spent: tuple[float, float] = (0.0, 0.0),
    ) -> tuple[Lookup | PersistedQueryError, Verdict | None]:
        """One operation's persisted lookup and check (what to run, and the verdict)."""
        lookup = await self.lookup(envelope, context)
        if not isinstance(lookup, Lookup) or self.guard is None:
            return lookup, None
        verdict = await self.check(caller, lookup, envelope, context, spent=spent, allowed=allowed)
        miss = self.hidden_miss(envelope, verdict)
        if miss is not None:
            return miss, None
        if verdict.errors and verdict.errors[0].code is ErrorCode.METHOD_NOT_ALLOWED:
            # The check logged it; a subscription is never served by a request/response
            # answer (a coded 400), a mutation needs POST (405).
            analysis = verdict.analysis
            if analysis is not None and analysis.operation_type == "subscription":
                raise GuardRejection(
                    GuardError(
                        ErrorCode.BAD_REQUEST,
                        "Subscriptions are served over WebSocket or a streamed response.",
                    ),
                    logged=True,
                )
            raise _mutation_needs_post(logged=True)
        return lookup, verdict

    @staticmethod
    def hidden_miss(envelope: dict[str, Any], verdict: Verdict) -> PersistedQueryError | None:
        """A request that sent only a hash, for a stored document naming what this principal
        may not know: a miss, as for a hash never stored — else the store would confirm
        another principal's documents (an APQ registration, a guessed text)."""
        if verdict.names_hidden and envelope.get("query") is None:
            return PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_FOUND)
        return None

    def evaluate_policies(self, caller: Caller) -> None:
        """The request's policy evaluation, for its principal (set once authenticated)."""
        if self.guard is not None:
            principal = caller.principal or Principal.anonymous()
            caller.policies = self.guard.policies.evaluation(principal, caller.policy_request)

    async def check(
        self,
        caller: Caller,
        lookup: Lookup,
        envelope: dict[str, Any],
        context: Any,
        *,
        spent: tuple[float, float] = (0.0, 0.0),
        allowed: frozenset[str] | None = None,
    ) -> Verdict:
        """The guard's check of one looked-up operation (the stage after the lookup);
        ``async`` policies the check needs are awaited here, once each, then it checks again
        (from the cache). A host with its own rules and parse options uses :meth:`check_now`."""
        client = caller.budget_key

        def checked() -> Verdict:
            return self.check_now(
                caller, lookup, envelope, context, spent=spent, operation_types=allowed
            )

        def in_a_turn(work: Callable[[], Verdict]) -> Awaitable[Verdict]:
            return self.turns.run(client, work)

        # On the loop, in a turn (gqlguard.cpu_turns); at a sync door, on the request's thread.
        host = caller.host
        run: Callable[[Callable[[], Verdict]], Awaitable[Verdict]] = (
            in_a_turn if _on_the_loop(caller) or host is None else host.run_here
        )
        if run is in_a_turn and self._long_and_unseen(lookup):
            verdict = await self.off_loop.run(client, checked, self.turns)
        else:
            verdict = await run(checked)
        if verdict.pending_policies and caller.policies is not None:
            await caller.policies.resolve(verdict.pending_policies)
            verdict = await run(checked)  # from the cache now
        return verdict

    def _long_and_unseen(self, lookup: Lookup) -> bool:
        """Whether this check may be long: a text over ``offload_characters`` the guard
        does not hold (gqlguard.offload)."""
        limit = self.config.offload_characters
        query = lookup.query
        return (
            limit is not None
            and self.guard is not None
            and isinstance(query, str)
            and len(query) > limit
            and not self.guard.knows(query, lookup.document_id)
        )

    def check_now(
        self,
        caller: Caller,
        lookup: Lookup,
        envelope: dict[str, Any],
        context: Any,
        *,
        spent: tuple[float, float] = (0.0, 0.0),
        validation_rules: Sequence[type[ASTValidationRule]] | None = None,
        parser_options: Mapping[str, Any] | None = None,
        operation_types: frozenset[str] | None = None,
    ) -> Verdict:
        """:meth:`check` without waiting: a verdict with ``pending_policies`` refuses until
        the caller runs them (``caller.policies.resolve``) and checks again (cached)."""
        assert self.guard is not None
        if caller.policies is None:
            self.evaluate_policies(caller)
        return self.guard.check(
            lookup.query,
            envelope["variables"],
            envelope["operation_name"],
            context=context,
            principal=caller.principal,
            document_id=lookup.document_id,
            spent=spent,
            validation_rules=validation_rules,
            parser_options=parser_options,
            policies=caller.policies,
            facts=caller.facts(),
            operation_types=operation_types,
        )

    async def settle_admission(
        self, caller: Caller, admitted: list[tuple[Lookup | PersistedQueryError, Verdict | None]]
    ) -> BucketState | None:
        """After every operation's check: accepted APQ registrations stored, rejections
        charged, the accepted operations' estimate charged (raises ``RATE_LIMITED``)."""
        for lookup, verdict in admitted:
            if isinstance(lookup, Lookup) and (verdict is None or verdict.accepted):
                if lookup.register:  # only now: it passed every check
                    await self.persisted.register(lookup)
            elif verdict is not None:
                await self._charge_rejection(caller)
        if self.budget is None:
            return None
        estimated = sum(self.estimated(verdict) for _, verdict in admitted)
        if estimated <= 0:
            return None
        return await self.budget.charge(caller.budget_key, estimated)

    async def refund(
        self, caller: Caller, bucket: BucketState, estimated: float, actual: float
    ) -> tuple[dict[str, str], float]:
        """The estimate minus the work that ran back to the bucket; the rate-limit headers
        and what is left."""
        assert self.budget is not None
        await self.budget.refund(caller.budget_key, estimated - actual)
        available = min(bucket.capacity, bucket.available + max(0.0, estimated - actual))
        telemetry.record_budget(available)
        return rate_limit_headers(bucket, available), available

    def actual_cost(self, verdict: Verdict | None, result: Any) -> float:
        """The cost to keep for one executed operation (see :func:`_actual_cost`)."""
        return _actual_cost(self.guard, verdict, result) if self.guard is not None else 0.0

    def estimated(self, verdict: Verdict | None) -> float:
        """What the budget charges for one accepted operation before it runs: what
        ``max_cost`` counts (see :func:`gqlguard.limits.budget_charge`)."""
        if verdict is None or not verdict.accepted or verdict.analysis is None:
            return 0.0
        analysis = verdict.analysis
        return budget_charge(analysis.field_cost, analysis.type_cost, self.config)[0]

    def throttle_status(
        self, bucket: BucketState, available: float, verdict: Verdict | None
    ) -> dict[str, Any]:
        """Where the client stands, in IBM's names (``extensions.cost.throttleStatus``)."""
        return {
            "maximumAvailable": plain_number(bucket.capacity),
            "currentlyAvailable": plain_number(round(available, 3)),
            "restoreRate": plain_number(bucket.restore_rate),
            "counted": self.counted(verdict),
        }

    def counted(self, verdict: Verdict | None) -> str | None:
        """Which cost the budget charged for one operation (``field_cost``/``type_cost``)."""
        if verdict is None or not verdict.accepted or verdict.analysis is None:
            return None
        analysis = verdict.analysis
        return budget_charge(analysis.field_cost, analysis.type_cost, self.config)[1]

    async def refused(self, caller: Caller, rejected: GuardRejection) -> None:
        """A request refused as a whole draws its rejection charge (unless not its fault)."""
        if rejected.error.code not in _NOT_CHARGED:
            await self._charge_rejection(caller)

    # -- transport -----------------------------------------------------------------------

    async def _principal(self, caller: Caller) -> Principal:
        host = caller.host
        if host is not None and host.principal is not None:
            # The framework's (its context's), read on its thread; a failing hook fails
            # closed, as the extension's does.
            try:
                known = await host.run_here(host.principal)
            except Exception:
                security_event(
                    "principal_hook_failed", [ErrorCode.UNAUTHENTICATED.value], caller.facts()
                )
                raise AuthenticationError from None
            if isinstance(known, Principal):
                return known
        if self.authenticate is None:
            if not self.tokens.configured:
                # No key source: the Authorization header is the app's (Basic, its own
                # tokens, read in its context getter), never refused here.
                return Principal.anonymous()
            # An unusable credential raises AuthenticationError: a GuardRejection (401) with
            # its WWW-Authenticate header.
            return self.tokens.principal(caller.request.headers.get("authorization"))
        found: object
        try:
            found = self.authenticate(caller.hook_argument)
            if inspect.isawaitable(found):
                found = await found
        except GuardRejection:  # the hook refused with a code of its own (a bad token)
            raise
        except Exception:  # the user's hook failed: no identity, and never a 500
            security_event(
                "authenticate_hook_failed", [ErrorCode.UNAUTHENTICATED.value], caller.facts()
            )
            found = _FAILED
        if found is None:
            return Principal.anonymous()  # the hook found no credentials
        if not isinstance(found, Principal):
            raise GuardRejection(
                GuardError(ErrorCode.UNAUTHENTICATED, "Invalid or expired credentials."),
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return found

    # -- operations ----------------------------------------------------------------------

    async def _operations(
        self,
        caller: Caller,
        payload: Any,
        allowed: frozenset[str],
        wants_graphql_response: bool,
    ) -> tuple[Any, int, dict[str, str]]:
        batch = isinstance(payload, list)
        host = caller.host
        if batch:
            rule = (host.batching, host.max_batch) if host is not None else self.batching
            refused_batch = _framework_batch_refusal(*rule, len(payload))
            if refused_batch is not None:
                raise refused_batch
        envelopes = self.transport.envelopes(payload)
        operations: list[_Operation] = []
        spent = (0.0, 0.0)
        for envelope in envelopes:
            context = await self._context_for(caller)
            lookup, verdict = await self.admit(caller, envelope, context, allowed, spent)
            operation = _Operation(envelope, context, lookup, verdict)
            if batch and verdict is not None:
                over = [e for e in verdict.errors if e.code in LIMIT_CODES]
                if over:
                    # The batch's verdict is known: no later element is even parsed (the
                    # refusal is charged once, where handle() answers it).
                    raise GuardRejection(over[0], logged=True)
                if verdict.analysis is not None:
                    analysis = verdict.analysis
                    spent = (spent[0] + analysis.field_cost, spent[1] + analysis.type_cost)
            operations.append(operation)
        bucket = await self.settle_admission(caller, [(o.lookup, o.verdict) for o in operations])
        for operation in operations:
            await self._run(operation, caller, allowed)
        refused = [o.lookup for o in operations if isinstance(o.lookup, PersistedQueryError)]
        headers: dict[str, str] = dict(NO_CACHE_HEADERS) if refused else {}
        if bucket is not None:
            state = bucket
            estimated = sum(self.estimated(operation.verdict) for operation in operations)
            actual = sum(operation.actual for operation in operations)
            limits, available = await self.refund(caller, state, estimated, actual)
            headers.update(limits)
            counted = [self.counted(operation.verdict) for operation in operations]
            headers[COUNTED_HEADER] = ", ".join(dict.fromkeys(c for c in counted if c))
            for operation in operations:
                cost = operation.body.get("extensions", {}).get("cost")
                if isinstance(cost, dict):
                    cost["throttleStatus"] = self.throttle_status(
                        state, available, operation.verdict
                    )
        if batch:
            return [operation.body for operation in operations], 200, headers
        only = operations[0]
        if refused:
            return only.body, refused[0].status, headers
        if self._shared_cacheable(caller, only):
            headers["Cache-Control"] = self.config.persisted_get_cache_control or "no-store"
        status = 400 if (only.request_error and wants_graphql_response) else 200
        return only.body, status, headers

    async def lookup(self, envelope: dict[str, Any], context: Any) -> Lookup | PersistedQueryError:
        """The persisted-query stage: the query to run, or the protocol's refusal."""
        try:
            return await self.persisted.lookup(
                envelope["query"], envelope["extensions"], envelope["document_id"], context=context
            )
        except PersistedQueryError as refused:
            if refused.status != 200:  # misses are the APQ protocol, not security events
                security_event("rejected", [refused.error.code.value], facts_of(context))
            return refused

    async def _run(self, operation: _Operation, caller: Caller, allowed: frozenset[str]) -> None:
        """Execute one operation (or answer its refusal) into ``operation.body``."""
        lookup, verdict = operation.lookup, operation.verdict
        if isinstance(lookup, PersistedQueryError):
            operation.body = {"errors": [lookup.error.formatted()]}
            operation.request_error = True
            return
        if verdict is not None and not verdict.accepted:
            # A request error: nothing executed, so no `data` entry (GraphQL-over-HTTP).
            operation.body = {"errors": verdict.formatted_errors()}
            operation.request_error = True
            return
        guard = self.guard
        analysis = verdict.analysis if verdict is not None else None
        execution = self.execution(
            caller, operation.envelope, operation.context, lookup, verdict, allowed
        )
        host = caller.host
        execute = host.execute if host is not None else self.execute
        try:
            running = execute(execution)
            if inspect.iscoroutine(running) and _on_the_loop(caller):
                # On the event loop: each step of the execution in a turn (gqlguard.cpu_turns).
                result = await self.turns.run_steps(caller.budget_key, running)
            else:
                result = await running
        except GuardRejection:
            raise
        except Exception:  # the executor (or a user's hook in it) failed: never a 5xx
            _log.exception("execution failed (request %s)", caller.request_id)
            raise GuardRejection(
                GuardError(ErrorCode.INTERNAL_SERVER_ERROR, "Unexpected error.")
            ) from None
        body, actual = self.answered(caller, verdict, result)
        operation.body = body
        operation.request_error = result.data is None and bool(result.errors)
        if self.budget is not None and guard is not None and analysis is not None:
            operation.actual = actual
            telemetry.record_actual_cost(analysis.field_cost, operation.actual)

    def answered(
        self, caller: Caller, verdict: Verdict | None, result: Any
    ) -> tuple[dict[str, Any], float]:
        """One executed result as the client receives it — errors masked, ``data``, the
        ``extensions`` gqlguard adds — and the cost to keep (see :func:`_actual_cost`)."""
        guard = self.guard
        analysis = verdict.analysis if verdict is not None else None
        body: dict[str, Any] = {}
        if result.errors:
            errors = mask_execution_errors(result.errors, self.config, caller.request_id)
            body["errors"] = [error.formatted for error in errors]
        body["data"] = result.data
        # The response-cost walk runs once, for what reads it: the reported cost, the refund.
        response_costs: tuple[float, float] | None = None
        if (
            guard is not None
            and verdict is not None
            and verdict.document is not None
            and analysis is not None
            and result.data is not None
            and (self.config.report_cost or (self.budget is not None and not result.errors))
        ):
            response_costs = guard.actual_costs(
                verdict.document, analysis.operation_name, result.data
            )
        extensions = dict(result.extensions or {})
        if guard is not None:
            reported = response_costs[0] if response_costs is not None else 0.0
            extensions.update(result_extensions(verdict, guard, result.data, reported))
        if extensions:
            body["extensions"] = extensions
        if guard is None or analysis is None or self.budget is None:
            return body, 0.0  # no budget: nothing to refund, no walk for it
        return body, _actual_cost(guard, verdict, result, response_costs)

    def execution(
        self,
        caller: Caller,
        envelope: dict[str, Any],
        context: Any,
        lookup: Lookup,
        verdict: Verdict | None,
        allowed: frozenset[str],
    ) -> Execution:
        """What the executor receives for one admitted operation."""
        guard = self.guard
        principal = caller.principal or Principal.anonymous()
        analysis = verdict.analysis if verdict is not None else None
        return Execution(
            document=verdict.document if verdict is not None else None,
            verdict=verdict,
            query=lookup.query,
            variables=envelope["variables"],
            operation_name=(
                analysis.operation_name if analysis is not None else envelope["operation_name"]
            ),
            context=context,
            principal=principal,
            allowed_operations=allowed,
            enforcement=(
                Enforcement(guard, verdict, principal, caller.policy_request)
                if guard is not None
                else None
            ),
            extensions=envelope["extensions"],
        )

    def _shared_cacheable(self, caller: Caller, operation: _Operation) -> bool:
        """A GET that named a persisted query by its hash, by an anonymous caller that sent
        no credentials and got no error: the only response a shared cache (a CDN) may keep,
        and only when the operator opts in with ``persisted_get_cache_control`` (a mutation
        never comes by GET). Anonymous by the principal, not only by the headers: an
        ``authenticate`` hook may read any header (an API key)."""
        request = caller.request
        principal = caller.principal
        if principal is not None and principal.authenticated:
            return False
        lookup = operation.lookup
        return (
            self.config.persisted_get_cache_control is not None
            and request.method.upper() == "GET"
            and isinstance(lookup, Lookup)
            and lookup.document_id is not None
            and not lookup.register
            and "errors" not in operation.body
            and "authorization" not in request.headers
            and "cookie" not in request.headers
        )

    async def _context_for(self, caller: Caller) -> Any:
        """The operation's GraphQL context: the framework's, or one of the pipeline's."""
        host = caller.host
        if host is None or host.context is None:
            return await self._context(caller)
        context = host.context
        if isinstance(context, MutableMapping) and "principal" not in context:
            # Resolvers read the principal where the pipeline puts it, at every door.
            context["principal"] = caller.principal
        return context

    async def _context(self, caller: Caller) -> dict[str, Any]:
        context: dict[str, Any] = {
            "request": caller.hook_argument,
            "request_id": caller.request_id,
            "principal": caller.principal,
            "client": caller.client,
            "resolver_calls": 0,
        }
        if self.context_getter is None:
            return context
        try:
            extra = self.context_getter(caller.hook_argument)
            if not isinstance(extra, dict):
                extra = await extra
        except Exception:  # the user's hook failed: nothing runs, and never a 500
            _log.exception("context_getter failed (request %s)", caller.request_id)
            extra = None
        if not isinstance(extra, dict):
            raise GuardRejection(GuardError(ErrorCode.INTERNAL_SERVER_ERROR, "Unexpected error."))
        # The hook adds to the context; what gqlguard put there (the principal above all) it
        # cannot replace.
        return {**extra, **context}

    async def _charge_rejection(self, caller: Caller) -> None:
        if self.budget is not None:
            await self.budget.charge_rejection(caller.budget_key)

    def _client(self, request: GuardRequest) -> str:
        peer = request.client or "unknown"
        trusted = self.config.trusted_proxies
        if peer not in trusted:
            return peer
        # The rightmost address a trusted proxy did not add is the client.
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",")]
        for address in reversed([part for part in forwarded if part]):
            if address not in trusted:
                return address
        return peer


_FAILED = object()


def _actual_cost(
    guard: Guard,
    verdict: Verdict | None,
    result: Any,
    response_costs: tuple[float, float] | None = None,
) -> float:
    """The work that ran, in the cost the budget charged, measured from the result data
    (``response_costs``, when the caller has already walked it), never from the response
    body (which ``report_cost=false`` empties). When anything failed, null bubbling or a
    failed resolver hides work that did run: then nothing is refunded."""
    analysis = verdict.analysis if verdict is not None else None
    if analysis is None or verdict is None or verdict.document is None:
        return 0.0
    config = guard.config
    estimated, counted = budget_charge(analysis.field_cost, analysis.type_cost, config)
    if result.errors or result.data is None:
        return estimated
    if response_costs is None:
        response_costs = guard.actual_costs(verdict.document, analysis.operation_name, result.data)
    actual = response_costs[0] if counted == "field_cost" else response_costs[1]
    return min(actual, estimated)


def _framework_batch_refusal(
    batching: bool, max_batch: int | None, size: int
) -> GuardRejection | None:
    """The framework's own batch rule: batching off, or its cap (never loosened by ours)."""
    if not batching:
        return GuardRejection(GuardError(ErrorCode.BAD_REQUEST, "Batching is disabled."))
    if max_batch is not None and size > max_batch:
        return GuardRejection(
            GuardError(
                ErrorCode.BATCH_LIMIT_EXCEEDED,
                "Too many operations in one batch.",
                measured=size,
                limit=max_batch,
            )
        )
    return None


def _mutation_needs_post(*, logged: bool = False) -> GuardRejection:
    return GuardRejection(
        GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Mutations need POST."),
        {"Allow": "POST"},
        logged=logged,
    )
