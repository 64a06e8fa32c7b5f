"""Cost budgets: charged before execution, refunded after, shared by replicas through Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from gqlguard import GuardConfig
from gqlguard.budget import BudgetUnavailable, MemoryBudget, RedisBudget

from .conftest import make_client
from .servers import REDIS_URL, RedisServer, free_port, serve

QUERY = "{ posts(limit: 5) { title } }"  # estimated 5 + 5*0 = 5 (Query.posts weighs 5)


async def test_memory_bucket_charges_refuses_and_restores() -> None:
    budget = MemoryBudget(capacity=10, restore_rate=0)
    first = await budget.charge("a", 6)
    second = await budget.charge("a", 6)
    assert first.allowed and first.available == 4
    assert not second.allowed and second.available == 4
    await budget.refund("a", 5)
    assert (await budget.charge("a", 9)).allowed
    assert (await budget.charge("b", 10)).allowed  # another client, another bucket


async def test_over_budget_is_429_with_retry_after_and_runs_nothing(
    resolver_calls: list[int],
) -> None:
    config = GuardConfig(budget_capacity=12, budget_restore_rate=0.5)
    async with make_client(config) as client:
        ok = await client.post("/graphql", json={"query": QUERY})
        refused = None
        answered = 1
        for _ in range(5):
            response = await client.post("/graphql", json={"query": QUERY})
            if response.status_code == 429:
                refused = response
                break
            answered += 1
    throttle = ok.json()["extensions"]["cost"]["throttleStatus"]
    assert throttle["maximumAvailable"] == 12 and throttle["restoreRate"] == 0.5
    assert ok.headers["x-ratelimit-limit"] == "12"
    assert int(ok.headers["x-ratelimit-remaining"]) <= 12 - 5 + 1
    assert refused is not None
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert len(resolver_calls) == answered  # the refused request executed nothing


async def test_refund_returns_what_the_estimate_overcharged() -> None:
    # Estimated for 10 posts; user 1 has fewer.
    query = '{ user(id: "1") { posts(limit: 10) { comments { body } } } }'
    config = GuardConfig(budget_capacity=1000, budget_restore_rate=0)
    async with make_client(config) as client:
        body = (await client.post("/graphql", json={"query": query})).json()
    cost = body["extensions"]["cost"]
    spent = cost["maximumAvailable"] and 1000 - cost["throttleStatus"]["currentlyAvailable"]
    assert cost["actualQueryCost"] < cost["requestedQueryCost"]
    # max_cost counts both costs, and the type cost (objects returned) is the larger: the
    # budget keeps what was returned, one point per object.
    assert cost["throttleStatus"]["counted"] == "type_cost"
    posts = body["data"]["user"]["posts"]
    objects = 1 + len(posts) + sum(len(post["comments"]) for post in posts)
    assert spent == pytest.approx(objects)


async def test_the_budget_spends_what_the_cost_limit_counts() -> None:
    # 100 objects for one resolver: 5 points of field cost, 100 of type cost.
    config = GuardConfig(budget_capacity=1000, budget_restore_rate=0)
    field_only = config.model_copy(update={"cost_limit_applies_to": "field_cost"})
    spent = {}
    for name, settings in (("both", config), ("field_cost", field_only)):
        async with make_client(settings) as client:
            response = await client.post(
                "/graphql", json={"query": "{ posts(limit: 100) { title } }"}
            )
        remaining = response.json()["extensions"]["cost"]["throttleStatus"]
        spent[name] = 1000 - remaining["currentlyAvailable"]
        assert response.headers["x-ratelimit-cost-counted"] == remaining["counted"]
    assert spent == {"both": 100, "field_cost": 5}


async def test_principals_have_their_own_buckets_and_ips_share_one() -> None:
    from schema_example.app import demo_config

    from .test_authorization import token

    config = demo_config().model_copy(update={"budget_capacity": 6, "budget_restore_rate": 0})
    async with make_client(config) as client:
        anonymous = [await client.post("/graphql", json={"query": QUERY}) for _ in range(2)]
        alice = await client.post(
            "/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {token()}"}
        )
    assert [r.status_code for r in anonymous] == [200, 429]
    assert alice.status_code == 200


async def test_batch_cost_is_summed_against_max_cost() -> None:
    batch = [{"query": "{ posts(limit: 90) { comments { body } } }"}] * 4  # 275 each
    async with make_client(GuardConfig(max_cost=999)) as client:
        summed = await client.post("/graphql", json=batch)
    async with make_client(GuardConfig(max_cost=999, batch_cost="each")) as client:
        each = await client.post("/graphql", json=batch)
    assert isinstance(summed.json(), dict)
    assert summed.json()["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert isinstance(each.json(), list) and len(each.json()) == 4


async def test_redis_buckets_are_shared_and_atomic(redis_prefix: str) -> None:
    one = RedisBudget(REDIS_URL, capacity=50, restore_rate=0, prefix=redis_prefix)
    two = RedisBudget(REDIS_URL, capacity=50, restore_rate=0, prefix=redis_prefix)
    results = await asyncio.gather(*[(one if i % 2 else two).charge("k", 7) for i in range(20)])
    assert sum(state.allowed for state in results) == 7  # 7 x 7 = 49 <= 50 < 56
    import redis

    ttl = redis.Redis.from_url(REDIS_URL).ttl(redis_prefix + "k")
    assert ttl > 0  # every key expires


def test_two_app_processes_spend_one_budget(redis_prefix: str) -> None:
    capacity, rate = 40, 2.0
    env = {
        "GQLGUARD_BUDGET_CAPACITY": str(capacity),
        "GQLGUARD_BUDGET_RESTORE_RATE": str(rate),
        "GQLGUARD_BUDGET_STORE": "redis",
        "GQLGUARD_BUDGET_KEY_PREFIX": redis_prefix,
        "GQLGUARD_REDIS_URL": REDIS_URL,
    }
    started = time.monotonic()
    admitted = 0.0
    with serve(env=env) as first, serve(env=env) as second:
        for i in range(30):
            response = httpx.post(first if i % 2 else second, json={"query": QUERY}, timeout=10)
            assert response.status_code in (200, 429)
            if response.status_code == 200:
                admitted += response.json()["extensions"]["cost"]["actualQueryCost"]
    elapsed = time.monotonic() - started
    assert admitted > 0
    assert admitted <= capacity + rate * elapsed + 1e-6


async def test_redis_unreachable_follows_the_configured_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    budget = RedisBudget(dead, capacity=10, restore_rate=1)
    with pytest.raises(BudgetUnavailable):
        await budget.charge("k", 1)
    for policy, expected in (("closed", 429), ("open", 200)):
        config = GuardConfig(
            budget_capacity=10, budget_store="redis", redis_url=dead, budget_on_store_error=policy
        )
        async with make_client(config) as client:
            responses = [await client.post("/graphql", json={"query": QUERY}) for _ in range(3)]
        assert [r.status_code for r in responses] == [expected] * 3
        if policy == "closed":
            assert responses[0].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    outages = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outages) == 3  # once per store (the unit one and two apps), not per request


@pytest.mark.slow
def test_redis_killed_mid_test(tmp_path: Any) -> None:
    redis_server = RedisServer(tmp_path)
    try:

        def env(policy: str) -> dict[str, str]:
            return {
                "GQLGUARD_BUDGET_CAPACITY": "1000",
                "GQLGUARD_BUDGET_STORE": "redis",
                "GQLGUARD_REDIS_URL": redis_server.url,
                "GQLGUARD_BUDGET_ON_STORE_ERROR": policy,
            }

        with serve(env=env("closed")) as closed, serve(env=env("open")) as opened:
            for app in (closed, opened):
                before = httpx.post(app, json={"query": QUERY}, timeout=10)
                assert before.status_code == 200
                assert "throttleStatus" in before.json()["extensions"]["cost"]
            redis_server.kill()
            for app, after in ((closed, 429), (opened, 200)):
                responses = [httpx.post(app, json={"query": QUERY}, timeout=10) for _ in range(3)]
                assert [r.status_code for r in responses] == [after] * 3
    finally:
        redis_server.kill()


# -- the refund counts the work that ran (issue 15's budget findings) --------------------------


async def test_the_budget_spends_with_report_cost_off() -> None:
    config = GuardConfig(budget_capacity=200, budget_restore_rate=0, report_cost=False)
    # 80 points: the type cost (40 posts, 40 authors) is larger than the field cost (45)
    query = {"query": "{ posts(limit: 40) { title author { name } } }"}
    async with make_client(config) as client:
        responses = [await client.post("/graphql", json=query) for _ in range(4)]
    assert "extensions" not in responses[0].json()  # no cost in the body to read back
    assert [r.status_code for r in responses] == [200, 200, 429, 429]


async def test_null_bubbling_does_not_refund_the_work_that_ran() -> None:
    from schema_example.app import demo_config

    # The estimate counts 178 objects (type cost): the budget holds one such request.
    config = demo_config().model_copy(update={"budget_capacity": 180, "budget_restore_rate": 0})
    # `email` is denied and non-null: `z`, and with it `data`, become null — but all of `a` ran.
    query = {
        "query": "{ a: posts(limit: 88) { title author { name } } "
        "z: posts(limit: 1) { author { email } } }"
    }
    async with make_client(config) as client:
        first = await client.post("/graphql", json=query)
        second = await client.post("/graphql", json=query)
    assert first.status_code == 200 and first.json()["errors"]
    assert second.status_code == 429  # the first request's estimate was kept, not refunded


def test_one_redis_budget_serves_every_event_loop(redis_prefix: str) -> None:
    # A server with async views (the main loop) and sync views (gqlguard's helper loop)
    # charges one store from two loops: an asyncio Redis client belongs to one loop, so
    # the store keeps one per loop.
    store = RedisBudget(REDIS_URL, capacity=10, restore_rate=0, prefix=redis_prefix)
    first = asyncio.run(store.charge("client", 4))
    second = asyncio.run(store.charge("client", 4))  # a new loop
    third = asyncio.run(store.charge("client", 4))
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert second.available == 2
