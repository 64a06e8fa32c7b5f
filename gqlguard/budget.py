"""Cost budgets: a token bucket of cost points per client, in memory or shared through Redis.

A client (its JWT ``sub``, else its address) holds up to ``budget_capacity`` points, restored
at ``budget_restore_rate`` points per second. A request is charged its *estimated* cost before
anything executes — a request the bucket cannot pay is ``RATE_LIMITED`` and runs nothing — and
refunded the difference to its *actual* cost afterwards (GitHub's and Shopify's model).

The Redis store runs one Lua script per charge, so concurrent replicas never overspend; the
clock is Redis's own (``TIME``), so replicas need not agree on theirs. Keys carry a prefix and
expire once the bucket would be full again.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from .redis_link import RedisLink, StoreUnavailable

__all__ = ["BucketState", "BudgetStore", "BudgetUnavailable", "MemoryBudget", "RedisBudget"]


@dataclass(frozen=True, slots=True)
class BucketState:
    """One charge's outcome, and what to tell the client."""

    allowed: bool
    available: float  # points left after this charge (or now, when refused)
    capacity: float
    restore_rate: float

    @property
    def retry_after(self) -> int:
        """Whole seconds until the refused request could be paid (at least 1)."""
        return max(1, math.ceil(self._deficit / self.restore_rate)) if self.restore_rate else 60

    @property
    def reset_after(self) -> int:
        """Whole seconds until the bucket is full again."""
        missing = self.capacity - self.available
        return math.ceil(missing / self.restore_rate) if self.restore_rate and missing > 0 else 0

    _deficit: float = 0.0


class BudgetUnavailable(Exception):
    """The store could not answer (Redis down): the caller applies its failure policy."""


class BudgetStore(Protocol):
    capacity: float
    restore_rate: float

    async def charge(self, key: str, cost: float) -> BucketState: ...

    async def refund(self, key: str, points: float) -> None: ...


class MemoryBudget:
    """One process's buckets. Bounded: the least recently used buckets are forgotten."""

    def __init__(self, capacity: float, restore_rate: float, max_clients: int = 100_000) -> None:
        self.capacity = capacity
        self.restore_rate = restore_rate
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_clients = max_clients
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, updated = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - updated) * self.restore_rate)

    async def charge(self, key: str, cost: float) -> BucketState:
        now = time.monotonic()
        with self._lock:
            level = self._level(key, now)
            allowed = cost <= level
            if allowed:
                level -= cost
            self._buckets[key] = (level, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return BucketState(allowed, level, self.capacity, self.restore_rate, cost - level)

    async def refund(self, key: str, points: float) -> None:
        if points <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if key in self._buckets:
                self._buckets[key] = (min(self.capacity, self._level(key, now) + points), now)


# KEYS[1] bucket; ARGV capacity, rate, cost (cost < 0 refunds). Returns {allowed, level*1000}.
_CHARGE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or capacity
local updated = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if cost <= tokens then
  tokens = math.min(capacity, tokens - cost)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
local ttl = 60
if rate > 0 then ttl = math.ceil((capacity - tokens) / rate) + 1 end
redis.call('EXPIRE', KEYS[1], math.max(1, ttl))
return {allowed, tostring(tokens)}
"""


class RedisBudget:
    """Buckets shared by every replica through one Redis."""

    def __init__(
        self,
        url: str,
        capacity: float,
        restore_rate: float,
        *,
        prefix: str = "gqlguard:budget:",
        client: Any = None,
    ) -> None:
        self.capacity = capacity
        self.restore_rate = restore_rate
        self.prefix = prefix
        # The same link policy as every store: a hung Redis costs one timeout per backoff
        # period, not one per request.
        self.link = RedisLink(url, name="budget", client=client)
        self._script = self.link.redis.register_script(_CHARGE)

    async def _run(self, key: str, cost: float) -> tuple[bool, float]:
        async def charge(_: Any) -> Any:
            return await self._script(
                keys=[self.prefix + key], args=[self.capacity, self.restore_rate, cost]
            )

        try:
            allowed, level = await self.link.run(charge)
        except StoreUnavailable:
            raise BudgetUnavailable from None
        return bool(allowed), float(level)

    async def charge(self, key: str, cost: float) -> BucketState:
        allowed, level = await self._run(key, cost)
        return BucketState(allowed, level, self.capacity, self.restore_rate, cost - level)

    async def refund(self, key: str, points: float) -> None:
        if points > 0:
            with contextlib.suppress(BudgetUnavailable):  # a lost refund errs on the strict side
                await self._run(key, -points)
