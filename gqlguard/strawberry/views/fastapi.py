"""``strawberry.fastapi.GraphQLRouter``, every HTTP request run by gqlguard's pipeline."""

from __future__ import annotations

from typing import Any

from strawberry.fastapi import GraphQLRouter as StrawberryRouter

from .base import GuardedAsyncView

__all__ = ["GraphQLRouter"]


class GraphQLRouter(GuardedAsyncView, StrawberryRouter[Any, Any]):
    """A FastAPI router serving a schema that carries ``GuardExtension``."""
