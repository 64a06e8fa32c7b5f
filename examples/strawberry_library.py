"""The library API in Strawberry, code first, with gqlguard's extension and directives."""

from __future__ import annotations

from typing import Any

import strawberry

from gqlguard import GuardConfig
from gqlguard.strawberry import GuardExtension, ListSize

from . import library


@strawberry.type
class Author:
    id: strawberry.ID
    name: str

    @strawberry.field(directives=[ListSize(assumed_size=2)])
    def books(self) -> list[Book]:
        return [Book.of(b) for b in library.books_by({"id": self.id})]


@strawberry.type
class Book:
    id: strawberry.ID
    title: str
    author_id: strawberry.Private[str]

    @strawberry.field
    def author(self) -> Author:
        found = library.AUTHORS[self.author_id]
        return Author(id=strawberry.ID(found["id"]), name=found["name"])

    @classmethod
    def of(cls, row: dict[str, Any]) -> Book:
        return cls(id=strawberry.ID(row["id"]), title=row["title"], author_id=row["author_id"])


@strawberry.type
class Query:
    @strawberry.field(directives=[ListSize(slicing_arguments=["limit"])])
    def books(self, limit: int = 10) -> list[Book]:
        return [Book.of(row) for row in library.books(limit)]

    @strawberry.field
    def book(self, id: strawberry.ID) -> Book | None:
        row = library.book(str(id))
        return Book.of(row) if row is not None else None


CONFIG = GuardConfig()  # the strict defaults; GuardConfig(...) or load_config() to change them
schema = strawberry.Schema(query=Query, extensions=[GuardExtension(CONFIG)])
