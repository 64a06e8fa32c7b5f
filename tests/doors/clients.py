"""One client per door gqlguard supports, behind one interface (the pattern of Strawberry's
own ``tests/http/clients/``): ``await door.post(body, headers)`` and ``await door.get(params,
headers)`` answer an :class:`Answer` — status, lower-cased headers, the JSON body.

A door is built from a :class:`Target` (a schema built from one ``GuardConfig``), so each case
chooses its configuration; every door of a case gets a fresh schema, hence fresh stores
(budget buckets, APQ registrations).

The doors:

- ``create_app`` — gqlguard's own Starlette app over the Strawberry demo schema (the
  reference);
- ``asgi`` / ``fastapi`` — Strawberry's ASGI view and FastAPI's ``GraphQLRouter``, the schema
  carrying ``GuardExtension``; ``asgi+transport`` / ``fastapi+transport`` — the same wrapped
  in ``gqlguard.asgi.TransportGuard``, as the README's Quick start deploys them;
- ``django`` / ``django-async`` — Strawberry's Django views, driven by ``RequestFactory``;
- ``flask`` / ``flask-async`` — Strawberry's Flask views, driven by Flask's test client;
- ``aiohttp`` — Strawberry's aiohttp view, behind aiohttp's ``TestServer``;
- ``pipeline`` — ``Pipeline(Guard(graphql_schema), graphql_core_executor(graphql_schema))``
  driven through ``Pipeline.handle``, over the demo's graphql-core schema (``schema._schema``:
  Strawberry's resolvers run under graphql-core's ``execute``);
- ``ws:<protocol>:create_app`` / ``ws:<protocol>:asgi`` — GraphQL over WebSocket, both
  protocols, on ``create_app`` and on Strawberry's ASGI view (an operation per connection; the
  ``Authorization`` header travels in ``connection_init``'s payload).
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import strawberry
from graphql import GraphQLSchema

from gqlguard import Guard, GuardConfig
from gqlguard.execution import graphql_core_executor
from gqlguard.http import GuardRequest, Pipeline
from gqlguard.object_rules import ObjectRule
from gqlguard.policies import PolicyFunction
from gqlguard.strawberry import GuardExtension
from schema_example.schema import DEMO_OBJECT_RULES, DEMO_POLICIES
from schema_example.schema import build_schema as build_demo_schema

PATH = "/graphql"
CLIENT = "127.0.0.1"  # every door's peer address (budget keys of anonymous clients)

# -- what the doors serve ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One schema, built from one config: the Strawberry schema (carrying ``GuardExtension``
    with ``config``) and what a graphql-core Guard over its graphql-core schema needs."""

    config: GuardConfig
    schema: strawberry.Schema
    policies: Mapping[str, PolicyFunction] = field(default_factory=dict)
    object_rules: Sequence[ObjectRule] = ()

    @property
    def graphql_schema(self) -> GraphQLSchema:
        return self.schema._schema


def demo(config: GuardConfig) -> Target:
    """The Strawberry demo schema (``schema_example``), guarded by ``config``."""
    return Target(config, build_demo_schema(config), DEMO_POLICIES, DEMO_OBJECT_RULES)


# What the failing resolver says: it must never reach a client, at any door.
SECRET = "postgres://admin:hunter2@db.internal/prod exploded"


@strawberry.type
class BoomQuery:
    @strawberry.field
    def boom(self) -> str | None:
        raise RuntimeError(SECRET)

    @strawberry.field
    def fine(self) -> str:
        return "fine"


def boom(config: GuardConfig) -> Target:
    """A tiny schema with one raising field (the demo has none), guarded by ``config``."""
    return Target(config, strawberry.Schema(query=BoomQuery, extensions=[GuardExtension(config)]))


# -- what a door answers ----------------------------------------------------------------------


@dataclass
class Answer:
    """``status`` is None over a WebSocket (the handshake's status says nothing of an
    operation); ``events`` are a subscription's payloads, in order."""

    status: int | None
    headers: dict[str, str]
    body: Any
    text: str
    events: list[Any] = field(default_factory=list)


def answer(status: int | None, headers: Mapping[str, str], content: bytes) -> Answer:
    text = content.decode("utf-8", "replace")
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = {"<not json>": text}
    return Answer(status, {k.lower(): v for k, v in headers.items()}, body, text)


