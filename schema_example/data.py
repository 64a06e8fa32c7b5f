"""Deterministic seeded in-memory data for the demo schema (same rows on every start)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["DATA", "Store"]


@dataclass
class UserRow:
    id: int
    name: str
    email: str
    role: str


@dataclass
class PostRow:
    id: int
    author_id: int
    title: str
    body: str


@dataclass
class CommentRow:
    id: int
    post_id: int
    author_id: int
    body: str


@dataclass
class ProductRow:
    id: int
    name: str
    price: float


@dataclass
class ReviewRow:
    id: int
    product_id: int
    author_id: int
    rating: int
    body: str


@dataclass
class OrderItemRow:
    product_id: int
    quantity: int
    price: float


@dataclass
class OrderRow:
    id: int
    user_id: int
    status: str
    items: list[OrderItemRow] = field(default_factory=list)


@dataclass
class AuditRow:
    id: int
    actor_id: int
    action: str


_WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "graph",
    "query",
    "field",
    "cost",
    "depth",
    "alias",
    "guard",
    "shop",
    "blog",
]


class Store:
    """All rows, built from one seeded random generator."""

    def __init__(self, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.users = [
            UserRow(i, f"User {i}", f"user{i}@example.test", "ADMIN" if i % 17 == 0 else "MEMBER")
            for i in range(1, 61)
        ]
        self.posts: list[PostRow] = []
        self.comments: list[CommentRow] = []
        for user in self.users:
            for _ in range(5):
                post_id = len(self.posts) + 1
                title = " ".join(rng.choice(_WORDS) for _ in range(3))
                self.posts.append(PostRow(post_id, user.id, title.title(), f"Body of {title}."))
                for _ in range(rng.randint(1, 6)):
                    self.comments.append(
                        CommentRow(
                            len(self.comments) + 1,
                            post_id,
                            rng.randint(1, len(self.users)),
                            " ".join(rng.choice(_WORDS) for _ in range(6)),
                        )
                    )
        self.products = [
            ProductRow(i, f"Product {rng.choice(_WORDS)} {i}", round(rng.uniform(2, 200), 2))
            for i in range(1, 51)
        ]
        self.reviews = [
            ReviewRow(
                i,
                rng.randint(1, len(self.products)),
                rng.randint(1, len(self.users)),
                rng.randint(1, 5),
                " ".join(rng.choice(_WORDS) for _ in range(5)),
            )
            for i in range(1, 301)
        ]
        self.orders: list[OrderRow] = []
        for i in range(1, 151):
            order = OrderRow(
                i, rng.randint(1, len(self.users)), rng.choice(["PENDING", "PAID", "SHIPPED"])
            )
            for _ in range(rng.randint(1, 4)):
                product = rng.choice(self.products)
                order.items.append(OrderItemRow(product.id, rng.randint(1, 3), product.price))
            self.orders.append(order)
        self.audit = [
            AuditRow(i, rng.randint(1, len(self.users)), rng.choice(["login", "delete", "order"]))
            for i in range(1, 101)
        ]
        self.deleted_users: set[int] = set()


DATA = Store()
