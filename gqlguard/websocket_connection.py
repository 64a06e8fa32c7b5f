"""What a GraphQL-over-WebSocket connection needs before and around its protocol handler,
whichever handler speaks the protocol (Strawberry's, for a Strawberry schema; gqlguard's own,
:mod:`gqlguard.websocket_protocols`, for a graphql-core one) — framework-free ASGI.

Every operation a connection sends goes through the pipeline's stages (credentials, limits,
authorization, persisted lookup, budget) in its handler; :class:`ConnectionGuard` adds what
belongs to a connection:

- **the handshake's Origin** (:class:`~gqlguard.origins.OriginPolicy`, ``websocket_origins``):
  a cross-site handshake is refused before it is accepted (HTTP 403), so no operation of a
  hijacked browser session ever reaches the schema;
- **operations in flight per connection** (``websocket_max_operations``): one more
  ``subscribe`` (``start``) is answered with the protocol's error message, coded
  ``OPERATION_LIMIT_EXCEEDED``, and never reaches the handler;
- **a frame larger than ``max_body_bytes``** closes the connection (1009, message too big), and
  so does **a frame that is not a protocol message** (4400: not a JSON object, a non-string
  ``type`` or ``id``, an operation without an object payload);
- **``connection_init`` within ``websocket_init_timeout`` seconds**, else the connection is
  closed with 4408 (both protocols).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .config import GuardConfig
from .errors import ErrorCode, GuardError
from .events import security_event
from .origins import OriginPolicy

__all__ = ["ASGIApp", "ConnectionGuard", "Message", "Receive", "Send", "subprotocol_of"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]

# protocol -> (client message that starts an operation, client message that stops one,
# server messages that end one)
_PROTOCOLS = {
    "graphql-transport-ws": ("subscribe", "complete", ("complete", "error")),
    "graphql-ws": ("start", "stop", ("complete", "error")),
}
_TOO_BIG = 1009  # RFC 6455: a message too big to process
_INVALID = 4400  # both protocols: an invalid message
_INIT_TIMEOUT = 4408  # graphql-transport-ws: connection_init not received in time


class ConnectionGuard:
    """The ASGI app for a WebSocket route: the handshake's Origin, then the connection's
    rules around ``handler`` (the app that speaks the protocol)."""

    def __init__(self, handler: ASGIApp, config: GuardConfig, origins: OriginPolicy) -> None:
        self.handler = handler
        self.config = config
        self.origins = origins

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", ())
        }
        refused = self.origins.violation(headers)
        if refused is not None:
            await receive()  # websocket.connect
            security_event(
                "rejected", [refused.code.value], {"client": _client(scope)}, transport="ws"
            )
            await send({"type": "websocket.close", "code": 4403})  # before accept: HTTP 403
            return
        connection = _Connection(scope, self.config)
        await self.handler(scope, connection.receiving(receive, send), connection.sending(send))


class _Connection:
    """One connection's operations in flight, counted on the frames that pass."""

    def __init__(self, scope: Message, config: GuardConfig) -> None:
        self.protocol = _PROTOCOLS.get(subprotocol_of(scope), _PROTOCOLS["graphql-transport-ws"])
        self.limit = config.websocket_max_operations
        self.max_bytes = config.max_body_bytes
        self.expose_limits = config.expose_limits
        self.init_timeout = config.websocket_init_timeout
        self.in_flight: set[str] = set()
        self.deadline: float | None = None  # set when the handshake arrives
        self.initialised = False

    def receiving(self, receive: Receive, send: Send) -> Receive:
        start, stop, _ = self.protocol

        async def closing(code: int) -> Message:
            await send({"type": "websocket.close", "code": code})
            return {"type": "websocket.disconnect", "code": code}

        async def guarded() -> Message:
            while True:
                if self.initialised or self.deadline is None:
                    message = await receive()
                else:
                    left = self.deadline - asyncio.get_running_loop().time()
                    try:
                        message = await asyncio.wait_for(receive(), max(left, 0.0))
                    except TimeoutError:
                        return await closing(_INIT_TIMEOUT)
                if message.get("type") == "websocket.connect":
                    self.deadline = asyncio.get_running_loop().time() + self.init_timeout
                if message.get("type") != "websocket.receive":
                    return message
                frame = message.get("text")
                size = len(frame.encode("utf-8")) if isinstance(frame, str) else 0
                size = max(size, len(message.get("bytes") or b""))
                if size > self.max_bytes:
                    return await closing(_TOO_BIG)
                parsed = _protocol_message(frame, start)
                if parsed is None:
                    return await closing(_INVALID)
                kind, operation = parsed
                if kind == "connection_init":
                    self.initialised = True
                if kind == start and operation is not None:
                    if operation not in self.in_flight and len(self.in_flight) >= self.limit:
                        await send(self._refusal(operation))
                        continue  # never reaches the handler
                    self.in_flight.add(operation)
                elif kind == stop and operation is not None:
                    self.in_flight.discard(operation)
                return message

        return guarded

    def sending(self, send: Send) -> Send:
        _, _, ending = self.protocol

        async def counted(message: Message) -> None:
            text = message.get("text")
            # Only a frame that can end an operation is decoded: a subscription's events
            # (`next`, `data`) pass without a second JSON parse.
            if isinstance(text, str) and any(kind in text for kind in ending):
                kind, operation = _kind_and_id(text)
                if kind in ending and operation is not None:
                    self.in_flight.discard(operation)
            await send(message)

        return counted

    def _refusal(self, operation: str) -> Message:
        error = GuardError(
            ErrorCode.OPERATION_LIMIT_EXCEEDED,
            "Too many operations in flight on this connection.",
            measured=len(self.in_flight) + 1,
            limit=self.limit,
        )
        payload = [error.formatted(expose_limits=self.expose_limits)]
        if self.protocol is _PROTOCOLS["graphql-ws"]:  # the legacy protocol's error payload
            body: dict[str, Any] = {"id": operation, "type": "error", "payload": payload[0]}
        else:
            body = {"id": operation, "type": "error", "payload": payload}
        return {"type": "websocket.send", "text": json.dumps(body)}


def _protocol_message(frame: Any, start: str) -> tuple[str, str | None] | None:
    """``(type, id)`` of a client frame, or None when it is not a protocol message: not a JSON
    object, a ``type`` or ``id`` that is not a string, an operation (``start``) without an
    object payload (the legacy protocol's: with a string ``query``). A binary frame passes,
    for Strawberry to refuse."""
    if not isinstance(frame, str):
        return "", None
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
        return None
    if not isinstance(message, dict):
        return None
    kind, operation = message.get("type"), message.get("id")
    if not isinstance(kind, str) or (operation is not None and not isinstance(operation, str)):
        return None
    if kind == start:
        payload = message.get("payload")
        if operation is None or not isinstance(payload, dict):
            return None
        if start == "start" and not isinstance(payload.get("query"), str):
            return None  # the legacy protocol has no persisted-query form
    return kind, operation


def _kind_and_id(frame: Any) -> tuple[str | None, str | None]:
    """``(type, id)`` of a server frame, each None when absent or not a string."""
    if not isinstance(frame, str):
        return None, None
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(message, dict):
        return None, None
    kind, operation = message.get("type"), message.get("id")
    return (
        kind if isinstance(kind, str) else None,
        operation if isinstance(operation, str) else None,
    )


def subprotocol_of(scope: Message) -> str:
    """The protocol the client asked for (graphql-transport-ws when it named none)."""
    offered = scope.get("subprotocols") or ()
    return next((p for p in offered if p in _PROTOCOLS), "graphql-transport-ws")


def _client(scope: Message) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
