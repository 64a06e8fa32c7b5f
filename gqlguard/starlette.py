"""Starlette / ASGI adapter: translates a request into :class:`gqlguard.http.GuardRequest`,
runs the one pipeline, translates its :class:`~gqlguard.http.GuardResponse` back.

    app = create_app(strawberry_schema)      # a Strawberry schema carrying GuardExtension
    app = create_app(ariadne_schema, config)  # any graphql-core schema (Ariadne, Graphene)

Everything a request goes through is in :mod:`gqlguard.http`; the only thing this module
adds is the development IDE page (``graphiql=True``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLSchema

from .extras import missing

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import BaseRoute, Route, WebSocketRoute
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("starlette", "gqlguard.starlette") from error

from .config import ConfigError, GuardConfig, protections_summary
from .execution import Execute, graphql_core_executor
from .guard import CheckCallback, Guard, graphql_schema_of
from .http import Authenticate, ContextGetter, GuardRequest, Pipeline
from .object_rules import ObjectRule
from .origins import OriginPolicy
from .policies import PolicyFunction
from .transport import SECURITY_HEADERS
from .websocket_connection import ConnectionGuard
from .websocket_protocols import PipelineWebSockets

__all__ = ["GraphQLEndpoint", "create_app", "pipeline_for", "protections_summary"]

# The IDE page loads GraphiQL from unpkg and runs inline scripts; nothing else.
IDE_CDN = "unpkg.com"
IDE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
        "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data:; "
        "font-src https://unpkg.com; connect-src 'self'; frame-ancestors 'none'"
    )
}


class GraphQLEndpoint:
    """An ASGI endpoint in front of one :class:`~gqlguard.http.Pipeline`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if self._wants_ide(request):
            return _ide_page()
        answer = await self.pipeline.handle(
            GuardRequest(
                method=request.method,
                headers=request.headers,
                query_string=request.url.query,
                body=request.stream,
                client=request.client.host if request.client else None,
                native=request,
            )
        )
        return Response(
            answer.content(),
            status_code=answer.status,
            media_type=answer.media_type,
            headers=answer.headers,
        )

    def _wants_ide(self, request: Request) -> bool:
        # Only in development (graphiql=True), only for a browser asking for a page.
        return (
            self.pipeline.config.graphiql
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )


# Without the CDN the page would say "Loading..." for ever: a script placed before the CDN's
# tags hears their load errors (an error event does not bubble, but is captured on window) and,
# on one, when the page has loaded without GraphiQL, or after 20 s without it, says why in the
# place of "Loading..." (never over a GraphiQL that has rendered).
IDE_CDN_UNREACHABLE = (
    f"GraphiQL did not load: this development page fetches it from the {IDE_CDN} CDN, which "
    "this browser could not reach (offline, or blocked by a proxy or an extension). The GraphQL "
    "endpoint itself works: send queries to this URL with any GraphQL client."
)
IDE_FALLBACK = f"""
    <script>
      (function () {{
        var MESSAGE = {json.dumps(IDE_CDN_UNREACHABLE)};
        var failed = false;
        function rendered() {{
          var box = document.getElementById("graphiql");
          return box !== null && box.firstElementChild !== null;
        }}
        var note = null;
        function explain(now) {{
          var box = document.getElementById("graphiql");
          if (box === null && !now && document.readyState === "loading") {{
            document.addEventListener("DOMContentLoaded", function () {{ explain(true); }});
            return;
          }}
          if (rendered()) return;
          if (box === null) {{
            // The parser is stuck on a CDN script in <head>: no body to write in yet.
            note = note || document.createElement("div");
            box = note;
            (document.body || document.documentElement).appendChild(box);
          }} else if (note !== null) {{
            note.remove();
            note = null;
          }}
          box.setAttribute("role", "alert");
          box.style.cssText = "display:block;padding:2em;font:16px/1.5 sans-serif;color:#b00020";
          box.textContent = MESSAGE;
        }}
        window.addEventListener("error", function (event) {{
          var source = event.target && (event.target.src || event.target.href);
          if (typeof source === "string" && source.indexOf("https://{IDE_CDN}/") === 0) {{
            failed = true;
            explain();
          }}
        }}, true);
        function missing() {{
          return failed || typeof window.GraphiQL === "undefined";
        }}
        window.addEventListener("load", function () {{ if (missing()) explain(true); }});
        setTimeout(function () {{ if (missing()) explain(true); }}, 20000);
      }})();
    </script>
"""


