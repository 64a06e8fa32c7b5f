"""Strawberry's Flask views, every HTTP request run by gqlguard's pipeline."""

from __future__ import annotations

from typing import Any

from strawberry.flask import views

from .base import GuardedAsyncView, GuardedSyncView

__all__ = ["AsyncGraphQLView", "GraphQLView"]


class GraphQLView(GuardedSyncView, views.GraphQLView[Any]):
    """The sync view: the pipeline's waiting stages on the extension's helper loop, the
    request's own work on the view's thread."""


class AsyncGraphQLView(GuardedAsyncView, views.AsyncGraphQLView[Any]):
    """The async view (``flask[async]``)."""
