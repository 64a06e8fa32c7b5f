"""``strawberry.aiohttp.views.GraphQLView``, every HTTP request run by gqlguard's pipeline."""

from __future__ import annotations

from typing import Any

from strawberry.aiohttp import views

from .base import GuardedAsyncView

__all__ = ["GraphQLView"]


class GraphQLView(GuardedAsyncView, views.GraphQLView[Any, Any]):
    """An aiohttp view serving a schema that carries ``GuardExtension``."""
