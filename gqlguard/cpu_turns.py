"""The event loop's CPU, shared out between clients by least recent use.

One event loop serves every connection of an async server, in the order its callbacks become
ready: a client that keeps four requests in flight gets four turns for every one a client
sending one request at a time gets, and that one request waits behind all four. So the
pipeline's CPU-bound stages — the check, and each step of an execution between two awaits —
take a turn here first, and when several clients want one, it goes to the client that has
used the least CPU lately (least attained service; what a client used halves every second).
A client sending one request at a time then waits for the turn in progress, not for
everything a flooding client has queued; the flooding client is served when no one lighter
waits (it is slowed down, never refused: refusing is the budget's work).

A turn covers computation only. An execution gives its turn back at every await (its
resolvers' I/O, a database call), so requests waiting on I/O keep running side by side as
before; only their CPU-bound steps are put in order.

Uncontended — one client at a time, however many requests it sends — a turn is taken at once,
with no await. Within ``_SHARED_FOR`` seconds of two clients taking turns one after the
other, a turn that falls free is given out a few loop iterations later (``_SETTLE_HOPS``): a
request whose bytes arrived while the last turn ran needs those iterations to be read and to
ask, and it must be among the askers when the turn is given. Equal use: the earlier asker
first. O(clients waiting) per turn; the memory holds clients in flight and those whose
recent use has not yet decayed away (swept every few hundred turns).

Code that runs inside a stepped execution and asks for a turn again (a resolver serving a
request of the same app in process) runs at once: the step it runs in holds the turn.

Long unseen checks run on a worker thread (gqlguard.offload) without a turn: they are paced
(gqlguard.pacing) — they give the interpreter back to the loop's thread every tenth of a
millisecond and wait while the loop holds a turn of a client lighter than theirs — and
their CPU counts in their client's account when they end.

Sync doors (WSGI, Django's sync views) run each request on its own thread: the interpreter
shares the CPU between threads, and these turns are not used there.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, TypeVar

from .pacing import Pacer

__all__ = ["CpuTurns"]

T = TypeVar("T")

_HALF_LIFE = 1.0  # seconds for a client's recent CPU use to count half
_SHARED_FOR = 0.1  # seconds after another client's turn during which turns are given out in order
_SETTLE_HOPS = 3  # loop iterations between a turn falling free and its next holder being chosen
_FORGET_BELOW = 1e-4  # seconds of decayed use under which a client idle in this loop is forgotten
_PRUNE_EVERY = 256  # turns between two sweeps of forgotten clients


class _Usage:
    """One client's recent CPU use (decayed) and its requests waiting for a turn."""

    __slots__ = ("seconds", "stamp", "waiting")

    def __init__(self, now: float) -> None:
        self.seconds = 0.0
        self.stamp = now
        # (the order it asked in, the future its request waits on)
        self.waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def at(self, now: float) -> float:
        return self.seconds * math.pow(0.5, (now - self.stamp) / _HALF_LIFE)

    def add(self, now: float, seconds: float) -> None:
        self.seconds = self.at(now) + seconds
        self.stamp = now


