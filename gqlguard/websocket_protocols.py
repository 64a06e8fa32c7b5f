"""GraphQL over WebSocket for a graphql-core schema (Ariadne, ``graphql.build_schema``) under
``create_app``: graphql-transport-ws and the legacy graphql-ws, every operation through the
pipeline's own stages — the persisted lookup, the check (limits, validation, authorization),
the budget's charge (and, for a query or mutation, its refund) — then graphql-core's
``execute`` or ``subscribe`` on the checked document, with per-field enforcement and masking.

Credentials come from the ``connection_init`` payload's ``Authorization`` (a browser cannot
set headers on a WebSocket), else the handshake's. What belongs to the connection (its
Origin, operations in flight, frame size, the ``connection_init`` timeout) is
:class:`~gqlguard.websocket_connection.ConnectionGuard`'s, around this handler, as around
Strawberry's for a Strawberry schema: both doors answer alike.

Protocol answers: graphql-transport-ws closes with 4401 for an operation before
``connection_ack``, 4409 for an id already running, 4429 for a second ``connection_init``,
4400 for an unknown message; a refused operation is its ``error`` message, coded (unusable
credentials refuse each operation, ``UNAUTHENTICATED``, as each HTTP request carrying them
is refused). Unlike Strawberry's handlers, this one reads an operation's ``extensions``: a
persisted query's hash alone runs, and a syntax error is a coded error, as over HTTP. The
legacy protocol carries subscriptions only (its ``error`` holds one error).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, GraphQLSchema, MiddlewareManager, subscribe

from .errors import ErrorCode, GuardError, GuardRejection
from .events import security_event
from .http import Caller, Pipeline
from .masking import mask_execution_errors
from .persisted import PersistedQueryError
from .transport import ALL_OPERATIONS, GuardRequest
from .websocket_connection import Message, Receive, Send, subprotocol_of

__all__ = ["PipelineWebSockets"]

_log = logging.getLogger("gqlguard.execution")

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
_NOT_SERVED = "This operation type is not served on this transport."


class PipelineWebSockets:
    """The protocol handler (an ASGI app for WebSocket scopes) for one pipeline."""

    def __init__(self, pipeline: Pipeline, schema: GraphQLSchema) -> None:
        self.pipeline = pipeline
        self.schema = schema

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        offered = scope.get("subprotocols") or ()
        await receive()  # websocket.connect
        protocol = subprotocol_of(scope)
        if offered and protocol not in offered:
            await send({"type": "websocket.close", "code": 4406})  # no protocol we speak
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})
        connection = _Connection(self, scope, send, protocol)
        try:
            while True:
                message = await receive()
                if message.get("type") == "websocket.disconnect":
                    return
                if message.get("type") == "websocket.receive" and not await connection.handle(
                    message.get("text")
                ):
                    return
        finally:
            connection.stop_all()


class _Connection:
    """One connection's state: its caller (once initialised) and its running operations."""

    def __init__(
        self, handler: PipelineWebSockets, scope: Message, send: Send, protocol: str
    ) -> None:
        self.pipeline = handler.pipeline
        self.schema = handler.schema
        self.scope = scope
        self.send_message = send
        self.legacy = protocol == LEGACY_WS
        # Only this protocol's own messages: the connection rules count and check these (the
        # other protocol's `start` would pass them uncounted).
        self.start_kind, self.stop_kind = (
            ("start", "stop") if self.legacy else ("subscribe", "complete")
        )
        # The handshake, with connection_init's credentials: each operation's caller.
        self.request: GuardRequest | None = None
        self.initialised = False
        self.running: dict[str, asyncio.Task[None]] = {}

    # -- messages -------------------------------------------------------------------------

    async def handle(self, text: Any) -> bool:
        """Answer one frame; False when the connection is closed."""
        try:
            message = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict):  # a binary frame (the rules let it through)
            return await self.close(4400, "Invalid message")
        kind, operation = message.get("type"), message.get("id")
        if kind == "connection_init":
            return await self.initialise(message.get("payload"))
        if kind == "ping" and not self.legacy:
            await self.send({"type": "pong"})
            return True
        if kind == "pong" and not self.legacy:
            return True
        if kind == "connection_terminate" and self.legacy:
            return await self.close(1000, "")
        if kind == self.start_kind and isinstance(operation, str):
            return await self.start(operation, message.get("payload"))
        if kind == self.stop_kind and isinstance(operation, str):
            task = self.running.pop(operation, None)
            if task is not None:
                task.cancel()
            if self.legacy:
                await self.send({"id": operation, "type": "complete"})
            return True
        return await self.close(4400, f"Unexpected message: {kind!r}")

    async def initialise(self, payload: Any) -> bool:
        if self.initialised:
            if self.legacy:
                return True
            return await self.close(4429, "Too many initialisation requests")
        if payload is not None and not isinstance(payload, dict):
            return await self.close(4400, "Invalid connection_init payload")
        self.initialised = True
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in self.scope.get("headers", ())
        }
        found = payload or {}
        credentials = found.get("Authorization", found.get("authorization"))
        if isinstance(credentials, str):
            headers["authorization"] = credentials
        client = self.scope.get("client")
        self.request = GuardRequest("GET", headers, client=str(client[0]) if client else None)
        await self.send({"type": "connection_ack"})
        return True

    async def start(self, operation: str, payload: Any) -> bool:
        request = self.request
        if request is None:
            return await self.close(4401, "Unauthorized")
        if operation in self.running:
            if self.legacy:
                return True
            return await self.close(4409, f"Subscriber for {operation} already exists")
        # A caller per operation: its credentials are checked again each time (a token
        # that expired since connection_init refuses the next operation, as over HTTP).
        task = asyncio.create_task(self.run(operation, payload, self.pipeline.caller(request)))
        self.running[operation] = task
        task.add_done_callback(lambda _: self._forget(operation, task))
        return True

    def _forget(self, operation: str, task: asyncio.Task[None]) -> None:
        if self.running.get(operation) is task:
            del self.running[operation]

    # -- one operation ------------------------------------------------------------------------

    async def run(self, operation: str, payload: Any, caller: Caller) -> None:
        pipeline = self.pipeline
        allowed = frozenset({"subscription"}) if self.legacy else ALL_OPERATIONS
        try:
            await pipeline.identify(caller)
            await pipeline.refuse_spent(caller)
            envelopes = pipeline.transport.envelopes(payload)
            if len(envelopes) != 1:  # a batch is not a WebSocket operation
                raise GuardRejection(GuardError(ErrorCode.BAD_REQUEST, "Send one operation."))
            (envelope,) = envelopes
            context = await pipeline.operation_context(caller)
            lookup, verdict = await pipeline.admit(caller, envelope, context, allowed)
        except GuardRejection as rejected:
            error = rejected.error
            if error.code is ErrorCode.METHOD_NOT_ALLOWED:  # the check logged it
                error = GuardError(ErrorCode.BAD_REQUEST, _NOT_SERVED)
            elif not rejected.logged:
                security_event("rejected", [error.code.value], caller.facts(), transport="ws")
            await pipeline.refused(caller, rejected)
            await self.refuse(operation, error)
            return
        if isinstance(lookup, PersistedQueryError):
            await self.refuse(operation, lookup.error)
            return
        if verdict is not None and not verdict.accepted:
            await self.refuse_all(operation, verdict.formatted_errors())
            return
        try:
            bucket = await pipeline.settle_admission(caller, [(lookup, verdict)])
        except GuardRejection as rejected:
            await self.refuse(operation, rejected.error)
            return
        execution = pipeline.execution(caller, envelope, context, lookup, verdict, allowed)
        analysis = verdict.analysis if verdict is not None else None
        try:
            if analysis is not None and analysis.operation_type == "subscription":
                if not await self.stream(operation, caller, execution):
                    return  # refused when it started: its error ends it
            else:
                result = await pipeline.execute(execution)
                body, actual = pipeline.answered(caller, verdict, result)
                if bucket is not None:
                    await pipeline.refund(caller, bucket, pipeline.estimated(verdict), actual)
                await self.send({"id": operation, "type": self.next_kind, "payload": body})
        except asyncio.CancelledError:
            raise
        except Exception:  # the executor or the source failed: coded, never a traceback out
            _log.exception("operation %s failed (request %s)", operation, caller.request_id)
            await self.refuse(
                operation, GuardError(ErrorCode.INTERNAL_SERVER_ERROR, "Unexpected error.")
            )
            return
        await self.send({"id": operation, "type": "complete"})

    async def stream(self, operation: str, caller: Caller, execution: Any) -> bool:
        """A subscription: charged once, when it starts; each event masked as a result is.
        False when graphql-core refused to start it (its error sent)."""
        enforcement = execution.enforcement
        if enforcement is not None and enforcement.nothing_left:
            # Every root field denied: refused before its source starts (graphql-core calls
            # a subscription's source with no middleware, so it would run and stream nulls).
            errors = enforcement.errors([])
            formatted = mask_execution_errors(errors, self.pipeline.config, caller.request_id)
            await self.refuse_all(operation, [dict(error.formatted) for error in formatted])
            return False
        layers = (
            MiddlewareManager(enforcement)
            if enforcement is not None and enforcement.needed
            else None
        )
        source = subscribe(
            self.schema,
            execution.document,
            context_value=execution.context,
            variable_values=execution.variables,
            operation_name=execution.operation_name,
            middleware=layers,
        )
        if inspect.isawaitable(source):
            source = await source
        if isinstance(source, ExecutionResult):  # refused by graphql-core before it started
            config, request_id = self.pipeline.config, caller.request_id
            errors = mask_execution_errors(source.errors or (), config, request_id)
            await self.refuse_all(operation, [dict(error.formatted) for error in errors])
            return False
        events: AsyncIterator[ExecutionResult] = source
        try:
            async for event in events:
                if enforcement is not None and enforcement.adds_errors:
                    event.errors = enforcement.errors(event.errors) or None
                body, _ = self.pipeline.answered(caller, execution.verdict, event)
                await self.send({"id": operation, "type": self.next_kind, "payload": body})
                await asyncio.sleep(0)  # a source that never awaits cannot starve the loop
        finally:
            closing = getattr(events, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()
        return True

    # -- answers -------------------------------------------------------------------------------

    @property
    def next_kind(self) -> str:
        return "data" if self.legacy else "next"

    async def refuse(self, operation: str, error: GuardError) -> None:
        expose = self.pipeline.config.expose_limits
        await self.refuse_all(operation, [error.formatted(expose_limits=expose)])

    async def refuse_all(self, operation: str, errors: list[dict[str, Any]]) -> None:
        payload: Any = errors[0] if self.legacy else errors
        await self.send({"id": operation, "type": "error", "payload": payload})

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_message({"type": "websocket.send", "text": json.dumps(message)})

    async def close(self, code: int, reason: str) -> bool:
        self.stop_all()
        await self.send_message({"type": "websocket.close", "code": code, "reason": reason})
        return False

    def stop_all(self) -> None:
        for task in self.running.values():
            task.cancel()
        self.running.clear()
