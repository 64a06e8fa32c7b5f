"""The request pipeline, framework-free: a :class:`GuardRequest` in, a :class:`GuardResponse`
out, every stage in order and written once.

    CSRF -> authentication -> spent client -> transport (method, media type, body cap, JSON,
    envelope, batch cap) -> per operation: context, persisted lookup, Guard.check (pre-parse
    limits, analysis, limits, validation, authorization), running batch cost -> budget charge
    -> execution (injected) -> actual cost -> refund, headers, security event

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

import contextlib
import inspect
import json
import logging
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from . import telemetry
from .analysis import plain_number
from .authorization import Principal
from .budget import BucketState, BudgetStore, BudgetUnavailable, MemoryBudget, RedisBudget
from .config import GuardConfig
from .csrf import CsrfPrevention
from .errors import LIMIT_CODES, ErrorCode, GuardError, GuardRejection
from .events import facts_of, security_event
from .execution import Enforcement, Execute, Execution, result_extensions
from .guard import Guard, Verdict
from .masking import mask_execution_errors
from .persisted import NO_CACHE_HEADERS, Lookup, PersistedQueries, PersistedQueryError
from .tokens import JWTAuthenticator

__all__ = [
    "GRAPHQL_RESPONSE",
    "GuardRequest",
    "GuardResponse",
    "Pipeline",
    "Transport",
    "protections_summary",
    "rejection_response",
    "request_id_of",
]

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_ALL_OPERATIONS = frozenset({"query", "mutation", "subscription"})
_DRAINED_CLIENTS = 10_000
# Refusals that are not the client's fault. A budget refusal is charged like any other: a
# client flooding requests its bucket cannot pay drains it, and is then refused before its
# body is read instead of being checked in full every time.
_NOT_CHARGED = frozenset({ErrorCode.INTERNAL_SERVER_ERROR})
_log = logging.getLogger("gqlguard.execution")

BodyStream = Callable[[], AsyncIterator[bytes]]
# Hooks receive the framework's own request (``GuardRequest.native``), or the GuardRequest.
Authenticate = Callable[[Any], Awaitable[Principal | None] | Principal | None]
ContextGetter = Callable[[Any], Awaitable[dict[str, Any]] | dict[str, Any]]


@dataclass(frozen=True, slots=True)
class GuardRequest:
    """One HTTP request as the pipeline needs it.

    ``headers`` is a case-insensitive mapping or one with lower-case names. ``body`` is the
    whole body, or a callable returning an async iterator of chunks — read only after the
    cheaper checks pass, and never beyond ``max_body_bytes``. ``client`` is the peer address;
    ``native`` is the framework's request object, handed to the hooks.
    """

    method: str
    headers: Mapping[str, str]
    query_string: str = ""
    body: bytes | BodyStream = b""
    client: str | None = None
    native: Any = None


@dataclass(frozen=True, slots=True)
class GuardResponse:
    """Status, headers and a JSON body (``content()`` serialises it)."""

    status: int
    headers: dict[str, str]
    body: Any
    media_type: str = JSON

    def content(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


@dataclass(slots=True)
class _Operation:
    """One element of a request (the request itself, or one element of a batch)."""

    envelope: dict[str, Any]
    context: dict[str, Any]
    lookup: Lookup | PersistedQueryError
    verdict: Verdict | None = None
    body: dict[str, Any] = field(default_factory=dict)
    request_error: bool = False
    actual: float = 0.0  # the cost to keep: the budget refunds the estimate minus this


@dataclass(slots=True)
class _Caller:
    """What the pipeline knows of the caller once the cheap checks have run."""

    request: GuardRequest
    request_id: str
    client: str
    principal: Principal | None = None

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


class Transport:
    """The transport stage, the cheapest checks, on their own: CSRF prevention, method, media
    type, the body cap while reading, strict UTF-8 JSON, the envelope's shape, the batch cap.
    The :class:`Pipeline` runs it first; :class:`gqlguard.asgi.TransportGuard` puts it in front
    of another framework's GraphQL view."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.csrf = CsrfPrevention(config.csrf_required_headers) if config.csrf_prevention else None

    def refuse_cross_site(self, request: GuardRequest) -> None:
        if self.csrf is not None:  # before anything else reads the request
            refused = self.csrf.violation(request.headers)
            if refused is not None:
                raise GuardRejection(refused)

    async def read(self, request: GuardRequest) -> tuple[Any, frozenset[str], bytes]:
        """The decoded payload, the operation types the method allows, the raw body."""
        method = request.method.upper()
        if method == "GET":
            return self._from_query_string(request), frozenset({"query"}), b""
        if method != "POST":
            raise GuardRejection(
                GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Use GET or POST."),
                {"Allow": "GET, POST"},
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise GuardRejection(
                GuardError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send application/json.")
            )
        raw = await self._read_capped(request)
        try:
            payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_json_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _bad_request("The body is not valid UTF-8 JSON.") from None
        return payload, _ALL_OPERATIONS, raw

    def envelopes(self, payload: Any) -> list[dict[str, Any]]:
        """Each operation's envelope (one, or a batch's), shape-checked; the batch cap."""
        if isinstance(payload, list):
            if not self.config.batching:
                raise _bad_request("Batching is disabled.")
            if self.config.max_batch is not None and len(payload) > self.config.max_batch:
                raise GuardRejection(
                    GuardError(
                        ErrorCode.BATCH_LIMIT_EXCEEDED,
                        "Too many operations in one batch.",
                        measured=len(payload),
                        limit=self.config.max_batch,
                    )
                )
            if not payload:
                raise _bad_request("The batch is empty.")
            return [_envelope(item) for item in payload]
        return [_envelope(payload)]

    async def _read_capped(self, request: GuardRequest) -> bytes:
        cap = self.config.max_body_bytes
        too_large = GuardRejection(
            GuardError(ErrorCode.PAYLOAD_TOO_LARGE, "The body is too large.", limit=cap)
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise too_large
        if isinstance(request.body, bytes):
            if len(request.body) > cap:
                raise too_large
            return request.body
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.body():
            size += len(chunk)
            if size > cap:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _from_query_string(self, request: GuardRequest) -> dict[str, Any]:
        if len(request.query_string) > self.config.max_body_bytes:
            raise GuardRejection(
                GuardError(ErrorCode.PAYLOAD_TOO_LARGE, "The query string is too large.")
            )
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        payload: dict[str, Any] = {"query": params.get("query")}
        for key in ("operationName", "documentId"):
            if key in params:
                payload[key] = params[key]
        for key in ("variables", "extensions"):
            if key in params:
                try:
                    payload[key] = json.loads(params[key], parse_constant=_reject_json_constant)
                except (ValueError, RecursionError):
                    raise _bad_request(f"The {key} parameter is not valid JSON.") from None
        return payload


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
    ) -> None:
        if guard is not None and config is not None and config != guard.config:
            # Two configurations would mean two sets of limits, two persisted stores: one
            # of them silently ignored. Refuse to start instead.
            raise ValueError(
                "the GuardConfig differs from the guard's (the schema's GuardExtension "
                "config): pass the same object, or omit it to use the guard's"
            )
        self.guard = guard
        self.config = guard.config if guard is not None else config or GuardConfig()
        self.execute = execute
        self.authenticate = authenticate
        self.context_getter = context_getter
        self.budget = budget if budget is not None else _budget(self.config)
        self.persisted = persisted if persisted is not None else PersistedQueries(self.config)
        self.transport = Transport(self.config)
        self.tokens = JWTAuthenticator(self.config)
        # Clients seen draining their bucket (bounded): only these are looked up before their
        # body is read when the budget lives in a shared store.
        self._drained: OrderedDict[str, None] = OrderedDict()
        logging.getLogger("gqlguard").info(
            "gqlguard: %s", protections_summary(self.config, guarded=guard is not None)
        )

    # -- the pipeline --------------------------------------------------------------------

    async def handle(self, request: GuardRequest) -> GuardResponse:
        """Answer one request; never raises for anything the client sent."""
        request_id = request_id_of(request)
        caller = _Caller(request, request_id, self._client(request))
        wants_graphql_response = GRAPHQL_RESPONSE in request.headers.get("accept", "")
        try:
            self.transport.refuse_cross_site(request)
            caller.principal = await self._principal(caller)
            await self._refuse_spent_client(caller)  # before the body is even read
            payload, allowed, _ = await self.transport.read(request)
            body, status, headers = await self._operations(
                caller, payload, allowed, wants_graphql_response
            )
        except GuardRejection as rejected:
            if rejected.error.code not in _NOT_CHARGED:
                await self._charge_rejection(caller)
            return rejection_response(rejected, self.config, request, caller.facts())
        return GuardResponse(
            status,
            {**SECURITY_HEADERS, **headers, "X-Request-ID": request_id},
            body,
            GRAPHQL_RESPONSE if wants_graphql_response else JSON,
        )

    # -- transport -----------------------------------------------------------------------

    async def _principal(self, caller: _Caller) -> Principal:
        if self.authenticate is None:
            # An unusable credential raises AuthenticationError: a GuardRejection (401) with
            # its WWW-Authenticate header.
            return self.tokens.principal(caller.request.headers.get("authorization"))
        found: object
        try:
            found = self.authenticate(caller.hook_argument)
            if inspect.isawaitable(found):
                found = await found
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
        caller: _Caller,
        payload: Any,
        allowed: frozenset[str],
        wants_graphql_response: bool,
    ) -> tuple[Any, int, dict[str, str]]:
        batch = isinstance(payload, list)
        envelopes = self.transport.envelopes(payload)
        operations: list[_Operation] = []
        spent = (0.0, 0.0)
        for envelope in envelopes:
            context = await self._context(caller)
            operation = _Operation(envelope, context, await self._lookup(envelope, context))
            if isinstance(operation.lookup, Lookup):
                operation.verdict = self._check(operation, caller, allowed, spent)
                verdict = operation.verdict
                if batch and verdict is not None:
                    over = [e for e in verdict.errors if e.code in LIMIT_CODES]
                    if over:
                        # The batch's verdict is known: no later element is even parsed.
                        await self._charge_rejection(caller)
                        raise GuardRejection(over[0])
                    if verdict.analysis is not None:
                        analysis = verdict.analysis
                        spent = (spent[0] + analysis.field_cost, spent[1] + analysis.type_cost)
            operations.append(operation)
        for operation in operations:
            verdict = operation.verdict
            if isinstance(operation.lookup, Lookup) and (verdict is None or verdict.accepted):
                await self.persisted.register(operation.lookup)  # only now: it passed
            elif verdict is not None:
                await self._charge_rejection(caller)
        estimated = sum(_estimated(operation.verdict) for operation in operations)
        bucket = await self._charge(caller, estimated) if estimated > 0 else None
        for operation in operations:
            await self._run(operation, caller, allowed)
        refused = [o.lookup for o in operations if isinstance(o.lookup, PersistedQueryError)]
        headers: dict[str, str] = dict(NO_CACHE_HEADERS) if refused else {}
        if bucket is not None:
            key, state = bucket
            actual = sum(operation.actual for operation in operations)
            await self.budget.refund(key, estimated - actual)  # type: ignore[union-attr]
            available = min(state.capacity, state.available + max(0.0, estimated - actual))
            telemetry.record_budget(available)
            headers.update(_rate_limit_headers(state, available))
            for operation in operations:
                cost = operation.body.get("extensions", {}).get("cost")
                if isinstance(cost, dict):
                    cost["throttleStatus"] = {
                        "maximumAvailable": plain_number(state.capacity),
                        "currentlyAvailable": plain_number(round(available, 3)),
                        "restoreRate": plain_number(state.restore_rate),
                    }
        if batch:
            return [operation.body for operation in operations], 200, headers
        only = operations[0]
        if refused:
            return only.body, refused[0].status, headers
        if self._shared_cacheable(caller.request, only):
            headers["Cache-Control"] = self.config.persisted_get_cache_control or "no-store"
        status = 400 if (only.request_error and wants_graphql_response) else 200
        return only.body, status, headers

    async def _lookup(
        self, envelope: dict[str, Any], context: dict[str, Any]
    ) -> Lookup | PersistedQueryError:
        try:
            return await self.persisted.lookup(
                envelope["query"], envelope["extensions"], envelope["document_id"], context=context
            )
        except PersistedQueryError as refused:
            if refused.status != 200:  # misses are the APQ protocol, not security events
                security_event("rejected", [refused.error.code.value], facts_of(context))
            return refused

    def _check(
        self,
        operation: _Operation,
        caller: _Caller,
        allowed: frozenset[str],
        spent: tuple[float, float],
    ) -> Verdict | None:
        lookup = operation.lookup
        if self.guard is None or not isinstance(lookup, Lookup):
            return None
        envelope = operation.envelope
        verdict = self.guard.check(
            lookup.query,
            envelope["variables"],
            envelope["operation_name"],
            context=operation.context,
            principal=caller.principal,
            document_id=lookup.document_id,
            spent=spent,
        )
        analysis = verdict.analysis
        if analysis is not None and analysis.operation_type not in allowed:
            raise _mutation_needs_post()
        return verdict

    async def _run(self, operation: _Operation, caller: _Caller, allowed: frozenset[str]) -> None:
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
        principal = caller.principal or Principal.anonymous()
        analysis = verdict.analysis if verdict is not None else None
        execution = Execution(
            document=verdict.document if verdict is not None else None,
            verdict=verdict,
            query=lookup.query,
            variables=operation.envelope["variables"],
            operation_name=(
                analysis.operation_name
                if analysis is not None
                else operation.envelope["operation_name"]
            ),
            context=operation.context,
            principal=principal,
            allowed_operations=allowed,
            enforcement=Enforcement(guard, verdict, principal) if guard is not None else None,
        )
        try:
            result = await self.execute(execution)
        except GuardRejection:
            raise
        except Exception:  # the executor (or a user's hook in it) failed: never a 5xx
            _log.exception("execution failed (request %s)", caller.request_id)
            raise GuardRejection(
                GuardError(ErrorCode.INTERNAL_SERVER_ERROR, "Unexpected error.")
            ) from None
        body: dict[str, Any] = {}
        if result.errors:
            errors = mask_execution_errors(result.errors, self.config, caller.request_id)
            body["errors"] = [error.formatted for error in errors]
        body["data"] = result.data
        extensions = dict(result.extensions or {})
        if guard is not None:
            extensions.update(result_extensions(verdict, guard, result.data))
        if extensions:
            body["extensions"] = extensions
        operation.body = body
        operation.request_error = result.data is None and bool(result.errors)
        if self.budget is not None and guard is not None and analysis is not None:
            operation.actual = _actual_cost(guard, verdict, result)
            telemetry.record_actual_cost(analysis.field_cost, operation.actual)

    def _shared_cacheable(self, request: GuardRequest, operation: _Operation) -> bool:
        """A GET that named a persisted query by its hash, sent no credentials and got no
        error: the only response a shared cache (a CDN) may keep, and only when the operator
        opts in with ``persisted_get_cache_control`` (a mutation never comes by GET)."""
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

    async def _context(self, caller: _Caller) -> dict[str, Any]:
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

    # -- budget --------------------------------------------------------------------------

    async def _refuse_spent_client(self, caller: _Caller) -> None:
        """A client whose bucket is empty (less than one point) is refused before its
        documents are even parsed: once a flood of hostile documents has drained it, each
        further request costs the server one bucket lookup."""
        if self.budget is None or not self.config.budget_rejection_charge:
            return
        key = caller.budget_key
        if not isinstance(self.budget, MemoryBudget) and key not in self._drained:
            # A shared store costs a round trip: it is only asked about clients this process
            # saw drain their bucket (every charge still enforces the budget exactly).
            return
        try:
            state = await self.budget.charge(key, 0.0)
        except BudgetUnavailable:
            return  # _charge applies budget_on_store_error
        if state.available >= 1.0:
            self._drained.pop(key, None)
            return
        wait = BucketState(
            False, state.available, state.capacity, state.restore_rate, 1.0 - state.available
        )
        raise GuardRejection(
            GuardError(
                ErrorCode.RATE_LIMITED,
                "The cost budget is spent; retry later.",
                limit=plain_number(round(state.available, 3)),
            ),
            {"Retry-After": str(wait.retry_after)},
        )

    async def _charge_rejection(self, caller: _Caller) -> None:
        """A rejected request draws ``budget_rejection_charge`` points: hostile floods are
        throttled like expensive ones. Best effort: the rejection stands either way."""
        if self.budget is None or not self.config.budget_rejection_charge:
            return
        key = caller.budget_key
        with contextlib.suppress(BudgetUnavailable):
            # Drains what is left when the bucket cannot pay the whole charge, so a flood
            # empties it and is then refused before parsing (_refuse_spent_client).
            left = (await self.budget.charge(key, 0.0)).available
            charge = min(self.config.budget_rejection_charge, left)
            await self.budget.charge(key, charge)
            if left - charge < 1.0:
                self._drained[key] = None
                while len(self._drained) > _DRAINED_CLIENTS:
                    self._drained.popitem(last=False)

    async def _charge(self, caller: _Caller, estimated: float) -> tuple[str, BucketState] | None:
        if self.budget is None:
            return None
        key = caller.budget_key
        try:
            state = await self.budget.charge(key, estimated)
        except BudgetUnavailable:
            if self.config.budget_on_store_error == "open":
                return None
            raise GuardRejection(
                GuardError(ErrorCode.RATE_LIMITED, "Rate limiting is unavailable; retry later."),
                {"Retry-After": "1"},
            ) from None
        if not state.allowed:
            raise GuardRejection(
                GuardError(
                    ErrorCode.RATE_LIMITED,
                    "The cost budget is spent; retry later.",
                    measured=plain_number(estimated),
                    limit=plain_number(round(state.available, 3)),
                ),
                {
                    "Retry-After": str(state.retry_after),
                    **_rate_limit_headers(state, state.available),
                },
            )
        return key, state

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