class _LoopTurns:
    """The turns of one event loop (only its own thread touches them, but for the two
    values a worker thread's pacer reads)."""

    def __init__(self) -> None:
        self._clients: dict[str, _Usage] = {}
        self._queued: dict[str, _Usage] = {}  # the clients with requests waiting
        self._held_by: str | None = None
        self._asked = 0  # requests that ever waited (their order)
        self._choosing = False
        self._last_client: str | None = None
        self._shared_until = 0.0
        self._accounted = 0
        # Read by the worker thread's pacers: set while no turn is held; the holder's
        # recent use while one is. Kept only while a pacer runs (an Event costs a lock to
        # set or clear, twice per turn), brought up to date when one starts.
        self._free = threading.Event()
        self._free.set()
        self._pacing = 0
        self._holder_usage = 0.0
        # The waiter granted the turn whose task has not run yet.
        self._promised: asyncio.Future[None] | None = None

    def _usage(self, client: str, now: float) -> _Usage:
        usage = self._clients.get(client)
        if usage is None:
            usage = self._clients[client] = _Usage(now)
        return usage

    def _use(self, client: str, now: float) -> float:
        usage = self._clients.get(client)
        return usage.at(now) if usage is not None else 0.0

    def _grant(self, client: str, now: float) -> None:
        self._held_by = client
        self._holder_usage = self._use(client, now)
        if self._pacing:
            self._free.clear()

    def pacer(self, client: str) -> Pacer:
        """A pacer for ``client``'s check on the worker thread: it gives way while the loop
        holds a turn of a client that used less CPU lately than ``client`` had when the check
        was handed over."""
        own = self._use(client, time.monotonic())
        free = self._free
        self._pacing += 1
        if self._held_by is None:
            free.set()
        else:
            free.clear()

        def loop_comes_first() -> bool:
            return not free.is_set() and self._holder_usage < own

        return Pacer(loop_comes_first, free)

    def pacing_done(self, client: str, seconds: float) -> None:
        """A paced check ended, having used ``seconds`` of CPU on the worker thread."""
        self._pacing -= 1
        self.charge(client, seconds)

    def charge(self, client: str, seconds: float, now: float | None = None) -> None:
        """Count CPU ``client`` used (in a turn, or on the worker thread)."""
        if now is None:
            now = time.monotonic()
        self._usage(client, now).add(now, seconds)
        self._accounted += 1
        if self._accounted % _PRUNE_EVERY == 0:
            self._forget_idle(now)

    def take_now(self, client: str) -> bool:
        """Take the free turn at once, if no one else may want it: True when taken."""
        now = time.monotonic()
        if self._held_by is not None:
            promised = self._promised
            if promised is None or self._use(client, now) >= self._holder_usage:
                return False
            # Granted to a request whose task has not run yet, and this client is lighter.
            self._promised = None
            self._grant(client, now)
            return True
        if self._queued:
            # Lighter than every client waiting (a request between two of its steps, say):
            # it would be chosen anyway.
            if self._use(client, now) >= self._lightest(now)[1]:
                return False
        elif self._choosing or now < self._shared_until:
            return False  # clients are taking turns: each is given, in order, to the lightest
        self._grant(client, now)
        return True

    async def take(self, client: str) -> None:
        """Wait for a turn (granted to the lightest waiting client). A turn granted to a
        request whose task has not run yet goes to a lighter client that asks first: the
        request waits again, in its place."""
        usage = self._usage(client, time.monotonic())
        self._asked += 1
        place = self._asked
        again = False
        while True:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (place, waiter)
            if again:  # it was its client's first asker when chosen: first again
                usage.waiting.appendleft(entry)
            else:
                usage.waiting.append(entry)
            self._queued[client] = usage
            if self._held_by is None:
                self._choose_soon()
            try:
                await waiter
            except BaseException:
                if self._promised is waiter:  # granted, but its request is gone: pass it on
                    self._promised = None
                    self.give_back(client, 0.0)
                elif entry in usage.waiting:  # else passed over, or its turn taken
                    usage.waiting.remove(entry)
                    if not usage.waiting:
                        self._queued.pop(client, None)
                raise
            if self._promised is waiter:
                self._promised = None
                return
            again = True  # a lighter client took the turn before this task ran: wait again

    def give_back(self, client: str, seconds: float) -> None:
        now = time.monotonic()
        self.charge(client, seconds, now)
        self._held_by = None
        if self._pacing:
            self._free.set()
        if self._last_client not in (None, client):  # two clients in a row: it is shared
            self._shared_until = now + _SHARED_FOR
        self._last_client = client
        if self._queued:
            if not self._choosing and self._lightest(now)[1] < self._clients[client].at(now):
                # A client lighter than the one just served waits: no newcomer can gain
                # much on it, so no iterations are spent letting newcomers ask.
                self._choose()
            else:
                self._choose_soon()

    def _choose_soon(self, hops: int = _SETTLE_HOPS) -> None:
        if self._choosing and hops == _SETTLE_HOPS:
            return
        self._choosing = True
        loop = asyncio.get_running_loop()
        if hops > 1:
            loop.call_soon(self._choose_soon, hops - 1)
        else:
            loop.call_soon(self._choose)

    def _choose(self) -> None:
        self._choosing = False
        now = time.monotonic()
        while self._held_by is None and self._queued:
            lightest = self._lightest(now)[0]
            usage = self._queued[lightest]
            _, waiter = usage.waiting.popleft()
            if not usage.waiting:
                del self._queued[lightest]
            if waiter.done():  # cancelled, its task not yet told: the next one
                continue
            self._grant(lightest, now)
            self._promised = waiter
            waiter.set_result(None)

    def _lightest(self, now: float) -> tuple[str, float]:
        """The waiting client with the least recent use (the earliest asker among equals),
        and that use."""
        client, usage = min(
            self._queued.items(), key=lambda item: (item[1].at(now), item[1].waiting[0][0])
        )
        return client, usage.at(now)

    def _forget_idle(self, now: float) -> None:
        idle = [
            client
            for client, usage in self._clients.items()
            if not usage.waiting and client != self._held_by and usage.at(now) < _FORGET_BELOW
        ]
        for client in idle:
            del self._clients[client]


