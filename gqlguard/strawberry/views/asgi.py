"""``strawberry.asgi.GraphQL``, every HTTP request run by gqlguard's pipeline."""

from __future__ import annotations

from typing import Any

from strawberry.asgi import GraphQL as StrawberryGraphQL

from .base import GuardedAsyncView

__all__ = ["GraphQL"]


class GraphQL(GuardedAsyncView, StrawberryGraphQL[Any, Any]):
    """An ASGI app serving a schema that carries ``GuardExtension``."""
