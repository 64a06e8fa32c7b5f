"""The data and the SDL every example serves: books and their authors."""

from __future__ import annotations

from typing import Any

from gqlguard import DIRECTIVES_SDL

AUTHORS = {
    "1": {"id": "1", "name": "Ursula K. Le Guin"},
    "2": {"id": "2", "name": "Octavia E. Butler"},
}
BOOKS = [
    {"id": "1", "title": "The Dispossessed", "author_id": "1"},
    {"id": "2", "title": "Kindred", "author_id": "2"},
    {"id": "3", "title": "The Left Hand of Darkness", "author_id": "1"},
    {"id": "4", "title": "Parable of the Sower", "author_id": "2"},
]

# The schema-first examples (Ariadne, graphql-core) read this; the Strawberry examples
# declare the same types in code.
SDL = (
    DIRECTIVES_SDL
    + """
type Query {
  books(limit: Int! = 10): [Book!]! @listSize(slicingArguments: ["limit"])
  book(id: ID!): Book
}
type Book { id: ID! title: String! author: Author! }
type Author {
  id: ID!
  name: String!
  books: [Book!]! @listSize(assumedSize: 2)
}
"""
)


def books(limit: int = 10) -> list[dict[str, Any]]:
    return BOOKS[: max(0, limit)]


def book(book_id: str) -> dict[str, Any] | None:
    return next((b for b in BOOKS if b["id"] == book_id), None)


def author_of(book_: dict[str, Any]) -> dict[str, Any]:
    return AUTHORS[book_["author_id"]]


def books_by(author: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in BOOKS if b["author_id"] == author["id"]]
