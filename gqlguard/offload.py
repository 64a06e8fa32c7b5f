"""Checks of long texts the guard has not seen, off the event loop.

One event loop serves every connection of an async server, in turn: a check running on it
holds every other request for its whole length. The work meter bounds that length, but a
document within every limit can still cost a few times a realistic query's check, and four
connections sending such texts would make everyone else wait behind them. So the pipeline
checks a text on the loop only when the check is short by construction — a text the guard
already holds (its document cache or its rejection memory), or one of at most
``offload_characters`` characters — and hands any other to one worker thread. There the
check is paced (gqlguard.pacing): every tenth of a millisecond it gives the interpreter back to
the loop's thread, and it waits while the loop serves a client that used less CPU lately
(gqlguard.cpu_turns), so the loop's requests are not slowed to half speed beside it. A
client waits for its own previous check before its next one starts, so however many
connections one client opens, it occupies one place in the worker's queue.

Sync doors (Flask's and Django's sync views) already check on the request's own thread:
nothing is moved for them. O(1) per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .cpu_turns import CpuTurns
from .pacing import PACE

__all__ = ["OffLoopChecks"]

T = TypeVar("T")
_Places = dict[str, tuple[asyncio.Lock, list[int]]]


class OffLoopChecks:
    """One worker thread for long unseen checks, one place in its queue per client."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._started = threading.Lock()
        # Per event loop (a lock belongs to one; a loop closed mid-check takes its map
        # along), per client: its lock and how many of its requests hold or wait on it (the
        # entry goes when that count is back to zero: the map holds only clients in flight).
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Places] = (
            weakref.WeakKeyDictionary()
        )

    def _worker(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._started:
                executor = self._executor
                if executor is None:
                    executor = self._executor = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="gqlguard-check"
                    )
        return executor

    async def run(self, client: str, check: Callable[[], T], turns: CpuTurns) -> T:
        """``check()`` on the worker thread, after ``client``'s previous one, paced
        (gqlguard.pacing: it gives way to the loop's turns of clients that come before
        ``client``, and its CPU counts in ``client``'s account). The request's context
        variables go with it. The client's place is given back when the worker is done with
        the check, not when the request stops waiting: a request cancelled (a client gone, a
        WebSocket ``complete``) cannot leave its check running and queue another beside it."""
        loop = asyncio.get_running_loop()
        places = self._loops.get(loop)
        if places is None:
            places = self._loops[loop] = {}
        entry = places.get(client)
        if entry is None:
            entry = places[client] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting for its place
            _leave(places, client, entry)
            raise
        pacer = turns.pacer(client)

        def paced() -> T:
            PACE.set(pacer)
            started = time.thread_time()
            try:
                return check()
            finally:
                pacer.cpu = time.thread_time() - started

        try:
            work = functools.partial(contextvars.copy_context().run, paced)
            future = loop.run_in_executor(self._worker(), work)
        except BaseException:
            turns.pacing_done(client, 0.0)
            lock.release()
            _leave(places, client, entry)
            raise

        def finished(done: asyncio.Future[T]) -> None:
            if not done.cancelled():
                done.exception()  # seen here, whether or not anyone still waits for it
            turns.pacing_done(client, pacer.cpu)
            lock.release()
            _leave(places, client, entry)

        future.add_done_callback(finished)
        return await asyncio.shield(future)


def _leave(places: _Places, client: str, entry: tuple[asyncio.Lock, list[int]]) -> None:
    users = entry[1]
    users[0] -= 1
    if users[0] == 0 and places.get(client) is entry:
        del places[client]