# The CpuTurns whose stepped execution the running code is inside (its step holds a turn).
_STEPPING: ContextVar[CpuTurns | None] = ContextVar("gqlguard_stepping", default=None)


class CpuTurns:
    """Turns on the CPU for the pipeline's CPU-bound stages, per event loop."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTurns] = (
            weakref.WeakKeyDictionary()
        )
        # The loop asked for last and its turns: a server runs one loop, asked per request.
        self._recent: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopTurns] | None = None

    def _here(self) -> _LoopTurns:
        loop = asyncio.get_running_loop()
        recent = self._recent
        if recent is not None and recent[0]() is loop:
            return recent[1]
        turns = self._loops.get(loop)
        if turns is None:
            turns = self._loops[loop] = _LoopTurns()
        self._recent = (weakref.ref(loop), turns)
        return turns

    async def run(self, client: str, work: Callable[[], T]) -> T:
        """``work()`` in one turn of ``client``'s."""
        if _STEPPING.get() is self:
            return work()
        turns = self._here()
        if not turns.take_now(client):
            await turns.take(client)
        started = time.perf_counter()
        try:
            return work()
        finally:
            turns.give_back(client, time.perf_counter() - started)

    def pacer(self, client: str) -> Pacer:
        """For a check of ``client``'s handed to the worker thread (see :class:`_LoopTurns`);
        call on the loop, and :meth:`pacing_done` when the check ends."""
        return self._here().pacer(client)

    def pacing_done(self, client: str, seconds: float) -> None:
        """A paced check of ``client``'s ended, having used ``seconds`` of CPU off the
        loop; call on the loop."""
        self._here().pacing_done(client, seconds)

    def charge(self, client: str, seconds: float) -> None:
        """Count ``seconds`` of CPU ``client`` used off the loop; call on the loop."""
        self._here().charge(client, seconds)

    async def run_steps(self, client: str, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` with each of its steps — the code between two awaits — in a
        turn of ``client``'s. What it waits for, and how a cancellation reaches it, are as
        when a task awaits it directly."""
        if _STEPPING.get() is self:
            return await coroutine
        turns = self._here()
        inside = _STEPPING.set(self)
        try:
            return await self._steps(turns, client, coroutine)
        finally:
            _STEPPING.reset(inside)

    @staticmethod
    async def _steps(turns: _LoopTurns, client: str, coroutine: Coroutine[Any, Any, T]) -> T:
        thrown: BaseException | None = None
        started = False
        while True:
            held = thrown is None and turns.take_now(client)
            if thrown is None and not held:
                try:
                    await turns.take(client)
                    held = True
                except asyncio.CancelledError as cancelled:
                    if not started:
                        coroutine.close()
                        raise
                    thrown = cancelled  # it reaches the coroutine at once, as in a task
            began = time.perf_counter()
            try:
                yielded = coroutine.send(None) if thrown is None else coroutine.throw(thrown)
            except StopIteration as finished:
                result: T = finished.value
                return result
            finally:
                started = True
                thrown = None
                if held:
                    turns.give_back(client, time.perf_counter() - began)
            thrown = await _waited(yielded)


async def _waited(yielded: Any) -> BaseException | None:
    """Wait for what one step of a coroutine yielded, as an asyncio task would: a future of
    this loop it awaits (its result is for the coroutine to read), or nothing (a bare yield).
    Returns what the task would throw into the coroutine next, if anything: a cancellation
    that came while waiting and could not reach it through the future (a task cancels the
    future it waits on, and the coroutine sees that), or the error for a yield a task does
    not accept."""
    if yielded is None:
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError as cancelled:
            return cancelled
        return None
    loop = asyncio.get_running_loop()
    if not getattr(yielded, "_asyncio_future_blocking", False):
        return RuntimeError(f"bad yield in a coroutine stepped by gqlguard: {yielded!r}")
    if yielded.get_loop() is not loop:
        return RuntimeError(f"{yielded!r} is attached to a different loop")
    yielded._asyncio_future_blocking = False
    while True:
        done: asyncio.Future[None] = loop.create_future()

        def wake(_: Any, done: asyncio.Future[None] = done) -> None:
            if not done.done():
                done.set_result(None)

        yielded.add_done_callback(wake)
        try:
            await done
            return None
        except asyncio.CancelledError as cancelled:
            yielded.remove_done_callback(wake)
            if yielded.done() or not yielded.cancel(*cancelled.args[:1]):
                return cancelled
            # The future is cancelled now; the coroutine sees it when the future is done.
            if yielded.done():
                return None
