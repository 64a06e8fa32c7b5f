"""Strawberry's Flask views, every HTTP request run by gqlguard's pipeline."""

from __future__ import annotations

from typing import Any

from strawberry.flask import views

from .base import GuardedAsyncView, GuardedSyncView

__all__ = ["AsyncGraphQLView", "GraphQLView"]


class GraphQLView(GuardedSyncView, views.GraphQLView[Any]):
    """The sync view: the pipeline on the view's thread, outside any event loop (on the
    extension's helper loop only for a Redis store or an ``async`` policy)."""


class AsyncGraphQLView(GuardedAsyncView, views.AsyncGraphQLView[Any]):
    """The async view (``flask[async]``)."""
