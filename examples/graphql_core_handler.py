"""Plain graphql-core and no web framework: gqlguard's pipeline as a bare ASGI callable.

``uvicorn examples.graphql_core_handler:app``. The handler is the whole adapter: it turns the
ASGI request into a ``GuardRequest``, lets ``Pipeline.handle`` run every stage, and sends the
``GuardResponse`` back. The same few lines fit any server (aiohttp, Django, Flask under
``asyncio.run``): the pipeline never sees a framework object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from graphql import GraphQLObjectType, build_schema

from gqlguard import Guard, GuardConfig
from gqlguard.execution import graphql_core_executor
from gqlguard.http import GuardRequest, Pipeline

from . import library

schema = build_schema(library.SDL)


def bind(type_name: str, field: str, resolve: Callable[..., Any]) -> None:
    named = schema.get_type(type_name)
    assert isinstance(named, GraphQLObjectType)
    named.fields[field].resolve = resolve


bind("Query", "books", lambda _, __, limit=10: library.books(limit))
bind("Query", "book", lambda _, __, id: library.book(id))
bind("Book", "author", lambda row, _: library.author_of(row))
bind("Author", "books", lambda row, _: library.books_by(row))

CONFIG = GuardConfig()
pipeline = Pipeline(Guard(schema, CONFIG), graphql_core_executor(schema))

Message = MutableMapping[str, Any]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return

    async def body() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            yield message.get("body", b"")
            if not message.get("more_body", False):
                return

    client = scope.get("client")
    response = await pipeline.handle(
        GuardRequest(
            method=scope["method"],
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            query_string=scope["query_string"].decode("latin-1"),
            body=body,
            client=client[0] if client else None,
        )
    )
    headers = [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
    headers.append((b"content-type", response.media_type.encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.content()})