def request_id_of(request: GuardRequest) -> str:
    """The client's ``X-Request-ID`` when it is a plain token, else a new one."""
    request_id = request.headers.get("x-request-id", "")
    return request_id if _REQUEST_ID.match(request_id) else uuid.uuid4().hex


def rejection_response(
    rejected: GuardRejection,
    config: GuardConfig,
    request: GuardRequest,
    facts: dict[str, Any],
) -> GuardResponse:
    """A request refused as a whole: one coded error, its status and headers, one security
    event."""
    error = rejected.error
    security_event(
        "rejected",
        [error.code.value],
        facts,
        measured={error.code.value: error.measured} if error.measured is not None else {},
    )
    wants_graphql_response = GRAPHQL_RESPONSE in request.headers.get("accept", "")
    return GuardResponse(
        rejected.status,
        {**SECURITY_HEADERS, **rejected.headers, "X-Request-ID": facts["request_id"]},
        {"errors": [error.formatted(expose_limits=config.expose_limits)]},
        GRAPHQL_RESPONSE if wants_graphql_response else JSON,
    )


_FAILED = object()


def _actual_cost(guard: Guard, verdict: Verdict | None, result: Any) -> float:
    """The work that ran, measured from the result data, never from the response body
    (which ``report_cost=false`` empties). When anything failed, null bubbling or a failed
    resolver hides work that did run: then nothing is refunded."""
    analysis = verdict.analysis if verdict is not None else None
    if analysis is None or verdict is None or verdict.document is None:
        return 0.0
    if result.errors or result.data is None:
        return analysis.field_cost
    actual = guard.actual_cost(verdict.document, analysis.operation_name, result.data)
    return min(actual, analysis.field_cost)