def encoded(body: Any) -> bytes:
    """Bytes are sent as they are (a malformed body); anything else as JSON."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


class Door(abc.ABC):
    """One way into a guarded schema."""

    name: str
    socket = False

    @abc.abstractmethod
    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer: ...

    @abc.abstractmethod
    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer: ...

    async def aclose(self) -> None:
        return None


# -- ASGI apps, through httpx ------------------------------------------------------------------


class AsgiDoor(Door):
    def __init__(self, name: str, app: Any) -> None:
        import httpx

        self.name = name
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(CLIENT, 50000)),
            base_url="http://testserver",
        )

    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer:
        response = await self.client.post(PATH, content=encoded(body), headers=dict(headers))
        return answer(response.status_code, response.headers, response.content)

    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        response = await self.client.get(PATH, params=dict(params), headers=dict(headers))
        return answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self.client.aclose()


def create_app_door(target: Target) -> Door:
    from gqlguard.starlette import create_app

    return AsgiDoor("create_app", create_app(target.schema, target.config))


def strawberry_asgi_app(target: Target, *, own: bool = False) -> Any:
    """gqlguard's ASGI view; ``own``: Strawberry's own, the extension alone checking."""
    from strawberry.asgi import GraphQL as Own

    from gqlguard.strawberry.views.asgi import GraphQL

    return (Own if own else GraphQL)(target.schema, graphql_ide=None)


def asgi_door(target: Target) -> Door:
    return AsgiDoor("asgi", strawberry_asgi_app(target))


def fastapi_app(target: Target, *, own: bool = False) -> Any:
    from fastapi import FastAPI
    from strawberry.fastapi import GraphQLRouter as Own

    from gqlguard.strawberry.views.fastapi import GraphQLRouter

    api = FastAPI()
    api.include_router(
        (Own if own else GraphQLRouter)(target.schema, graphql_ide=None), prefix=PATH
    )
    return api


def fastapi_door(target: Target) -> Door:
    return AsgiDoor("fastapi", fastapi_app(target))


# -- Django ----------------------------------------------------------------------------------


def _django_ready() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="door-parity-tests-only",
            ALLOWED_HOSTS=["*"],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()


class DjangoDoor(Door):
    def __init__(self, target: Target, *, asynchronous: bool, own: bool = False) -> None:
        _django_ready()
        from django.test import RequestFactory
        from strawberry.django import views as own_views

        from gqlguard.strawberry.views import django as views

        self.asynchronous = asynchronous
        self.name = "django-async" if asynchronous else "django"
        chosen: Any = own_views if own else views
        view_class: Any = chosen.AsyncGraphQLView if asynchronous else chosen.GraphQLView
        self.view = view_class.as_view(schema=target.schema, graphql_ide=None)
        self.factory = RequestFactory(REMOTE_ADDR=CLIENT)

    async def _call(self, request: Any) -> Answer:
        if self.asynchronous:
            response = await self.view(request)
        else:
            # execute_sync under a sync view: the view runs in a thread without an event loop,
            # as under a WSGI server (in the test's loop the extension would take it for async).
            response = await asyncio.to_thread(self.view, request)
        return answer(response.status_code, dict(response.headers), response.content)

    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer:
        rest = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        request = self.factory.generic(
            "POST", PATH, data=encoded(body), content_type=content_type, headers=rest
        )
        return await self._call(request)

    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        request = self.factory.get(PATH, data=dict(params), headers=dict(headers))
        return await self._call(request)


# -- Flask -----------------------------------------------------------------------------------


class FlaskDoor(Door):
    def __init__(self, target: Target, *, asynchronous: bool, own: bool = False) -> None:
        from flask import Flask
        from strawberry.flask import views as own_views

        from gqlguard.strawberry.views import flask as views

        self.name = "flask-async" if asynchronous else "flask"
        chosen: Any = own_views if own else views
        view_class: Any = chosen.AsyncGraphQLView if asynchronous else chosen.GraphQLView
        app = Flask(f"door-{self.name}")
        view = view_class.as_view("graphql", schema=target.schema, graphql_ide=None)
        app.add_url_rule(PATH, view_func=view, methods=["GET", "POST"])
        self.client = app.test_client()

    def _open(self, method: str, **kwargs: Any) -> Answer:
        response = self.client.open(
            PATH, method=method, environ_base={"REMOTE_ADDR": CLIENT}, **kwargs
        )
        return answer(response.status_code, dict(response.headers), response.get_data())

    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer:
        # Flask is WSGI: its views (the async one too, through asgiref) run in a thread
        # without a running event loop, as under a WSGI server.
        return await asyncio.to_thread(
            self._open, "POST", data=encoded(body), headers=dict(headers)
        )

    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        return await asyncio.to_thread(
            self._open, "GET", query_string=dict(params), headers=dict(headers)
        )


# -- aiohttp ---------------------------------------------------------------------------------


class AiohttpDoor(Door):
    name = "aiohttp"

    def __init__(self, target: Target, *, own: bool = False) -> None:
        from aiohttp import web
        from strawberry.aiohttp.views import GraphQLView as Own

        from gqlguard.strawberry.views.aiohttp import GraphQLView

        self.app = web.Application()
        view = (Own if own else GraphQLView)(schema=target.schema, graphql_ide=None)
        self.app.router.add_route("*", PATH, view)
        self.client: Any = None

    async def _client(self) -> Any:
        if self.client is None:
            from aiohttp.test_utils import TestClient, TestServer

            self.client = TestClient(TestServer(self.app, host=CLIENT))
            await self.client.start_server()
        return self.client

    async def _request(self, method: str, **kwargs: Any) -> Answer:
        client = await self._client()
        async with client.request(method, PATH, **kwargs) as response:
            content = await response.read()
            return answer(response.status, dict(response.headers), content)

    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer:
        return await self._request(
            "POST",
            data=encoded(body),
            headers=dict(headers),
            skip_auto_headers=("Content-Type",),
        )

    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        return await self._request("GET", params=dict(params), headers=dict(headers))

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()


# -- the bare pipeline ---------------------------------------------------------------------------


class PipelineDoor(Door):
    """``Pipeline.handle`` itself, as ``examples/graphql_core_handler.py`` drives it."""

    name = "pipeline"

    def __init__(self, target: Target) -> None:
        graphql_schema = target.graphql_schema
        guard = Guard(
            graphql_schema,
            target.config,
            policies=target.policies,
            object_rules=target.object_rules,
        )
        self.pipeline = Pipeline(guard, graphql_core_executor(graphql_schema))

    async def _handle(
        self, method: str, headers: Mapping[str, str], query_string: str = "", body: bytes = b""
    ) -> Answer:
        response = await self.pipeline.handle(
            GuardRequest(
                method=method,
                headers={k.lower(): v for k, v in headers.items()},
                query_string=query_string,
                body=body,
                client=CLIENT,
            )
        )
        # The adapter's part (graphql_core_handler.py): the media type becomes content-type.
        return answer(
            response.status,
            {**response.headers, "content-type": response.media_type},
            response.content(),
        )

    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer:
        return await self._handle("POST", headers, body=encoded(body))

    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        return await self._handle("GET", headers, query_string=urlencode(dict(params)))


# -- WebSocket -----------------------------------------------------------------------------------

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
_START = {TRANSPORT_WS: "subscribe", LEGACY_WS: "start"}
_EVENT = {TRANSPORT_WS: "next", LEGACY_WS: "data"}


class SocketDoor(Door):
    """One connection per operation: ``connection_init`` (carrying the ``Authorization``
    header, if any, in its payload), one operation, every message up to its end."""

    socket = True

    def __init__(self, name: str, app: Any, protocol: str) -> None:
        from starlette.testclient import TestClient

        self.name = name
        self.protocol = protocol
        self.http = TestClient(app)

    def _operation(self, payload: Mapping[str, Any], headers: Mapping[str, str]) -> Answer:
        from starlette.websockets import WebSocketDisconnect

        init: dict[str, Any] = {}
        for name, value in headers.items():
            if name.lower() == "authorization":
                init["Authorization"] = value
        messages: list[dict[str, Any]] = []
        try:
            with self.http.websocket_connect(PATH, subprotocols=[self.protocol]) as ws:
                ws.send_json({"type": "connection_init", "payload": init})
                acknowledged = ws.receive_json()
                if acknowledged.get("type") != "connection_ack":
                    return Answer(None, {}, {"<not acknowledged>": acknowledged}, "")
                ws.send_json({"id": "1", "type": _START[self.protocol], "payload": dict(payload)})
                while True:
                    message = ws.receive_json()
                    if message.get("type") in ("ka", "ping", "pong"):
                        continue
                    messages.append(message)
                    if message.get("type") in ("complete", "error"):
                        break
        except WebSocketDisconnect as closed:
            return Answer(None, {}, {"<closed>": closed.code}, json.dumps(messages))
        events = [m["payload"] for m in messages if m["type"] == _EVENT[self.protocol]]
        body: Any
        if messages[-1]["type"] == "error":
            errors = messages[-1]["payload"]
            body = {"errors": errors if isinstance(errors, list) else [errors]}
        else:
            body = events[0] if events else {}
        return Answer(None, {}, body, json.dumps(messages), events)

    async def post(self, body: Any, headers: Mapping[str, str]) -> Answer:
        # Starlette's TestClient is synchronous (it runs the app on its own loop): a thread.
        assert isinstance(body, Mapping), "a WebSocket operation is a JSON object"
        return await asyncio.to_thread(self._operation, body, headers)

    async def get(self, params: Mapping[str, str], headers: Mapping[str, str]) -> Answer:
        raise NotImplementedError("GET is an HTTP method")

    async def aclose(self) -> None:
        await asyncio.to_thread(self.http.close)


def _socket_on_create_app(protocol: str) -> Callable[[Target], Door]:
    def build(target: Target) -> Door:
        from gqlguard.starlette import create_app

        app = create_app(target.schema, target.config)
        return SocketDoor(f"ws:{protocol}:create_app", app, protocol)

    return build


def _socket_on_graphql_core(protocol: str) -> Callable[[Target], Door]:
    """create_app over the demo's graphql-core schema: gqlguard's own protocol handler."""

    def build(target: Target) -> Door:
        from gqlguard.starlette import create_app

        app = create_app(
            target.graphql_schema,
            target.config,
            policies=target.policies,
            object_rules=target.object_rules,
        )
        return SocketDoor(f"ws:{protocol}:graphql-core", app, protocol)

    return build


def _socket_on_asgi(protocol: str) -> Callable[[Target], Door]:
    def build(target: Target) -> Door:
        return SocketDoor(f"ws:{protocol}:asgi", strawberry_asgi_app(target), protocol)

    return build


# -- the registry --------------------------------------------------------------------------------

REFERENCE = "create_app"

HTTP_DOORS: dict[str, Callable[[Target], Door]] = {
    "create_app": create_app_door,
    "asgi": asgi_door,
    "fastapi": fastapi_door,
    "django": lambda target: DjangoDoor(target, asynchronous=False),
    "django-async": lambda target: DjangoDoor(target, asynchronous=True),
    "flask": lambda target: FlaskDoor(target, asynchronous=False),
    "flask-async": lambda target: FlaskDoor(target, asynchronous=True),
    "aiohttp": AiohttpDoor,
    "pipeline": PipelineDoor,
}

SOCKET_DOORS: dict[str, Callable[[Target], Door]] = {
    f"ws:{protocol}:{host}": build(protocol)
    for protocol in (TRANSPORT_WS, LEGACY_WS)
    for host, build in (
        ("create_app", _socket_on_create_app),
        ("asgi", _socket_on_asgi),
        ("graphql-core", _socket_on_graphql_core),
    )
}

# Strawberry's own views, unchanged, with only the schema's GuardExtension checking each
# operation from its hooks: held to the reference's verdicts (codes, no data), not to its
# transport (their own words for a malformed request, "data": null on a request error).
EXTENSION_DOORS: dict[str, Callable[[Target], Door]] = {
    "own:asgi": lambda target: AsgiDoor("own:asgi", strawberry_asgi_app(target, own=True)),
    "own:fastapi": lambda target: AsgiDoor("own:fastapi", fastapi_app(target, own=True)),
    "own:django": lambda target: DjangoDoor(target, asynchronous=False, own=True),
    "own:django-async": lambda target: DjangoDoor(target, asynchronous=True, own=True),
    "own:flask": lambda target: FlaskDoor(target, asynchronous=False, own=True),
    "own:flask-async": lambda target: FlaskDoor(target, asynchronous=True, own=True),
    "own:aiohttp": lambda target: AiohttpDoor(target, own=True),
}

DOORS: dict[str, Callable[[Target], Door]] = {**HTTP_DOORS, **SOCKET_DOORS, **EXTENSION_DOORS}


def open_door(name: str, target: Target) -> Door:
    return DOORS[name](target)
