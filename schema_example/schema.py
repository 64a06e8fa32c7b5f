"""The demo schema (Strawberry, code-first): users, posts, a shop, search and an audit log.

Cost annotations follow the seed weights: user 1, posts 5, comments 3, search 10; Relay
connections carry ``@listSize(slicingArguments: ["first"], sizedFields: ["edges", "nodes"])``.
Every field resolution is counted per request (``context["resolver_calls"]``), so tests can
prove that a rejected request ran no resolver.

Authorization: ``@authenticated`` and ``@requiresScopes`` on fields, a staff-only field
under ``@policy`` (the ``staff`` policy: a role hierarchy, admins are staff too), and an
object-level rule: an order is seen only by its owner or an admin, whichever field loads it
(``user(id: 2) { orders }`` with user 1's token returns none of user 2's orders).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Iterator
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from gqlguard.authorization import Principal
from gqlguard.config import GuardConfig
from gqlguard.object_rules import ObjectRule
from gqlguard.policies import PolicyRequest
from gqlguard.strawberry import (
    Authenticated,
    Cost,
    GuardExtension,
    ListSize,
    Policy,
    RequiresScopes,
    principal_of,
)

from .config import demo_config
from .data import DATA, CommentRow, OrderRow, PostRow, ProductRow, ReviewRow, UserRow

CONNECTION_SIZE = ListSize(slicing_arguments=["first"], sized_fields=["edges", "nodes"])
MAX_PAGE = 100
BATCHING_CEILING = 100  # Strawberry's own batch cap; gqlguard's max_batch is lower


def is_staff(principal: Principal, request: PolicyRequest) -> bool:
    """The ``staff`` policy: a rule that is not one scope (admins are staff too)."""
    return bool(principal.scopes & {"staff", "admin"})


DEMO_POLICIES = {"staff": is_staff}
# OWASP API1: an order is its owner's (the token's sub is the order's user id) or an admin's.
DEMO_OBJECT_RULES = (ObjectRule("Order", owner=("sub", "row.user_id"), scopes=[["admin"]]),)


def _page(value: int | None, default: int) -> int:
    return max(0, min(value if value is not None else default, MAX_PAGE))


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor.encode()).decode().split(":", 1)[1]) + 1
    except (ValueError, IndexError, UnicodeDecodeError):
        return 0


@strawberry.enum
class Role(Enum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.enum
class OrderStatus(Enum):
    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class User(Node):
    row: strawberry.Private[UserRow]

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(directives=[RequiresScopes(scopes=[["users:email"]])])
    def email(self) -> str:
        return self.row.email

    @strawberry.field
    def role(self) -> Role:
        return Role(self.row.role)

    @strawberry.field(directives=[Cost(weight=5)])
    def posts(self, limit: int | None = 10) -> list[Post]:
        rows = [p for p in DATA.posts if p.author_id == self.row.id]
        return [Post.of(p) for p in rows[: _page(limit, 10)]]

    # (orders:read AND users:read) OR admin
    @strawberry.field(
        directives=[RequiresScopes(scopes=[["orders:read", "users:read"], ["admin"]])]
    )
    def orders(self, first: int | None = 10) -> list[Order]:
        rows = [o for o in DATA.orders if o.user_id == self.row.id]
        return [Order.of(o) for o in rows[: _page(first, 10)]]

    @strawberry.field
    def reviews(self, limit: int | None = 10) -> list[Review]:
        rows = [r for r in DATA.reviews if r.author_id == self.row.id]
        return [Review.of(r) for r in rows[: _page(limit, 10)]]

    @classmethod
    def of(cls, row: UserRow) -> User:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type
class Post(Node):
    row: strawberry.Private[PostRow]

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def author(self) -> User:
        return User.of(DATA.users[self.row.author_id - 1])

    @strawberry.field(directives=[Cost(weight=3)])
    def comments(self, limit: int | None = 10) -> list[Comment]:
        rows = [c for c in DATA.comments if c.post_id == self.row.id]
        return [Comment.of(c) for c in rows[: _page(limit, 10)]]

    @classmethod
    def of(cls, row: PostRow) -> Post:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type
class Comment(Node):
    row: strawberry.Private[CommentRow]

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def author(self) -> User:
        return User.of(DATA.users[self.row.author_id - 1])

    @strawberry.field
    def post(self) -> Post:
        return Post.of(DATA.posts[self.row.post_id - 1])

    @classmethod
    def of(cls, row: CommentRow) -> Comment:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type
class Product(Node):
    row: strawberry.Private[ProductRow]

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def price(self) -> float:
        return self.row.price

    @strawberry.field(directives=[Policy(policies=[["staff"]])])
    def margin(self) -> float:
        return round(self.row.price * 0.3, 2)

    @strawberry.field
    def reviews(self, limit: int | None = 10) -> list[Review]:
        rows = [r for r in DATA.reviews if r.product_id == self.row.id]
        return [Review.of(r) for r in rows[: _page(limit, 10)]]

    @classmethod
    def of(cls, row: ProductRow) -> Product:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type
class Review(Node):
    row: strawberry.Private[ReviewRow]

    @strawberry.field
    def rating(self) -> int:
        return self.row.rating

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def author(self) -> User:
        return User.of(DATA.users[self.row.author_id - 1])

    @strawberry.field
    def product(self) -> Product:
        return Product.of(DATA.products[self.row.product_id - 1])

    @classmethod
    def of(cls, row: ReviewRow) -> Review:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type
class OrderItem:
    product: Product
    quantity: int
    price: float


@strawberry.type
class Order(Node):
    row: strawberry.Private[OrderRow]

    @strawberry.field
    def user(self) -> User:
        return User.of(DATA.users[self.row.user_id - 1])

    @strawberry.field
    def items(self) -> list[OrderItem]:
        return [
            OrderItem(
                product=Product.of(DATA.products[item.product_id - 1]),
                quantity=item.quantity,
                price=item.price,
            )
            for item in self.row.items
        ]

    @strawberry.field
    def total(self) -> float:
        return round(sum(item.price * item.quantity for item in self.row.items), 2)

    @strawberry.field
    def status(self) -> OrderStatus:
        return OrderStatus(self.row.status)

    @classmethod
    def of(cls, row: OrderRow) -> Order:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    nodes: list[User]
    page_info: PageInfo
    total_count: int


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type
class ProductConnection:
    edges: list[ProductEdge]
    nodes: list[Product]
    page_info: PageInfo
    total_count: int


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    actor: User
    action: str


SearchResult = Annotated[User | Post | Product, strawberry.union("SearchResult")]


@strawberry.input
class CreatePostInput:
    title: str
    body: str


@strawberry.input
class OrderItemInput:
    product_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class PlaceOrderInput:
    items: list[OrderItemInput]


@strawberry.type
class CreatePostPayload:
    post: Post


@strawberry.type
class PlaceOrderPayload:
    order: Order


def _connection_slice(
    rows: list[Any], first: int | None, after: str | None
) -> tuple[list[tuple[int, Any]], bool]:
    start = _offset(after)
    size = _page(first, 10)
    chosen = list(enumerate(rows))[start : start + size]
    return chosen, start + size < len(rows)


def _user_by_id(raw: str) -> UserRow | None:
    try:
        index = int(raw)
    except ValueError:
        return None
    if 1 <= index <= len(DATA.users) and index not in DATA.deleted_users:
        return DATA.users[index - 1]
    return None


@strawberry.type
class Query:
    @strawberry.field(directives=[Cost(weight=1), Authenticated()])
    def viewer(self, info: Info) -> User | None:
        subject = principal_of(info).subject  # at every door, WebSockets included
        row = _user_by_id(str(subject)) if subject else None
        return User.of(row) if row else None

    @strawberry.field(directives=[Cost(weight=1)])
    def user(self, id: strawberry.ID) -> User | None:
        row = _user_by_id(str(id))
        return User.of(row) if row else None

    @strawberry.field(directives=[CONNECTION_SIZE])
    def users(self, first: int | None = 10, after: str | None = None) -> UserConnection:
        rows = [u for u in DATA.users if u.id not in DATA.deleted_users]
        chosen, more = _connection_slice(rows, first, after)
        edges = [UserEdge(cursor=_cursor(i), node=User.of(row)) for i, row in chosen]
        return UserConnection(
            edges=edges,
            nodes=[edge.node for edge in edges],
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            total_count=len(rows),
        )

    @strawberry.field(directives=[Cost(weight=5)])
    def posts(self, limit: int | None = 10) -> list[Post]:
        return [Post.of(row) for row in DATA.posts[: _page(limit, 10)]]

    @strawberry.field
    def product(self, id: strawberry.ID) -> Product | None:
        try:
            index = int(id)
        except ValueError:
            return None
        return Product.of(DATA.products[index - 1]) if 1 <= index <= len(DATA.products) else None

    @strawberry.field(directives=[CONNECTION_SIZE])
    def products(self, first: int | None = 10, after: str | None = None) -> ProductConnection:
        chosen, more = _connection_slice(DATA.products, first, after)
        edges = [ProductEdge(cursor=_cursor(i), node=Product.of(row)) for i, row in chosen]
        return ProductConnection(
            edges=edges,
            nodes=[edge.node for edge in edges],
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            total_count=len(DATA.products),
        )

    @strawberry.field(directives=[Cost(weight=10)])
    def search(self, term: str, limit: int | None = 10) -> list[SearchResult]:
        needle = term.lower()
        size = _page(limit, 10)
        found: list[User | Post | Product] = []
        found.extend(User.of(u) for u in DATA.users if needle in u.name.lower())
        found.extend(Post.of(p) for p in DATA.posts if needle in p.title.lower())
        found.extend(Product.of(p) for p in DATA.products if needle in p.name.lower())
        return found[:size]

    @strawberry.field
    def node(self, id: strawberry.ID) -> Node | None:
        kind, _, raw = str(id).partition(":")
        if kind == "User":
            row = _user_by_id(raw)
            return User.of(row) if row else None
        if kind == "Post" and raw.isdigit() and 1 <= int(raw) <= len(DATA.posts):
            return Post.of(DATA.posts[int(raw) - 1])
        if kind == "Product" and raw.isdigit() and 1 <= int(raw) <= len(DATA.products):
            return Product.of(DATA.products[int(raw) - 1])
        return None

    @strawberry.field(directives=[RequiresScopes(scopes=[["admin"]])])
    def audit_log(self, limit: int | None = 10) -> list[AuditEntry]:
        return [
            AuditEntry(
                id=strawberry.ID(str(row.id)),
                actor=User.of(DATA.users[row.actor_id - 1]),
                action=row.action,
            )
            for row in DATA.audit[: _page(limit, 10)]
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation(directives=[Authenticated()])
    def create_post(self, input: CreatePostInput) -> CreatePostPayload:
        row = PostRow(len(DATA.posts) + 1, 1, input.title[:200], input.body[:5000])
        DATA.posts.append(row)
        return CreatePostPayload(post=Post.of(row))

    @strawberry.mutation(directives=[Authenticated()])
    def place_order(self, input: PlaceOrderInput) -> PlaceOrderPayload:
        order = OrderRow(len(DATA.orders) + 1, 1, "PENDING")
        DATA.orders.append(order)
        return PlaceOrderPayload(order=Order.of(order))

    @strawberry.mutation(directives=[Authenticated(), RequiresScopes(scopes=[["admin"]])])
    def delete_user(self, id: strawberry.ID) -> bool:
        row = _user_by_id(str(id))
        if row is None:
            return False
        DATA.deleted_users.add(row.id)
        return True


# At most this many events per countdown: the demo's subscription is cheap by construction.
COUNTDOWN_MAX = 10


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=f"Counts down from `start` (at most {COUNTDOWN_MAX}) to 1, one event "
        "every `seconds` (at most 1)."
    )
    async def countdown(self, start: int = 3, seconds: float = 0) -> AsyncGenerator[int, None]:
        for number in range(min(start, COUNTDOWN_MAX), 0, -1):
            yield number
            await asyncio.sleep(min(max(seconds, 0.0), 1.0))


class ResolverCounter(SchemaExtension):
    """Counts every field resolution into ``context["resolver_calls"]`` when present, and
    records each resolved coordinate in ``context["resolved"]`` when that is a set."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        context = info.context
        if isinstance(context, dict) and "resolver_calls" in context:
            context["resolver_calls"] += 1
            resolved = context.get("resolved")
            if isinstance(resolved, set):
                resolved.add(f"{info.parent_type.name}.{info.field_name}")
        return _next(root, info, *args, **kwargs)

    def on_operation(self) -> Iterator[None]:
        yield None


def build_schema(config: GuardConfig | None = None, *, guarded: bool = True) -> strawberry.Schema:
    """The demo schema with a guard built from ``config`` (default: ``GQLGUARD_*`` env)."""
    # The guard is last, so it is the outermost resolver middleware: a field it denies never
    # reaches the counter, let alone its resolver.
    extensions: list[Any] = [ResolverCounter]
    guard = None
    if guarded:
        guard = GuardExtension(
            config if config is not None else GuardConfig(),
            policies=DEMO_POLICIES,
            object_rules=DEMO_OBJECT_RULES,
        )
        extensions.append(guard)
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Post, Product],
        extensions=extensions,
        # Batching is Strawberry's to switch on (every gqlguard door keeps its rule);
        # gqlguard's max_batch (5 by default) is the cap that binds.
        config=StrawberryConfig(batching_config={"max_operations": BATCHING_CEILING}),
    )
    if guard is not None:
        guard.guard_for(schema)  # a policy or rule the schema cannot hold stops us here
    return schema


schema = build_schema(demo_config())