def _ide_page() -> Response:
    try:
        from strawberry.http.ides import get_graphql_ide_html
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise missing("strawberry", "the GraphiQL page") from error
    return HTMLResponse(
        _with_cdn_fallback(get_graphql_ide_html()), headers={**SECURITY_HEADERS, **IDE_HEADERS}
    )


def _with_cdn_fallback(page: str) -> str:
    """``page`` with :data:`IDE_FALLBACK` first in its ``<head>`` (first in the document if it
    has none), before any script or stylesheet from the CDN."""
    head = page.find("<head>")
    at = head + len("<head>") if head >= 0 else 0
    return page[:at] + IDE_FALLBACK + page[at:]


def pipeline_for(
    schema: Any,
    config: GuardConfig | None = None,
    *,
    execute: Execute | None = None,
    context_getter: ContextGetter | None = None,
    authenticate: Authenticate | None = None,
    policies: Mapping[str, PolicyFunction] | None = None,
    object_rules: Sequence[ObjectRule] = (),
    on_accept: CheckCallback | None = None,
    on_reject: CheckCallback | None = None,
) -> Pipeline:
    """The pipeline for a Strawberry schema (its ``GuardExtension``'s config and Guard) or a
    graphql-core schema (a Guard built from ``config``; executed by graphql-core unless
    ``execute`` says otherwise)."""
    graphql_schema = getattr(schema, "graphql_schema", schema)  # Graphene wraps one
    if isinstance(graphql_schema, GraphQLSchema):
        return Pipeline(
            Guard(
                graphql_schema,
                config,
                policies=policies,
                object_rules=object_rules,
                on_accept=on_accept,
                on_reject=on_reject,
            ),
            execute if execute is not None else graphql_core_executor(graphql_schema),
            authenticate=authenticate,
            context_getter=context_getter,
        )
    if policies or object_rules or on_accept or on_reject:
        raise ConfigError(
            "a Strawberry schema's policies, object rules and callbacks belong to its "
            "GuardExtension"
        )
    from .strawberry import strawberry_pipeline

    pipeline = strawberry_pipeline(
        schema, config, authenticate=authenticate, context_getter=context_getter
    )
    if execute is not None:
        pipeline.execute = execute
    return pipeline


def create_app(
    schema: Any,
    config: GuardConfig | None = None,
    *,
    path: str = "/graphql",
    execute: Execute | None = None,
    context_getter: ContextGetter | None = None,
    authenticate: Authenticate | None = None,
    policies: Mapping[str, PolicyFunction] | None = None,
    object_rules: Sequence[ObjectRule] = (),
    on_accept: CheckCallback | None = None,
    on_reject: CheckCallback | None = None,
) -> Starlette:
    """A Starlette app serving ``schema`` at ``path`` behind the whole pipeline.

    Principals come from ``Authorization: Bearer`` JWTs verified per ``config.jwt_*``, or
    from ``authenticate(request)`` when given (your own authentication); both hooks receive
    the Starlette request. ``policies``, ``object_rules``, ``on_accept`` and ``on_reject``
    are a graphql-core schema's (see :class:`gqlguard.Guard`); a Strawberry schema's are its
    ``GuardExtension``'s.
    """
    pipeline = pipeline_for(
        schema,
        config,
        execute=execute,
        context_getter=context_getter,
        authenticate=authenticate,
        policies=policies,
        object_rules=object_rules,
        on_accept=on_accept,
        on_reject=on_reject,
    )
    routes: list[BaseRoute] = [Route(path, GraphQLEndpoint(pipeline))]
    extension = _guard_extension_of(schema)
    # Subscriptions (and any operation) over WebSocket, each operation through the same
    # stages, inside the connection's own rules (gqlguard.websocket_connection).
    sockets: Any
    if extension is not None:
        # Strawberry's protocol handlers, each operation through the extension's stages.
        from .strawberry.websockets import strawberry_websockets

        sockets = strawberry_websockets(schema, extension.config, extension.origins)
    else:
        # graphql-core: gqlguard's protocol handler over the pipeline itself.
        sockets = ConnectionGuard(
            PipelineWebSockets(pipeline, graphql_schema_of(schema)),
            pipeline.config,
            OriginPolicy(pipeline.config.websocket_origins),
        )
    routes.append(WebSocketRoute(path, sockets))
    return Starlette(routes=routes)


def _guard_extension_of(schema: Any) -> Any:
    if isinstance(getattr(schema, "graphql_schema", schema), GraphQLSchema):
        return None  # graphql-core (Ariadne, Graphene)
    from .strawberry import guard_extension_of

    return guard_extension_of(schema)
