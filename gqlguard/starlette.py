"""Starlette adapter: the transport stage in front of a guarded Strawberry schema.

The transport stage is the cheapest check and runs first: method, content type (CSRF-safe:
no form posts), a body cap enforced while reading, strict UTF-8 and JSON, the envelope's
shape, and the batch cap. A rejected request is one JSON object with a stable
``extensions.code``, never a traceback and never a 5xx. What passes goes to
``schema.execute``, where :class:`gqlguard.strawberry.GuardExtension` runs the analysis.

Responses follow GraphQL-over-HTTP: ``application/graphql-response+json`` clients get 400 for
request errors, ``application/json`` clients get 200 with ``errors``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import specified_rules

from .extras import missing

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route
    from strawberry.exceptions import MissingQueryError
    from strawberry.http.ides import get_graphql_ide_html
    from strawberry.schema.exceptions import (
        CannotGetOperationTypeError,
        InvalidOperationTypeError,
    )
    from strawberry.types.graphql import OperationType
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("starlette", "gqlguard.starlette") from error

from . import telemetry
from .analysis import plain_number
from .authorization import Principal
from .budget import BucketState, BudgetStore, BudgetUnavailable, MemoryBudget, RedisBudget
from .config import GuardConfig
from .csrf import CsrfPrevention
from .errors import LIMIT_CODES, ErrorCode, GuardError, GuardRejection
from .events import facts_of, security_event
from .guard import Guard, Verdict
from .masking import mask_execution_errors
from .persisted import NO_CACHE_HEADERS, Lookup, PersistedQueries, PersistedQueryError
from .strawberry import VERDICT_KEY, GuardExtension
from .tokens import JWTAuthenticator

__all__ = ["GraphQLEndpoint", "create_app", "protections_summary"]


GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# The IDE page loads GraphiQL from unpkg and runs inline scripts; nothing else.
IDE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
        "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data:; "
        "font-src https://unpkg.com; connect-src 'self'; frame-ancestors 'none'"
    )
}
ContextGetter = Callable[[Request], Awaitable[dict[str, Any]] | dict[str, Any]]
Authenticate = Callable[[Request], Awaitable[Principal] | Principal]


def _bad_request(message: str) -> GuardRejection:
    return GuardRejection(GuardError(ErrorCode.BAD_REQUEST, message))


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")


class GraphQLEndpoint:
    """An ASGI endpoint serving one guarded Strawberry schema."""

    def __init__(
        self,
        schema: Any,
        config: GuardConfig | None = None,
        *,
        context_getter: ContextGetter | None = None,
        authenticate: Authenticate | None = None,
        budget: BudgetStore | None = None,
        persisted: PersistedQueries | None = None,
    ) -> None:
        self.schema = schema
        extension = next(
            (e for e in getattr(schema, "extensions", ()) if isinstance(e, GuardExtension)), None
        )
        if extension is not None and config is not None and config != extension.config:
            # Two configurations would mean two sets of limits, two persisted stores: one
            # of them silently ignored. Refuse to start instead.
            raise ValueError(
                "create_app() got a GuardConfig that differs from the schema's GuardExtension "
                "config: pass the same object (or omit it to use the extension's)"
            )
        if config is None:
            config = extension.config if extension is not None else GuardConfig()
        self.config = config
        self.context_getter = context_getter
        self.authenticate = authenticate
        self.tokens = JWTAuthenticator(self.config)
        self.budget: BudgetStore | None = budget if budget is not None else _budget(self.config)
        if persisted is None and extension is not None and extension.persisted is not None:
            persisted = extension.persisted  # one manifest, one store connection per app
        self.persisted = persisted if persisted is not None else PersistedQueries(self.config)
        self._guard_instance: Guard | None = None
        # Clients seen draining their bucket (bounded): only these are looked up before their
        # body is read when the budget lives in a shared store.
        self._drained: OrderedDict[str, None] = OrderedDict()
        self.csrf = (
            CsrfPrevention(self.config.csrf_required_headers)
            if self.config.csrf_prevention
            else None
        )
        logging.getLogger("gqlguard").info(
            "gqlguard: %s", protections_summary(self.config, guarded=extension is not None)
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        request_id = request.headers.get("x-request-id", "")
        if not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        request.state.request_id = request_id
        wants_graphql_response = GRAPHQL_RESPONSE in request.headers.get("accept", "")
        if self._wants_ide(request):
            return HTMLResponse(
                get_graphql_ide_html(),
                headers={**SECURITY_HEADERS, **IDE_HEADERS, "X-Request-ID": request_id},
            )
        try:
            if self.csrf is not None:  # before anything else reads the request
                refused = self.csrf.violation(request.headers)
                if refused is not None:
                    raise GuardRejection(refused)
            request.state.principal = await self._principal(request)
            await self._refuse_spent_client(request)  # before the body is even read
            payload, allowed = await self._read(request)
            body, status, headers = await self._execute(
                request, payload, allowed, wants_graphql_response
            )
        except GuardRejection as rejected:
            if rejected.error.code not in _NOT_CHARGED:
                await self._charge_rejection(request)
            body = {"errors": [rejected.error.formatted(expose_limits=self.config.expose_limits)]}
            status = rejected.status
            headers = rejected.headers
            error = rejected.error
            security_event(
                "rejected",
                [error.code.value],
                self._facts(request),
                measured={error.code.value: error.measured} if error.measured is not None else {},
            )
        media_type = GRAPHQL_RESPONSE if wants_graphql_response else JSON
        return Response(
            json.dumps(body, separators=(",", ":")),
            status_code=status,
            media_type=media_type,
            headers={**SECURITY_HEADERS, **headers, "X-Request-ID": request_id},
        )

    def _wants_ide(self, request: Request) -> bool:
        # Only in development (graphiql=True), only for a browser asking for a page.
        return (
            self.config.graphiql
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    # -- transport ----------------------------------------------------------------------

    async def _principal(self, request: Request) -> Principal:
        if self.authenticate is not None:
            failed = False
            principal: Any = None
            try:
                principal = self.authenticate(request)
                if principal is not None and not isinstance(principal, Principal):
                    principal = await principal
            except Exception:  # the user's hook failed: no identity, and never a 500
                security_event(
                    "authenticate_hook_failed",
                    [ErrorCode.UNAUTHENTICATED.value],
                    self._facts(request),
                )
                failed = True
            if principal is None and not failed:
                return Principal.anonymous()  # the hook found no credentials
            if failed or not isinstance(principal, Principal):
                raise GuardRejection(
                    GuardError(ErrorCode.UNAUTHENTICATED, "Invalid or expired credentials."),
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            return principal
        # An unusable credential raises AuthenticationError: a GuardRejection (401) with its
        # WWW-Authenticate header.
        return self.tokens.principal(request.headers.get("authorization"))

    async def _read(self, request: Request) -> tuple[Any, frozenset[OperationType]]:
        if request.method == "GET":
            return self._from_query_string(request), frozenset({OperationType.QUERY})
        if request.method != "POST":
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
            text = raw.decode("utf-8")
            payload = json.loads(text, parse_constant=_reject_json_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _bad_request("The body is not valid UTF-8 JSON.") from None
        return payload, frozenset(OperationType)

    async def _read_capped(self, request: Request) -> bytes:
        cap = self.config.max_body_bytes
        too_large = GuardRejection(
            GuardError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                "The body is too large.",
                limit=cap,
            )
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _from_query_string(self, request: Request) -> dict[str, Any]:
        params = request.query_params
        if len(str(request.url.query)) > self.config.max_body_bytes:
            raise GuardRejection(
                GuardError(ErrorCode.PAYLOAD_TOO_LARGE, "The query string is too large.")
            )
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

    # -- execution ----------------------------------------------------------------------

    async def _execute(
        self,
        request: Request,
        payload: Any,
        allowed: frozenset[OperationType],
        wants_graphql_response: bool,
    ) -> tuple[Any, int, dict[str, str]]:
        batch = isinstance(payload, list)
        if batch:
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
        envelopes = [self._envelope(item) for item in (payload if batch else [payload])]
        # Per element: its context, its persisted lookup (or refusal), the guard's verdict.
        items: list[tuple[dict[str, Any], Lookup | PersistedQueryError, Verdict | None]] = []
        spent = (0.0, 0.0)
        for envelope in envelopes:
            context = await self._context(request)
            lookup = await self._lookup(envelope, context)
            verdict = None
            if isinstance(lookup, Lookup):
                verdict = self._check(envelope, context, allowed, lookup.document_id, spent)
                if batch and verdict is not None:
                    over = [e for e in verdict.errors if e.code in LIMIT_CODES]
                    if over:
                        # The batch's verdict is known: no later element is even parsed.
                        await self._charge_rejection(request)
                        raise GuardRejection(over[0])
                    if verdict.analysis is not None:
                        analysis = verdict.analysis
                        spent = (spent[0] + analysis.field_cost, spent[1] + analysis.type_cost)
            items.append((context, lookup, verdict))
        for _, lookup, verdict in items:
            if isinstance(lookup, Lookup) and verdict is not None and verdict.accepted:
                await self.persisted.register(lookup)  # only now: it passed every check
        for _, _, verdict in items:
            if verdict is not None and not verdict.accepted:
                await self._charge_rejection(request)
        estimated = sum(_estimated(verdict) for _, _, verdict in items)
        bucket = await self._charge(request, estimated) if estimated > 0 else None
        results: list[tuple[dict[str, Any], bool, float]] = [
            await self._run(envelope, context, verdict, allowed)
            if isinstance(lookup, Lookup)
            else ({"errors": [lookup.error.formatted()]}, True, 0.0)
            for envelope, (context, lookup, verdict) in zip(envelopes, items, strict=True)
        ]
        refused = [lookup for _, lookup, _ in items if isinstance(lookup, PersistedQueryError)]
        headers: dict[str, str] = dict(NO_CACHE_HEADERS) if refused else {}
        if bucket is not None:
            key, state = bucket
            actual = sum(cost for _, _, cost in results)
            await self.budget.refund(key, estimated - actual)  # type: ignore[union-attr]
            available = min(state.capacity, state.available + max(0.0, estimated - actual))
            telemetry.record_budget(available)
            headers.update(_rate_limit_headers(state, available))
            for body, _, _ in results:
                cost = body.get("extensions", {}).get("cost")
                if isinstance(cost, dict):
                    cost["throttleStatus"] = {
                        "maximumAvailable": plain_number(state.capacity),
                        "currentlyAvailable": plain_number(round(available, 3)),
                        "restoreRate": plain_number(state.restore_rate),
                    }
        if batch:
            return [body for body, _, _ in results], 200, headers
        body, request_error, _ = results[0]
        if refused:
            return body, refused[0].status, headers
        if self._shared_cacheable(request, items[0][1], body):
            headers["Cache-Control"] = self.config.persisted_get_cache_control or "no-store"
        return body, 400 if (request_error and wants_graphql_response) else 200, headers

    def _shared_cacheable(
        self, request: Request, lookup: Lookup | PersistedQueryError, body: dict[str, Any]
    ) -> bool:
        """A GET that named a persisted query by its hash, sent no credentials and got no
        error: the only response a shared cache (a CDN) may keep, and only when the operator
        opts in with ``persisted_get_cache_control`` (a mutation never comes by GET)."""
        return (
            self.config.persisted_get_cache_control is not None
            and request.method == "GET"
            and isinstance(lookup, Lookup)
            and lookup.document_id is not None
            and not lookup.register
            and "errors" not in body
            and "authorization" not in request.headers
            and "cookie" not in request.headers
        )

    async def _lookup(
        self, envelope: dict[str, Any], context: dict[str, Any]
    ) -> Lookup | PersistedQueryError:
        try:
            lookup = await self.persisted.lookup(
                envelope["query"],
                envelope["extensions"],
                envelope["document_id"],
                context=context,
            )
        except PersistedQueryError as refused:
            if refused.status != 200:  # misses are the APQ protocol, not security events
                security_event("rejected", [refused.error.code.value], facts_of(context))
            return refused
        envelope["query"] = lookup.query
        return lookup

    def _check(
        self,
        envelope: dict[str, Any],
        context: dict[str, Any],
        allowed: frozenset[OperationType],
        document_id: str | None = None,
        spent: tuple[float, float] = (0.0, 0.0),
    ) -> Verdict | None:
        guard = self._guard()
        if guard is None:
            return None
        verdict = guard.check(
            envelope["query"],
            envelope["variables"],
            envelope["operation_name"],
            context=context,
            principal=context["principal"],
            document_id=document_id,
            spent=spent,
        )
        analysis = verdict.analysis
        if analysis is not None and OperationType(analysis.operation_type) not in allowed:
            raise GuardRejection(
                GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Mutations need POST."),
                {"Allow": "POST"},
            )
        context[VERDICT_KEY] = (envelope["query"], envelope["operation_name"], verdict)
        return verdict

    def _guard(self) -> Guard | None:
        if self._guard_instance is None:
            for extension in getattr(self.schema, "extensions", ()):
                if isinstance(extension, GuardExtension):
                    rules = tuple(specified_rules)  # what Strawberry validates with
                    self._guard_instance = extension.guard_for(self.schema, rules)
        return self._guard_instance

    async def _refuse_spent_client(self, request: Request) -> None:
        """A client whose bucket is empty (less than one point) is refused before its
        documents are even parsed: once a flood of hostile documents has drained it, each
        further request costs the server one bucket lookup."""
        if self.budget is None or not self.config.budget_rejection_charge:
            return
        key = self._budget_key(request)
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
        else:
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

    async def _charge_rejection(self, request: Request) -> None:
        """A rejected request draws ``budget_rejection_charge`` points: hostile floods are
        throttled like expensive ones. Best effort: the rejection stands either way."""
        if self.budget is None or not self.config.budget_rejection_charge:
            return
        key = self._budget_key(request)
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

    def _facts(self, request: Request) -> dict[str, Any]:
        principal = getattr(request.state, "principal", None)
        return {
            "request_id": getattr(request.state, "request_id", None),
            "principal": getattr(principal, "subject", None),
            "client": self._client(request),
        }

    def _budget_key(self, request: Request) -> str:
        principal = getattr(request.state, "principal", None)
        if isinstance(principal, Principal) and principal.authenticated:
            return f"sub:{principal.subject}"
        return f"ip:{self._client(request)}"

    async def _charge(self, request: Request, estimated: float) -> tuple[str, BucketState] | None:
        if self.budget is None:
            return None
        key = self._budget_key(request)
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

    def _client(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        trusted = self.config.trusted_proxies
        if peer not in trusted:
            return peer
        # The rightmost address a trusted proxy did not add is the client.
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",")]
        for address in reversed([part for part in forwarded if part]):
            if address not in trusted:
                return address
        return peer

    @staticmethod
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

    async def _context(self, request: Request) -> dict[str, Any]:
        context: dict[str, Any] = {
            "request": request,
            "request_id": request.state.request_id,
            "principal": request.state.principal,
            "client": self._client(request),
            "resolver_calls": 0,
        }
        if self.context_getter is not None:
            try:
                extra = self.context_getter(request)
                if not isinstance(extra, dict):
                    extra = await extra
            except Exception:  # the user's hook failed: nothing runs, and never a 500
                logging.getLogger("gqlguard.execution").exception(
                    "context_getter failed (request %s)", request.state.request_id
                )
                raise GuardRejection(
                    GuardError(ErrorCode.INTERNAL_SERVER_ERROR, "Unexpected error.")
                ) from None
            if not isinstance(extra, dict):
                raise GuardRejection(
                    GuardError(ErrorCode.INTERNAL_SERVER_ERROR, "Unexpected error.")
                )
            context.update(extra)
        return context

    async def _run(
        self,
        envelope: dict[str, Any],
        context: dict[str, Any],
        verdict: Verdict | None,
        allowed: frozenset[OperationType],
    ) -> tuple[dict[str, Any], bool, float]:
        """The response body, whether it is a request error, and the actual cost to keep
        (the budget refunds the estimate minus this)."""
        if verdict is not None and not verdict.accepted:
            # A request error: nothing executed, so no `data` entry (GraphQL-over-HTTP).
            return {"errors": verdict.formatted_errors()}, True, 0.0
        try:
            result = await self.schema.execute(
                envelope["query"],
                variable_values=envelope["variables"],
                context_value=context,
                operation_name=envelope["operation_name"],
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError:
            raise GuardRejection(
                GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Mutations need POST."),
                {"Allow": "POST"},
            ) from None
        except (MissingQueryError, CannotGetOperationTypeError):
            raise _bad_request("The operation could not be determined.") from None
        body: dict[str, Any] = {}
        if result.errors:
            errors = mask_execution_errors(result.errors, self.config, context["request_id"])
            body["errors"] = [error.formatted for error in errors]
        body["data"] = result.data
        if result.extensions:
            body["extensions"] = result.extensions
        actual = 0.0
        if self.budget is not None:  # the walk over the result is only needed for a refund
            actual = self._actual_cost(verdict, result)
            if verdict is not None and verdict.analysis is not None:
                telemetry.record_actual_cost(verdict.analysis.field_cost, actual)
        return body, result.data is None and bool(result.errors), actual

    def _actual_cost(self, verdict: Verdict | None, result: Any) -> float:
        """The work that ran, measured from the result data, never from the response body
        (which ``report_cost=false`` empties). When anything failed, null bubbling or a
        failed resolver hides work that did run: then nothing is refunded."""
        analysis = verdict.analysis if verdict is not None else None
        guard = self._guard()
        if analysis is None or verdict is None or verdict.document is None or guard is None:
            return 0.0
        if result.errors or result.data is None:
            return analysis.field_cost
        actual = guard.actual_cost(verdict.document, analysis.operation_name, result.data)
        return min(actual, analysis.field_cost)


_DRAINED_CLIENTS = 10_000
# Refusals that are not the client's fault. A budget refusal is charged like any other: a
# client flooding requests its bucket cannot pay drains it, and is then refused before its
# body is read instead of being checked in full every time.
_NOT_CHARGED = frozenset({ErrorCode.INTERNAL_SERVER_ERROR})


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


def _or_off(value: float | None) -> str:
    return "off" if value is None else str(plain_number(value))


def protections_summary(config: GuardConfig, *, guarded: bool = True) -> str:
    """One line saying which protections are on, logged when an app starts."""
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


def create_app(
    schema: Any,
    config: GuardConfig | None = None,
    *,
    path: str = "/graphql",
    context_getter: ContextGetter | None = None,
    authenticate: Authenticate | None = None,
) -> Starlette:
    """A Starlette app serving ``schema`` at ``path`` behind the transport stage.

    Principals come from ``Authorization: Bearer`` JWTs verified per ``config.jwt_*``, or
    from ``authenticate(request)`` when given (your own authentication).
    """
    endpoint = GraphQLEndpoint(
        schema, config, context_getter=context_getter, authenticate=authenticate
    )
    return Starlette(routes=[Route(path, endpoint)])
