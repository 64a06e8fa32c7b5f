"""Strawberry adapter: the one-line extension and the code-first schema directives.

    schema = strawberry.Schema(query=Query, extensions=[GuardExtension(GuardConfig())])

- :mod:`~gqlguard.strawberry.directives`: ``@cost``, ``@listSize``, ``@authenticated``,
  ``@requiresScopes`` for code-first schemas;
- :mod:`~gqlguard.strawberry.extension`: ``GuardExtension``, which checks every operation
  under Strawberry's own views, beside Strawberry's and the user's extensions;
- :mod:`~gqlguard.strawberry.executor`: gqlguard's whole pipeline for a Strawberry schema
  (``create_app``, or :func:`strawberry_pipeline` under any framework);
- :mod:`~gqlguard.strawberry.context`: what the guard reads from Strawberry's context;
- :mod:`~gqlguard.strawberry.views`: gqlguard's Strawberry views (ASGI, FastAPI, Django, Flask,
  aiohttp), every HTTP request run by the pipeline;
- :mod:`~gqlguard.strawberry.handover`: the pipeline's hand-over of a checked document;
  :mod:`~gqlguard.strawberry.websockets`: GraphQL over WebSocket for ``create_app``.
"""

from .context import principal_in_context, principal_of
from .directives import Authenticated, Cost, ListSize, Policy, RequiresScopes
from .executor import guard_extension_of, strawberry_executor, strawberry_pipeline
from .extension import GuardExtension

__all__ = [
    "Authenticated",
    "Cost",
    "GuardExtension",
    "ListSize",
    "Policy",
    "RequiresScopes",
    "guard_extension_of",
    "principal_in_context",
    "principal_of",
    "strawberry_executor",
    "strawberry_pipeline",
]
