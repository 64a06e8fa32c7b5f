"""Ariadne, schema first, behind gqlguard's whole pipeline: ``uvicorn examples.ariadne_app:app``.

Ariadne builds a graphql-core schema; ``create_app`` serves it with every stage (transport,
CSRF, persisted queries, bearer JWTs, the guard, the cost budget) and executes accepted
operations with graphql-core on the verified document.
"""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType, make_executable_schema

from gqlguard import GuardConfig
from gqlguard.starlette import create_app

from . import library

query = QueryType()
book = ObjectType("Book")
author = ObjectType("Author")


@query.field("books")
def resolve_books(_: Any, __: Any, limit: int = 10) -> list[dict[str, Any]]:
    return library.books(limit)


@query.field("book")
def resolve_book(_: Any, __: Any, id: str) -> dict[str, Any] | None:
    return library.book(id)


@book.field("author")
def resolve_author(row: dict[str, Any], _: Any) -> dict[str, Any]:
    return library.author_of(row)


@author.field("books")
def resolve_author_books(row: dict[str, Any], _: Any) -> list[dict[str, Any]]:
    return library.books_by(row)


CONFIG = GuardConfig()
schema = make_executable_schema(library.SDL, query, book, author)
app = create_app(schema, CONFIG)
