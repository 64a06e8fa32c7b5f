"""GraphQL over WebSocket for ``create_app`` and a Strawberry schema: Strawberry's own protocol
handlers (graphql-transport-ws and the legacy graphql-ws), each operation through the schema's
``GuardExtension`` — the same stages as an HTTP request — inside the connection's rules
(:class:`gqlguard.websocket_connection.ConnectionGuard`: the handshake's Origin, operations in
flight, frame size, ``connection_init`` timeout)."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

from ..config import GuardConfig
from ..origins import OriginPolicy
from ..websocket_connection import ConnectionGuard

__all__ = ["strawberry_websockets"]


def strawberry_websockets(
    schema: Any, config: GuardConfig, origins: OriginPolicy
) -> ConnectionGuard:
    """The ASGI app for WebSocket scopes at ``create_app``'s path (a Strawberry schema)."""
    from strawberry.asgi import GraphQL

    options: dict[str, Any] = {
        "graphql_ide": None,
        "connection_init_wait_timeout": timedelta(seconds=config.websocket_init_timeout),
    }
    if "allowed_origins" in inspect.signature(GraphQL.__init__).parameters:
        # Strawberry's own check (newer releases) agrees with ours: the same allow-list.
        options["allowed_origins"] = config.websocket_origins
    return ConnectionGuard(GraphQL(schema, **options), config, origins)
