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

from .analysis import plain_number
from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection
from .redis_link import RedisLink, StoreUnavailable

__all__ = [
    "BucketState",
    "BudgetGate",
    "BudgetStore",
    "BudgetUnavailable",
    "MemoryBudget",
    "RedisBudget",
    "rate_limit_headers",
    "store_for",
]


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

    async def _run(self, key: str, cost: float) -> tuple[bool, float]:
        async def charge(redis: Any) -> Any:
            # Registered on the running loop's client (a local sha1; EVALSHA, EVAL once).
            script = redis.register_script(_CHARGE)
            return await script(
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


_DRAINED_CLIENTS = 10_000


class BudgetGate:
    """The budget as a request meets it, per client key: refused before its body is read once
    drained, rejections charged, the estimate charged before execution, the difference to
    the actual cost refunded after."""

    def __init__(self, store: BudgetStore, config: GuardConfig) -> None:
        self.store = store
        self.config = config
        # Clients seen draining their bucket (bounded): only these are looked up before their
        # body is read when the budget lives in a shared store.
        self._drained: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def for_config(cls, config: GuardConfig, store: BudgetStore | None = None) -> BudgetGate | None:
        store = store if store is not None else store_for(config)
        return cls(store, config) if store is not None else None

    async def refuse_spent(self, key: str) -> None:
        """A client whose bucket is empty (less than one point) is refused before its
        documents are even parsed: once a flood of hostile documents has drained it, each
        further request costs the server one bucket lookup."""
        if not self.config.budget_rejection_charge:
            return
        if not isinstance(self.store, MemoryBudget) and key not in self._drained:
            # A shared store costs a round trip: it is only asked about clients this process
            # saw drain their bucket (every charge still enforces the budget exactly).
            return
        try:
            state = await self.store.charge(key, 0.0)
        except BudgetUnavailable:
            return  # charge() applies budget_on_store_error
        if state.available >= 1.0:
            self._drained.pop(key, None)
            return
        wait = BucketState(
            False, state.available, state.capacity, state.restore_rate, 1.0 - state.available
        )
        raise GuardRejection(
            GuardError(
                ErrorCode.RATE_LIMITED,
                "The cost budget is spent; retry later.",
                limit=max(0, math.floor(state.available)),  # as X-RateLimit-Remaining says
            ),
            {"Retry-After": str(wait.retry_after)},
        )

    async def charge_rejection(self, key: str) -> None:
        """A rejected request draws ``budget_rejection_charge`` points: hostile floods are
        throttled like expensive ones. Best effort: the rejection stands either way."""
        if not self.config.budget_rejection_charge:
            return
        with contextlib.suppress(BudgetUnavailable):
            # Drains what is left when the bucket cannot pay the whole charge, so a flood
            # empties it and is then refused before parsing (refuse_spent).
            left = (await self.store.charge(key, 0.0)).available
            charge = min(self.config.budget_rejection_charge, left)
            await self.store.charge(key, charge)
            if left - charge < 1.0:
                self._drained[key] = None
                while len(self._drained) > _DRAINED_CLIENTS:
                    self._drained.popitem(last=False)

    async def charge(self, key: str, estimated: float) -> BucketState | None:
        try:
            state = await self.store.charge(key, estimated)
        except BudgetUnavailable:
            if self.config.budget_on_store_error == "open":
                return None
            raise GuardRejection(
                GuardError(ErrorCode.RATE_LIMITED, "Rate limiting is unavailable; retry later."),
                {"Retry-After": "1"},
            ) from None
        if not state.allowed:
            raise GuardRejection(
                GuardError(
                    ErrorCode.RATE_LIMITED,
                    "The cost budget is spent; retry later.",
                    measured=plain_number(estimated),
                    limit=max(0, math.floor(state.available)),  # as X-RateLimit-Remaining says
                ),
                {
                    "Retry-After": str(state.retry_after),
                    **rate_limit_headers(state, state.available),
                },
            )
        return state

    async def refund(self, key: str, amount: float) -> None:
        await self.store.refund(key, amount)


# Which cost the budget spent (field_cost, type_cost): what max_cost counts, the larger.
COUNTED_HEADER = "X-RateLimit-Cost-Counted"


def rate_limit_headers(state: BucketState, available: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(plain_number(state.capacity)),
        "X-RateLimit-Remaining": str(max(0, math.floor(available))),
        "X-RateLimit-Reset": str(
            math.ceil((state.capacity - available) / state.restore_rate)
            if state.restore_rate and available < state.capacity
            else 0
        ),
    }


def store_for(config: GuardConfig) -> BudgetStore | None:
    if config.budget_capacity is None:
        return None
    if config.budget_store == "redis":
        return RedisBudget(
            config.redis_url,
            config.budget_capacity,
            config.budget_restore_rate,
            prefix=config.budget_key_prefix,
        )
    return MemoryBudget(config.budget_capacity, config.budget_restore_rate)