def _envelope(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _bad_request("The body must be a JSON object.")
    query = payload.get("query")
    variables = payload.get("variables")
    operation_name = payload.get("operationName")
    extensions = payload.get("extensions")
    if query is not None and not isinstance(query, str):
        raise _bad_request("`query` must be a string.")
    if variables is not None and not isinstance(variables, dict):
        raise _bad_request("`variables` must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad_request("`operationName` must be a string.")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad_request("`extensions` must be an object.")
    return {
        "query": query,
        "variables": variables,
        "operation_name": operation_name,
        "extensions": extensions,
        # Checked by the persisted-query stage, which also requires `query` without it.
        "document_id": payload.get("documentId"),
    }


def _bad_request(message: str) -> GuardRejection:
    return GuardRejection(GuardError(ErrorCode.BAD_REQUEST, message))


def _mutation_needs_post() -> GuardRejection:
    return GuardRejection(
        GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Mutations need POST."), {"Allow": "POST"}
    )


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")


def _estimated(verdict: Verdict | None) -> float:
    if verdict is None or not verdict.accepted or verdict.analysis is None:
        return 0.0
    return verdict.analysis.field_cost


def _rate_limit_headers(state: BucketState, available: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(plain_number(state.capacity)),
        "X-RateLimit-Remaining": str(max(0, math.floor(available))),
        "X-RateLimit-Reset": str(
            math.ceil((state.capacity - available) / state.restore_rate)
            if state.restore_rate and available < state.capacity
            else 0
        ),
    }


def _budget(config: GuardConfig) -> BudgetStore | None:
    if config.budget_capacity is None:
        return None
    if config.budget_store == "redis":
        return RedisBudget(
            config.redis_url,
            config.budget_capacity,
            config.budget_restore_rate,
            prefix=config.budget_key_prefix,
        )
    return MemoryBudget(config.budget_capacity, config.budget_restore_rate)


def _or_off(value: float | None) -> str:
    return "off" if value is None else str(plain_number(value))


def protections_summary(config: GuardConfig, *, guarded: bool = True) -> str:
    """One line saying which protections are on, logged when a pipeline starts."""
    if not guarded:
        return "transport only: the schema has no GuardExtension, no limit is enforced"
    limits = " ".join(
        f"{name.removeprefix('max_')}={_or_off(getattr(config, name))}"
        for name in (
            "max_depth",
            "max_aliases",
            "max_directives",
            "max_fields",
            "max_tokens",
            "max_characters",
            "max_cost",
            "max_batch",
        )
    )
    budget = (
        f"{plain_number(config.budget_capacity)}@{plain_number(config.budget_restore_rate)}/s"
        f" ({config.budget_store})"
        if config.budget_capacity is not None
        else "off"
    )
    jwt = "on" if (config.jwt_secret or config.jwt_public_key or config.jwt_jwks_url) else "off"
    return (
        f"mode={config.mode} {limits} cost_on={config.cost_limit_applies_to} "
        f"introspection={config.introspection} mask_errors={config.mask_errors} "
        f"csrf={'on' if config.csrf_prevention else 'off'} persisted={config.persisted_mode} "
        f"budget={budget} jwt={jwt} authorization={config.authorization_mode}"
    )
