"""The transport stage in front of another framework's GraphQL view, as ASGI middleware.

Strawberry's own views (its ASGI app, FastAPI's ``GraphQLRouter``) and Ariadne's ASGI app
answer a malformed request in their own words — often ``text/plain`` with a 400, sometimes
a 500. Wrapped in :class:`TransportGuard`, a request reaches them only once gqlguard's
transport stage (:class:`gqlguard.transport.Transport`: CSRF prevention, method, media type, the
body cap while reading, strict UTF-8 JSON, the envelope's shape, the batch cap) has passed
it; what it refuses is one coded JSON error. And whatever the wrapped view still answers
with a 4xx or 5xx that is not JSON becomes a coded JSON error too: no text, no traceback.
A request error (nothing executed) loses the ``"data": null`` Strawberry's views give it.

    app = TransportGuard(strawberry.asgi.GraphQL(schema), config, path="/graphql")

The operation checks themselves come from ``GuardExtension`` (Strawberry) or the rules
(``gqlguard.rules``); for the cost budget and bearer JWTs, serve the schema with
``gqlguard.starlette.create_app`` (the whole pipeline) instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection
from .transport import (
    GRAPHQL_RESPONSE,
    MULTIPART,
    GuardRequest,
    GuardResponse,
    Transport,
    rejection_response,
    request_id_of,
)

__all__ = ["TransportGuard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TransportGuard:
    """ASGI middleware: gqlguard's transport stage before ``app`` (at ``path``, or every
    HTTP path when ``path`` is None)."""

    def __init__(
        self, app: ASGIApp, config: GuardConfig | None = None, *, path: str | None = None
    ) -> None:
        self.app = app
        self.config = config if config is not None else GuardConfig()
        self.transport = Transport(self.config)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.path is not None and scope["path"] != self.path):
            await self.app(scope, receive, send)
            return
        request = _request(scope, receive)
        if request.method.upper() == "OPTIONS" or _asks_for_a_page(request):
            # A CORS preflight (answered by the CORS layer inside, or refused by the view) and
            # an IDE page, if the view serves one: neither is a GraphQL request.
            await self.app(scope, receive, _coded_errors(send, request, self.config))
            return
        try:
            self.transport.refuse_cross_site(request)
            if _media_type(request) == MULTIPART:
                # A GraphQL multipart request (file uploads): capped and CSRF-checked here;
                # its operations are the view's to parse (it is the one to enable uploads).
                body = await self.transport.read_capped(request)
            else:
                payload, _, body = await self.transport.read(request)
                self.transport.envelopes(payload)
        except GuardRejection as rejected:
            await _send(rejection_response(rejected, self.config, request, _facts(request)), send)
            return
        await self.app(scope, _replay(body, receive), _coded_errors(send, request, self.config))


def _request(scope: Scope, receive: Receive) -> GuardRequest:
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }

    async def stream() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    client = scope.get("client")
    return GuardRequest(
        method=scope.get("method", "GET"),
        headers=headers,
        query_string=scope.get("query_string", b"").decode("latin-1"),
        body=stream,
        client=client[0] if client else None,
    )


def _facts(request: GuardRequest) -> dict[str, Any]:
    # The view authenticates later (or never): a refusal here has no principal to name.
    return {"request_id": request_id_of(request), "principal": None, "client": request.client}


def _asks_for_a_page(request: GuardRequest) -> bool:
    return (
        request.method.upper() == "GET"
        and "query=" not in request.query_string
        and "text/html" in request.headers.get("accept", "")
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body the transport stage already read, handed to the view as ASGI messages; then
    the connection's own messages (a streaming answer — SSE, a multipart subscription —
    waits for the client's real disconnect, not an invented one)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _media_type(request: GuardRequest) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _coded_errors(send: Send, request: GuardRequest, config: GuardConfig) -> Send:
    """``send`` for the wrapped view. An error answer that is not JSON is replaced by a coded
    JSON error (the view's text and any traceback never reach the client). A request error
    the view answers as ``{"data": null, "errors": [...]}`` (Strawberry's views do) loses its
    ``data`` entry and, for ``application/graphql-response+json`` clients, becomes a 400, as
    GraphQL-over-HTTP asks."""
    held: Message | None = None  # the response start, until the body's first bytes are seen
    buffered: list[bytes] | None = None  # a possible request error's body, until complete
    replaced = False

    async def guarded(message: Message) -> None:
        nonlocal held, buffered, replaced
        if replaced:
            return  # the replaced answer's body
        if message["type"] == "http.response.start":
            status = int(message["status"])
            content_type = _header(message, b"content-type")
            if status >= 400 and b"json" not in content_type:
                replaced = True
                code = ErrorCode.INTERNAL_SERVER_ERROR if status >= 500 else ErrorCode.BAD_REQUEST
                text = "Unexpected error." if status >= 500 else "Bad request."
                rejected = GuardRejection(GuardError(code, text))
                await _send(rejection_response(rejected, config, request, _facts(request)), send)
                return
            if status < 500 and b"json" in content_type:
                held = message  # a request error's `data: null` (a 401 and a 429 too) goes
                return
            await send(message)
            return
        if message["type"] != "http.response.body" or held is None:
            await send(message)
            return
        chunk = bytes(message.get("body", b""))
        if buffered is None:
            if not _MAYBE_REQUEST_ERROR.match(chunk):
                start, held = held, None
                await send(start)
                await send(message)
                return
            buffered = []
        buffered.append(chunk)
        size = sum(len(part) for part in buffered)
        if message.get("more_body", False) and size <= _MAX_REWRITTEN_BYTES:
            return
        start, held = held, None
        body, status = _without_null_data(b"".join(buffered), request, int(start["status"]))
        headers = [
            (name, value)
            for name, value in start.get("headers", ())
            if name.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        if message.get("more_body", False):
            replaced = True  # over the cap: the rest is dropped with the rewritten answer

    return guarded


_MAYBE_REQUEST_ERROR = re.compile(rb'^\s*\{\s*"data"\s*:\s*null\s*,\s*"errors"')
_MAX_REWRITTEN_BYTES = 256_000
# Codes an operation can also get while it executes: those answers keep their `data`.
_EXECUTION_CODES = frozenset(
    {ErrorCode.INTERNAL_SERVER_ERROR.value, ErrorCode.UNAUTHORIZED_FIELD_OR_TYPE.value}
)


def _without_null_data(body: bytes, request: GuardRequest, status: int) -> tuple[bytes, int]:
    try:
        answer = json.loads(body)
    except ValueError:
        return body, status
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not errors or answer.get("data") is not None or not isinstance(errors, list):
        return body, status
    codes = [
        (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        for error in errors
    ]
    if not all(code in _REQUEST_ERROR_CODES for code in codes):
        return body, status
    del answer["data"]
    if status == 200 and GRAPHQL_RESPONSE in request.headers.get("accept", ""):
        status = 400  # a 401 or a 429 keeps its status (clients re-authenticate, back off)
    return json.dumps(answer, separators=(",", ":")).encode("utf-8"), status


_REQUEST_ERROR_CODES = frozenset(code.value for code in ErrorCode) - _EXECUTION_CODES


def _header(message: Message, name: bytes) -> bytes:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return bytes(value).lower()
    return b""


async def _send(response: GuardResponse, send: Send) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-type", response.media_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.content()})
