"""One event loop on a daemon thread, for the coroutine stages a synchronous hook must wait
for (the persisted lookup, the budget: their stores may be Redis). One loop per extension,
so a Redis client, which belongs to the loop it first ran on, is always used on the same
one."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..http import RunHere

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

    def drive(self, work: Callable[[RunHere], Awaitable[T]]) -> T:
        """Run ``work(run_here)`` on the helper loop while this thread waits — and serves:
        each piece ``work`` hands to ``run_here`` runs here, on the calling thread (a sync
        view's, where its framework, its ORM and the user's hooks belong), its result or
        exception sent back to the loop."""
        loop = self._started()
        pieces: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )

        async def run_here(piece: Callable[[], Any]) -> Any:
            future: asyncio.Future[Any] = loop.create_future()
            pieces.put((piece, future))
            return await future

        async def whole() -> T:
            return await work(run_here)

        done = asyncio.run_coroutine_threadsafe(whole(), loop)
        done.add_done_callback(lambda _: pieces.put(None))
        while (next_piece := pieces.get()) is not None:
            piece, future = next_piece
            try:
                value = piece()
            except Exception as error:  # handed back: the pipeline decides what it means
                loop.call_soon_threadsafe(_settle, future, None, error)
            except BaseException:
                # KeyboardInterrupt, SystemExit (a worker's timeout): the request ends here,
                # on its own thread; the helper loop only drops its half.
                loop.call_soon_threadsafe(future.cancel)
                done.cancel()
                raise
            else:
                loop.call_soon_threadsafe(_settle, future, value, None)
        return done.result()

    @staticmethod
    def run_in_place(work: Callable[[RunHere], Awaitable[T]]) -> T:
        """Run ``work`` to its end on this thread, with no event loop: for a pipeline that
        waits on nothing (in-memory stores, synchronous policies), every piece runs here
        as it comes, without a hop to the helper loop (a sync view's request stays on its
        thread, and outside any loop, where Django's ORM expects it)."""

        async def in_place(piece: Callable[[], Any]) -> Any:
            return piece()

        async def whole() -> T:
            return await work(in_place)

        coroutine = whole()
        try:
            while True:
                waited_on = coroutine.send(None)
                if waited_on is not None:  # a future needs a loop: not this pipeline's case
                    coroutine.close()
                    raise RuntimeError("run_in_place: the pipeline waited on a future")
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]

    def _started(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or not loop.is_running():
            with self._lock:
                loop = self._loop
                if loop is None or not loop.is_running():
                    loop = asyncio.new_event_loop()
                    threading.Thread(
                        target=loop.run_forever, name="gqlguard-helper-loop", daemon=True
                    ).start()
                    self._loop = loop
        return loop


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
