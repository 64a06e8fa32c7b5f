"""Issue 22: TransportGuard in front of Strawberry's own view keeps what the view streams
(multipart subscriptions), passes GraphQL multipart uploads, and answers request errors
without ``"data": null`` whatever their status."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx
import strawberry
from strawberry.asgi import GraphQL
from strawberry.file_uploads import Upload
from strawberry.subscriptions import MULTIPART_SUBSCRIPTION_PROTOCOL

from gqlguard.asgi import TransportGuard
from gqlguard.config import GuardConfig
from gqlguard.strawberry import GuardExtension
from schema_example.app import demo_config
from schema_example.schema import build_schema as build_demo_schema

PREFLIGHT = {"apollo-require-preflight": "1"}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def size(self, file: Upload) -> int:
        return len(await file.read())  # type: ignore[attr-defined]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self) -> AsyncGenerator[int, None]:
        for number in (1, 2, 3):
            yield number


def guarded(config: GuardConfig | None = None, **view: Any) -> Any:
    config = config or GuardConfig()
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[GuardExtension(config)],
    )
    return TransportGuard(GraphQL(schema, graphql_ide=None, **view), config, path="/graphql")


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_multipart_subscription_streams_through() -> None:
    # The replayed body used to be followed by an invented disconnect: the view stopped
    # streaming at once (an empty body, or a 500).
    app = guarded(subscription_protocols=(MULTIPART_SUBSCRIPTION_PROTOCOL,))
    async with client(app) as http:
        response = await http.post(
            "/graphql",
            json={"query": "subscription { count }"},
            headers={"accept": "multipart/mixed;subscriptionSpec=1.0,application/json"},
        )
    assert response.status_code == 200
    for number in (1, 2, 3):
        assert f'"count":{number}' in response.text.replace(" ", "")


async def test_a_graphql_multipart_upload_passes() -> None:
    operations = '{"query": "mutation($f: Upload!) { size(file: $f) }", "variables": {"f": null}}'
    form = {"operations": operations, "map": '{"0": ["variables.f"]}'}
    files = {"0": ("a.txt", b"hello", "text/plain")}
    async with client(guarded(multipart_uploads_enabled=True)) as http:
        uploaded = await http.post("/graphql", data=form, files=files, headers=PREFLIGHT)
        cross_site = await http.post("/graphql", data=form, files=files)
    assert uploaded.status_code == 200 and uploaded.json()["data"] == {"size": 5}
    # Without a preflight-forcing header a browser could send it from any site: refused.
    assert cross_site.status_code == 400 and "size" not in cross_site.text
    assert "preflight" in cross_site.json()["errors"][0]["message"].lower()


async def test_an_oversized_upload_is_refused_before_the_view() -> None:
    config = GuardConfig(max_body_bytes=1000)
    operations = '{"query": "mutation($f: Upload!) { size(file: $f) }", "variables": {"f": null}}'
    form = {"operations": operations, "map": '{"0": ["variables.f"]}'}
    files = {"0": ("a.txt", b"x" * 5000, "text/plain")}
    async with client(guarded(config, multipart_uploads_enabled=True)) as http:
        response = await http.post("/graphql", data=form, files=files, headers=PREFLIGHT)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_401_and_429_from_the_view_carry_no_null_data() -> None:
    config = demo_config().model_copy(
        update={"persisted_mode": "off", "budget_capacity": 4, "budget_restore_rate": 0.05}
    )
    app = TransportGuard(GraphQL(build_demo_schema(config), graphql_ide=None), config)
    query = {"query": "{ posts(limit: 1) { title } }"}  # 5 points: more than the bucket
    async with client(app) as http:
        forged = await http.post("/graphql", json=query, headers={"authorization": "Bearer x"})
        spent = await http.post("/graphql", json=query)
    assert forged.status_code == 401 and "data" not in forged.json()
    assert forged.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert spent.status_code == 429 and "data" not in spent.json()
    limit = spent.json()["errors"][0]["extensions"]["limit"]
    assert isinstance(limit, int)  # whole points, as X-RateLimit-Remaining says


async def test_a_429_stays_a_429_for_graphql_response_clients() -> None:
    # Only a 200 request error becomes a 400 for them: a 429 and a 401 keep their status, so
    # clients back off and re-authenticate.
    config = demo_config().model_copy(
        update={"persisted_mode": "off", "budget_capacity": 4, "budget_restore_rate": 0.05}
    )
    app = TransportGuard(GraphQL(build_demo_schema(config), graphql_ide=None), config)
    accept = {"accept": "application/graphql-response+json"}
    async with client(app) as http:
        spent = await http.post(
            "/graphql", json={"query": "{ posts(limit: 1) { title } }"}, headers=accept
        )
    assert spent.status_code == 429 and "data" not in spent.json()
