"""The transport stage in front of another framework's GraphQL view, as ASGI middleware.

Strawberry's own views (its ASGI app, FastAPI's ``GraphQLRouter``) and Ariadne's ASGI app
answer a malformed request in their own words — often ``text/plain`` with a 400, sometimes
a 500. Wrapped in :class:`TransportGuard`, a request reaches them only once gqlguard's
transport stage (:class:`gqlguard.transport.Transport`: CSRF prevention, method, media type, the
body cap while reading, strict UTF-8 JSON, the envelope's shape, the batch cap) has passed
it; what it refuses is one coded JSON error. And whatever the wrapped view still answers
with a 4xx or 5xx that is not JSON becomes a coded JSON error too: no text, no traceback.

    app = TransportGuard(strawberry.asgi.GraphQL(schema), config, path="/graphql")

The operation checks themselves come from ``GuardExtension`` (Strawberry) or the rules
(``gqlguard.rules``); for the cost budget and bearer JWTs, serve the schema with
``gqlguard.starlette.create_app`` (the whole pipeline) instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection
from .transport import (
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
        if _asks_for_a_page(request):  # an IDE page, if the view serves one
            await self.app(scope, receive, _coded_errors(send, request, self.config))
            return
        try:
            self.transport.refuse_cross_site(request)
            payload, _, body = await self.transport.read(request)
            self.transport.envelopes(payload)
        except GuardRejection as rejected:
            facts = {"request_id": request_id_of(request), "principal": None}
            facts["client"] = request.client
            await _send(rejection_response(rejected, self.config, request, facts), send)
            return
        await self.app(scope, _replay(body), _coded_errors(send, request, self.config))


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


def _asks_for_a_page(request: GuardRequest) -> bool:
    return (
        request.method.upper() == "GET"
        and "query=" not in request.query_string
        and "text/html" in request.headers.get("accept", "")
    )


def _replay(body: bytes) -> Receive:
    """The body the transport stage already read, handed to the view as ASGI messages."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _coded_errors(send: Send, request: GuardRequest, config: GuardConfig) -> Send:
    """``send`` for the wrapped view: an error answer that is not JSON is replaced by a coded
    JSON error (the view's text and any traceback never reach the client)."""
    replaced = False

    async def guarded(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start":
            status = int(message["status"])
            content_type = b""
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    content_type = value.lower()
            if status >= 400 and b"json" not in content_type:
                replaced = True
                code = ErrorCode.INTERNAL_SERVER_ERROR if status >= 500 else ErrorCode.BAD_REQUEST
                message_text = "Unexpected error." if status >= 500 else "Bad request."
                rejected = GuardRejection(GuardError(code, message_text))
                facts = {"request_id": request_id_of(request), "principal": None}
                facts["client"] = request.client
                await _send(rejection_response(rejected, config, request, facts), send)
                return
        elif replaced:
            return  # the replaced answer's body
        await send(message)

    return guarded


async def _send(response: GuardResponse, send: Send) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-type", response.media_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.content()})
