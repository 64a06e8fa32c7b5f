"""One event loop on a daemon thread, for the coroutine stages a synchronous hook must wait
for (the persisted lookup, the budget: their stores may be Redis). One loop per extension,
so a Redis client, which belongs to the loop it first ran on, is always used on the same
one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["HelperLoop"]

T = TypeVar("T")


class HelperLoop:
    """Started on first use; its thread is a daemon (it never keeps a process alive)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the helper loop and wait for its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(work, self._started()).result()

    def _started(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._lock:
                loop = self._loop
                if loop is None:
                    loop = asyncio.new_event_loop()
                    threading.Thread(
                        target=loop.run_forever, name="gqlguard-helper-loop", daemon=True
                    ).start()
                    self._loop = loop
        return loop
