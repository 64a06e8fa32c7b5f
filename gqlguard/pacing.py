"""Pause points for checks running on the worker thread (gqlguard.offload), so a long check
gives way to the event loop instead of sharing the interpreter with it.

Two threads of one process share the interpreter: the loop's thread lets go of it at every
system call (each socket read and write, each wait for I/O) and must then wait to take it
back until the thread holding it gives it up — the worker's check, which otherwise gives it
up only after the switch interval (5 ms). A request makes several such calls, so a long
unseen check beside it would add milliseconds to every request the loop serves. Instead,
graphql-core's parser (every token), the validation (every node, its variable-usage walks
included) and the analysis (every selection set) tick a :class:`Pacer`
when one is set for the running check (``PACE``, a context variable the worker sets); every
``_SLICE`` seconds of its work it gives the interpreter back to the loop's thread, and while
the loop holds a turn of a client that comes first (gqlguard.cpu_turns: one that used less
CPU lately), it waits. A check no one paces (on the loop, on a sync door's thread) ticks
nothing. The slice was chosen side by side, under bench/amplification.py's flood of the
worst documents: with 0.5 ms the legitimate client's median was 1.8x its median alone, with
0.1 ms 1.1-1.3x; 0.05 ms gained nothing more.

A tick is a counter; the clock is read every 16 ticks. O(1) per tick.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar

__all__ = ["PACE", "Pacer"]

_SLICE = 0.0001  # seconds of work between two pause points that give way
_WAIT_STEP = 0.005  # seconds between two looks at the loop while waiting for it
_MOST_WAITED = 0.1  # seconds a check waits at one pause point before it takes a slice anyway


class Pacer:
    """Ticked by a check's hot loops; gives way to the event loop's thread."""

    __slots__ = ("_free", "_last", "_loop_comes_first", "cpu", "ticks")

    def __init__(self, loop_comes_first: Callable[[], bool], free: threading.Event) -> None:
        self._loop_comes_first = loop_comes_first
        self._free = free
        self.ticks = 0  # pause points passed so far
        self._last = time.perf_counter()
        self.cpu = 0.0  # the check's CPU on the worker thread, for the client's account

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks & 15:
            return
        if time.perf_counter() - self._last < _SLICE:
            return
        waited = 0.0
        while waited < _MOST_WAITED and self._loop_comes_first():
            self._free.wait(_WAIT_STEP)
            waited += _WAIT_STEP
        # With the interpreter released, a loop thread waiting for it (a request's bytes
        # arrived, a callback is due) takes it now rather than at the switch interval.
        os.sched_yield()
        self._last = time.perf_counter()


PACE: ContextVar[Pacer | None] = ContextVar("gqlguard_pace", default=None)
