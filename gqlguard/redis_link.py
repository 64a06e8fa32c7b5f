"""One Redis connection shared by a store, with the outage policy every store needs.

A store never lets a Redis failure escape as a 500: :meth:`RedisLink.run` raises
:class:`StoreUnavailable`, which the caller turns into its documented fallback. The outage is
logged once when it starts and once when it ends, never per request; while it lasts, calls
fail fast for ``backoff`` seconds at a time instead of each waiting for a timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .extras import missing

__all__ = ["RedisLink", "StoreUnavailable"]

T = TypeVar("T")


class StoreUnavailable(Exception):
    """Redis did not answer; the caller applies its failure policy."""


class RedisLink:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        client: Any = None,
        timeout: float = 0.5,
        backoff: float = 1.0,
    ) -> None:
        try:
            from redis import asyncio as redis_asyncio
        except ImportError as error:  # pragma: no cover - depends on the installed extras
            raise missing("redis", f"The Redis {name} store") from error

        self.redis: Any = client or redis_asyncio.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self.log = logging.getLogger(f"gqlguard.{name}")
        self.name = name
        self.backoff = backoff
        self._down_since: float | None = None
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def run(self, call: Callable[[Any], Awaitable[T]]) -> T:
        from redis.exceptions import RedisError

        if self._down_since is not None and time.monotonic() < self._retry_at:
            raise StoreUnavailable
        try:
            result = await call(self.redis)
        except (RedisError, OSError) as error:
            if self._down_since is None:  # the outage is logged once, not once per request
                self.log.error("%s store unreachable: %s", self.name, type(error).__name__)
                self._down_since = time.monotonic()
            self._retry_at = time.monotonic() + self.backoff
            raise StoreUnavailable from None
        if self._down_since is not None:
            self.log.warning(
                "%s store reachable again after %.1f s",
                self.name,
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        return result
