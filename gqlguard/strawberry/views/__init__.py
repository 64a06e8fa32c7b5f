"""gqlguard's Strawberry views: Strawberry's own view classes, with every HTTP request run by
gqlguard's pipeline — the one driver of the stage order, the same as ``create_app``'s. Each
has its Strawberry namesake's name, so adopting one is an import:

    from gqlguard.strawberry.views.asgi import GraphQL             # strawberry.asgi
    from gqlguard.strawberry.views.fastapi import GraphQLRouter    # strawberry.fastapi
    from gqlguard.strawberry.views.django import GraphQLView, AsyncGraphQLView
    from gqlguard.strawberry.views.flask import GraphQLView, AsyncGraphQLView
    from gqlguard.strawberry.views.aiohttp import GraphQLView

The view's schema must carry a :class:`~gqlguard.strawberry.GuardExtension` (its config,
its stores): a view whose schema has none refuses its first request with a ``ConfigError``
naming what to add. The mixins (:mod:`.base`) fit any other Strawberry integration.
"""

from .base import GuardedAsyncView, GuardedSyncView, PipelineAnswer

__all__ = ["GuardedAsyncView", "GuardedSyncView", "PipelineAnswer"]
