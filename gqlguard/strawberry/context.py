"""What the guard reads from, and writes to, the context Strawberry's views build.

Strawberry's views put the framework's request (for a WebSocket operation, the connection's
handshake) and a sub-response in the GraphQL context: ``context["request"]`` or
``context.request``. These functions translate them to the pipeline's types and back, for
every integration Strawberry ships (Starlette/FastAPI, Django, Flask, aiohttp).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any

from ..authorization import Principal
from ..transport import GuardRequest

__all__ = [
    "answer_with",
    "bearer_credentials",
    "is_handshake",
    "principal_in_context",
    "principal_of",
    "request_id_in",
    "request_in",
]


def _item(context: Any, name: str) -> Any:
    if isinstance(context, Mapping):
        return context.get(name)
    return getattr(context, name, None)


def request_in(context: Any) -> GuardRequest | None:
    """The HTTP request (or WebSocket handshake) in Strawberry's context, as the pipeline
    reads one (headers, method, client address); None when there is none."""
    request = _item(context, "request")
    headers = getattr(request, "headers", None)
    if request is None or headers is None:
        return None
    client = getattr(request, "client", None)  # Starlette, FastAPI
    address = getattr(client, "host", None) or getattr(request, "remote", None)  # aiohttp
    if address is None:
        address = getattr(request, "META", {}).get("REMOTE_ADDR")  # Django
    if address is None:
        address = getattr(request, "remote_addr", None)  # Flask
    method = getattr(request, "method", None)
    return GuardRequest(
        # A Starlette WebSocket has no method: its handshake was a GET.
        method=method if isinstance(method, str) else "GET",
        headers=headers,
        client=address if isinstance(address, str) else None,
        native=request,
    )


def is_handshake(request: GuardRequest) -> bool:
    """A WebSocket connection's handshake (every operation on it carries it)."""
    scope = getattr(request.native, "scope", None)
    if isinstance(scope, Mapping) and scope.get("type") == "websocket":
        return True
    upgrade = request.headers.get("upgrade")
    return isinstance(upgrade, str) and upgrade.lower() == "websocket"


def bearer_credentials(context: Any, request: GuardRequest | None) -> str | None:
    """The ``Authorization`` value for this operation: on a WebSocket, the
    ``connection_init`` payload's (``Authorization`` / ``authorization``) before the
    handshake's header; on HTTP, the header."""
    params = _item(context, "connection_params")
    if isinstance(params, Mapping):
        for name in ("Authorization", "authorization"):
            value = params.get(name)
            if isinstance(value, str):
                return value
    if request is None:
        return None
    value = request.headers.get("authorization")
    return value if isinstance(value, str) else None


def answer_with(context: Any, status: int | None, headers: Mapping[str, str]) -> None:
    """Status and headers on the sub-response Strawberry's HTTP views put in the context
    (they reach the client); nothing for a WebSocket, whose handshake is long answered."""
    response = _item(context, "response")
    if response is None or response is _item(context, "request"):
        return
    if getattr(response, "prepared", False):
        # Already started (aiohttp's WebSocketResponse, in a WebSocket's context): its
        # status is long sent, and setting one raises inside Strawberry's handler, which
        # then answers nothing at all. The refusal reaches the client as the protocol's
        # error.
        return
    target = getattr(response, "headers", None)
    if target is not None:
        for name, value in headers.items():
            target[name] = value
    if status is not None and hasattr(response, "status_code"):
        response.status_code = status
    elif status is not None and hasattr(response, "set_status"):  # aiohttp's sub-response
        response.set_status(status)


def principal_in_context(context: Any) -> Principal | None:
    """The default principal hook: ``context["principal"]`` or ``context.principal``."""
    found = _item(context, "principal")
    return found if isinstance(found, Principal) else None


def request_id_in(context: Any) -> str | None:
    value = _item(context, "request_id")
    return value if isinstance(value, str) else None


# The principal of the operation running in this context (a task, or a sync view's thread),
# set by GuardExtension when it admits the operation and reset when the operation ends. A
# WebSocket's context dict is the connection's, so the principal cannot live there.
_OPERATION_PRINCIPAL: ContextVar[Principal | None] = ContextVar(
    "gqlguard_operation_principal", default=None
)


def principal_of(info: Any) -> Principal:
    """The principal of the operation a resolver runs in (pass its ``info``, or the
    context), at every door: ``context["principal"]`` where the pipeline put it (create_app,
    Strawberry's HTTP views), else the one GuardExtension admitted the operation with (a
    WebSocket operation's, from its ``connection_init`` or handshake), else anonymous."""
    found = principal_in_context(getattr(info, "context", info))
    if found is not None:
        return found
    current = _OPERATION_PRINCIPAL.get()
    return current if current is not None else Principal.anonymous()


def hold_principal(principal: Principal) -> Token[Principal | None]:
    """Make ``principal`` the running operation's (until :func:`release_principal`)."""
    return _OPERATION_PRINCIPAL.set(principal)


def release_principal(token: Token[Principal | None] | None) -> None:
    if token is None:
        return
    try:
        _OPERATION_PRINCIPAL.reset(token)
    except ValueError:  # ended in another context: nothing of this operation stays here
        _OPERATION_PRINCIPAL.set(None)
