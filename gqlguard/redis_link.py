"""One Redis connection per event loop for a store, with the outage policy every store needs.

An asyncio Redis client belongs to the event loop it first ran on; a server that serves async
views (the main loop) and sync views (whose async stages run on gqlguard's helper loop) needs
one per loop, so the link keeps one per loop, made on first use there.

A store never lets a Redis failure escape as a 500: :meth:`RedisLink.run` raises
:class:`StoreUnavailable`, which the caller turns into its documented fallback. The outage is
logged once when it starts and once when it ends, never per request; while it lasts, calls
fail fast for ``backoff`` seconds at a time instead of each waiting for a timeout.
"""

from __future__ import annotations

import asyncio
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

        self._connect: Callable[[], Any] = lambda: redis_asyncio.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self._given = client  # a client the caller made: used as it is, on its own loop
        # A plain dict: a client holds its loop (its connections do), so a weak key would
        # never die; closed loops' clients are dropped when a client is next asked for.
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self.log = logging.getLogger(f"gqlguard.{name}")
        self.name = name
        self.backoff = backoff
        self._down_since: float | None = None
        self._retry_at = 0.0

    @property
    def redis(self) -> Any:
        """The client for the running event loop."""
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for closed in [known for known in self._clients if known.is_closed()]:
                del self._clients[closed]  # a loop per request (asgiref): no leak of them
            client = self._clients[loop] = self._connect()
        return client

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
