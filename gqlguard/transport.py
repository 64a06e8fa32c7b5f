"""The transport stage, the cheapest checks, framework-free: a :class:`GuardRequest` is read
into GraphQL envelopes or refused with one coded error.

CSRF prevention, method, media type, the body cap while reading, strict UTF-8 JSON, the
envelope's shape, the batch cap. :class:`gqlguard.http.Pipeline` runs it first;
:class:`gqlguard.asgi.TransportGuard` puts it in front of another framework's GraphQL view.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .config import GuardConfig
from .csrf import CsrfPrevention
from .errors import ErrorCode, GuardError, GuardRejection
from .events import security_event

__all__ = [
    "GRAPHQL_RESPONSE",
    "JSON",
    "SECURITY_HEADERS",
    "GuardRequest",
    "GuardResponse",
    "Transport",
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
ALL_OPERATIONS = frozenset({"query", "mutation", "subscription"})
# What one JSON answer can serve: a subscription needs a stream (WebSocket, SSE, multipart).
ANSWERED_OPERATIONS = frozenset({"query", "mutation"})
MULTIPART = "multipart/form-data"  # the GraphQL multipart request spec (file uploads)
BodyStream = Callable[[], AsyncIterator[bytes]]


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


class Transport:
    """The transport stage for one configuration."""

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
        raw = await self.read_capped(request)
        try:
            payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_json_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _bad_request("The body is not valid UTF-8 JSON.") from None
        return payload, ANSWERED_OPERATIONS, raw

    def decoded(self, request: GuardRequest, payload: Any) -> tuple[Any, frozenset[str]]:
        """:meth:`read` for a body the framework decoded itself (a GraphQL multipart
        upload, whose files it parsed): the method's rule and the body cap still hold."""
        method = request.method.upper()
        if method not in ("GET", "POST"):
            raise GuardRejection(
                GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Use GET or POST."),
                {"Allow": "GET, POST"},
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_body_bytes:
            raise GuardRejection(
                GuardError(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    "The body is too large.",
                    limit=self.config.max_body_bytes,
                )
            )
        return payload, frozenset({"query"}) if method == "GET" else ANSWERED_OPERATIONS

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

    async def read_capped(self, request: GuardRequest) -> bytes:
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
    if not rejected.logged:
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


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")
