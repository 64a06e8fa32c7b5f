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

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from .authorization import Principal
from .config import GuardConfig
from .errors import HTTP_STATUS, ErrorCode, GuardError
from .masking import mask_execution_errors
from .tokens import AuthenticationError, JWTAuthenticator

__all__ = ["GraphQLEndpoint", "create_app"]

log = logging.getLogger("gqlguard.transport")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
ContextGetter = Callable[[Request], Awaitable[dict[str, Any]] | dict[str, Any]]
Authenticate = Callable[[Request], Awaitable[Principal] | Principal]


class TransportError(Exception):
    def __init__(self, error: GuardError, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = dict(headers or {})


def _bad_request(message: str) -> TransportError:
    return TransportError(GuardError(ErrorCode.BAD_REQUEST, message))


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
    ) -> None:
        self.schema = schema
        self.config = config if config is not None else GuardConfig()
        self.context_getter = context_getter
        self.authenticate = authenticate
        self.tokens = JWTAuthenticator(self.config)

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
        try:
            request.state.principal = await self._principal(request)
            payload, allowed = await self._read(request)
            body, status = await self._execute(request, payload, allowed, wants_graphql_response)
            headers: dict[str, str] = {}
        except TransportError as rejected:
            body = {"errors": [rejected.error.formatted(expose_limits=self.config.expose_limits)]}
            status = HTTP_STATUS.get(rejected.error.code, 400)
            headers = rejected.headers
            event = {"event": "rejected", "code": rejected.error.code.value}
            log.warning(json.dumps({**event, "request_id": request_id}))
        media_type = GRAPHQL_RESPONSE if wants_graphql_response else JSON
        return Response(
            json.dumps(body, separators=(",", ":")),
            status_code=status,
            media_type=media_type,
            headers={**SECURITY_HEADERS, **headers, "X-Request-ID": request_id},
        )

    # -- transport ----------------------------------------------------------------------

    async def _principal(self, request: Request) -> Principal:
        if self.authenticate is not None:
            principal = self.authenticate(request)
            if not isinstance(principal, Principal):
                principal = await principal
            return principal
        try:
            return self.tokens.principal(request.headers.get("authorization"))
        except AuthenticationError as failed:
            raise TransportError(
                failed.error, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None

    async def _read(self, request: Request) -> tuple[Any, frozenset[OperationType]]:
        if request.method == "GET":
            return self._from_query_string(request), frozenset({OperationType.QUERY})
        if request.method != "POST":
            raise TransportError(
                GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Use GET or POST."),
                {"Allow": "GET, POST"},
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise TransportError(
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
        too_large = TransportError(
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
            raise TransportError(
                GuardError(ErrorCode.PAYLOAD_TOO_LARGE, "The query string is too large.")
            )
        payload: dict[str, Any] = {"query": params.get("query")}
        if "operationName" in params:
            payload["operationName"] = params["operationName"]
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
    ) -> tuple[Any, int]:
        if isinstance(payload, list):
            if not self.config.batching:
                raise _bad_request("Batching is disabled.")
            if self.config.max_batch is not None and len(payload) > self.config.max_batch:
                raise TransportError(
                    GuardError(
                        ErrorCode.BATCH_LIMIT_EXCEEDED,
                        "Too many operations in one batch.",
                        measured=len(payload),
                        limit=self.config.max_batch,
                    )
                )
            if not payload:
                raise _bad_request("The batch is empty.")
            envelopes = [self._envelope(item) for item in payload]
            results = [await self._run(request, envelope, allowed) for envelope in envelopes]
            return [body for body, _ in results], 200
        body, request_error = await self._run(request, self._envelope(payload), allowed)
        return body, 400 if (request_error and wants_graphql_response) else 200

    @staticmethod
    def _envelope(payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _bad_request("The body must be a JSON object.")
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        extensions = payload.get("extensions")
        if not isinstance(query, str):
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
        }

    async def _context(self, request: Request) -> dict[str, Any]:
        context: dict[str, Any] = {
            "request": request,
            "request_id": request.state.request_id,
            "principal": request.state.principal,
            "resolver_calls": 0,
        }
        if self.context_getter is not None:
            extra = self.context_getter(request)
            if not isinstance(extra, dict):
                extra = await extra
            context.update(extra)
        return context

    async def _run(
        self, request: Request, envelope: dict[str, Any], allowed: frozenset[OperationType]
    ) -> tuple[dict[str, Any], bool]:
        context = await self._context(request)
        try:
            result = await self.schema.execute(
                envelope["query"],
                variable_values=envelope["variables"],
                context_value=context,
                operation_name=envelope["operation_name"],
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError:
            raise TransportError(
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
        return body, result.data is None and bool(result.errors)


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
