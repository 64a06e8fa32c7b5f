"""CPU turns (gqlguard.cpu_turns) and the worker's pacing (gqlguard.pacing): who runs next
when clients contend, and that an execution stepped through turns behaves as when a task
awaits it directly (its result, its errors, its awaits, its cancellation, its context)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from gqlguard.cpu_turns import CpuTurns
from gqlguard.pacing import Pacer


def _appender(order: list[str], name: str) -> Callable[[], None]:
    return lambda: order.append(name)


async def _two_clients_took_turns(turns: CpuTurns, order: list[str]) -> None:
    await turns.run("light", _appender(order, "light 0"))
    await turns.run("flood", _appender(order, "flood 0"))


async def _asking(
    clients: tuple[str, ...],
) -> tuple[CpuTurns, list[str], list[asyncio.Task[None]]]:
    """Once two clients have taken turns (the CPU is shared), one request of each of
    ``clients``, asked in that order; the turns, what ran (in order), the requests."""
    turns = CpuTurns()
    order: list[str] = []
    await _two_clients_took_turns(turns, order)
    asked = [asyncio.create_task(turns.run(client, _appender(order, client))) for client in clients]
    return turns, order, asked


def test_an_uncontended_turn_is_taken_at_once() -> None:
    async def scenario() -> list[str]:
        turns = CpuTurns()
        order: list[str] = []
        loop = asyncio.get_running_loop()
        loop.call_soon(order.append, "next callback")
        for n in range(3):  # one client: no await, so nothing else ran in between
            await turns.run("alone", _appender(order, f"alone {n}"))
        return order

    assert asyncio.run(scenario()) == ["alone 0", "alone 1", "alone 2", "next callback"]


def test_the_next_turn_goes_to_the_client_that_used_least_cpu() -> None:
    async def scenario() -> list[str]:
        turns = CpuTurns()
        order: list[str] = []
        await _two_clients_took_turns(turns, order)
        turns.charge("flood", 1.0)  # a second of checks on the worker thread, say

        arrived: list[asyncio.Task[None]] = []

        def arrivals() -> None:
            # Requests that arrive while this turn runs: three more of the flood's, then
            # one of the light client's.
            order.append("flood 1")
            for n in range(2, 5):
                arrived.append(
                    asyncio.create_task(turns.run("flood", _appender(order, f"flood {n}")))
                )
            arrived.append(asyncio.create_task(turns.run("light", _appender(order, "light 1"))))

        await turns.run("flood", arrivals)
        await asyncio.gather(*arrived)
        return order

    assert asyncio.run(scenario()) == [
        "light 0",
        "flood 0",
        "flood 1",
        "light 1",  # before the flood's three, which had asked first
        "flood 2",
        "flood 3",
        "flood 4",
    ]


def test_a_failing_turn_gives_the_turn_back() -> None:
    async def scenario() -> str:
        turns = CpuTurns()

        def fails() -> None:
            raise ValueError("resolver bug")

        with pytest.raises(ValueError, match="resolver bug"):
            await turns.run("a", fails)
        return await turns.run("a", lambda: "ran")

    assert asyncio.run(scenario()) == "ran"


def test_a_request_cancelled_while_waiting_leaves_the_others_served() -> None:
    async def scenario() -> list[str]:
        turns, order, waiting = await _asking(("first", "cancelled", "last"))
        await asyncio.sleep(0)
        waiting[1].cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        await turns.run("after", _appender(order, "after"))
        return order

    assert asyncio.run(scenario())[2:] == ["first", "last", "after"]


# -- an execution stepped through turns -----------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


async def _execution(trace: list[str], steps: int) -> str:
    trace.append(f"context {REQUEST_ID.get()}")
    for step in range(steps):
        await asyncio.sleep(0)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, step)
        trace.append(f"step {await future}")
    return "result"


def test_a_stepped_execution_returns_what_it_returns_with_every_await_honoured() -> None:
    async def scenario() -> tuple[str, list[str]]:
        trace: list[str] = []
        REQUEST_ID.set("r-1")
        outcome = await CpuTurns().run_steps("a", _execution(trace, 3))
        return outcome, trace

    assert asyncio.run(scenario()) == ("result", ["context r-1", "step 0", "step 1", "step 2"])


def test_other_clients_run_between_the_steps_of_an_execution() -> None:
    async def scenario() -> list[str]:
        turns = CpuTurns()
        trace: list[str] = []

        async def other() -> None:
            for n in range(3):
                await turns.run("other", _appender(trace, f"other {n}"))
                await asyncio.sleep(0)

        await asyncio.gather(turns.run_steps("a", _execution(trace, 3)), other())
        return trace

    trace = asyncio.run(scenario())
    steps = [trace.index(f"step {n}") for n in range(3)]
    others = [trace.index(f"other {n}") for n in range(3)]
    assert min(others) < max(steps)  # interleaved, not one after the other
    assert len(trace) == 7


def test_a_stepped_executions_error_is_raised_unchanged() -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise KeyError("missing")

    async def scenario() -> None:
        await CpuTurns().run_steps("a", failing())

    with pytest.raises(KeyError, match="missing"):
        asyncio.run(scenario())


def test_cancelling_a_stepped_execution_cancels_what_it_awaits() -> None:
    async def scenario() -> tuple[bool, list[str]]:
        trace: list[str] = []
        blocker: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def waits() -> None:
            try:
                await blocker
            finally:
                trace.append("finally ran")

        task = asyncio.create_task(CpuTurns().run_steps("a", waits()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return blocker.cancelled(), trace

    assert asyncio.run(scenario()) == (True, ["finally ran"])


def test_an_execution_that_handles_its_cancellation_returns_as_it_would_in_a_task() -> None:
    async def handles() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)
            return "cleaned up"
        return "slept"

    async def scenario() -> tuple[str, str]:
        direct = asyncio.create_task(handles())
        stepped = asyncio.create_task(CpuTurns().run_steps("a", handles()))
        await asyncio.sleep(0.01)
        direct.cancel()
        stepped.cancel()
        return await direct, await stepped

    assert asyncio.run(scenario()) == ("cleaned up", "cleaned up")


def test_an_execution_cancelled_before_its_turn_never_starts() -> None:
    async def scenario() -> tuple[list[str], bool]:
        turns = CpuTurns()
        order: list[str] = []
        await _two_clients_took_turns(turns, order)
        trace: list[str] = []
        execution = _execution(trace, 1)
        task = asyncio.create_task(turns.run_steps("a", execution))
        await asyncio.sleep(0)  # it waits for its turn (the CPU is shared)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return trace, execution.cr_frame is None  # closed, not left to warn "never awaited"

    assert asyncio.run(scenario()) == ([], True)


def test_the_current_task_inside_a_stepped_execution_is_the_callers() -> None:
    async def scenario() -> bool:
        async def whose() -> asyncio.Task[Any] | None:
            await asyncio.sleep(0)
            return asyncio.current_task()

        return await CpuTurns().run_steps("a", whose()) is asyncio.current_task()

    assert asyncio.run(scenario())


# -- pacing ------------------------------------------------------------------------------------


def test_a_pacer_waits_while_the_loop_comes_first_and_only_between_slices() -> None:
    free = threading.Event()
    asked: list[float] = []
    comes_first = [True]

    def loop_comes_first() -> bool:
        asked.append(time.perf_counter())
        return comes_first[0]

    pacer = Pacer(loop_comes_first, free)
    for _ in range(16):
        pacer.tick()
    assert asked == []  # within its first slice: no look at the loop

    def release() -> None:
        comes_first[0] = False
        free.set()

    threading.Timer(0.03, release).start()
    time.sleep(0.002)  # a slice of work has passed
    started = time.perf_counter()
    for _ in range(16):
        pacer.tick()
    waited = time.perf_counter() - started
    assert len(asked) >= 2 and not comes_first[0]
    assert 0.02 < waited < 0.1  # it waited for the loop, not past it


def test_a_pacer_sees_the_turns_held_when_it_starts_and_after() -> None:
    # The turns keep the pacers' view of the loop only while a pacer runs: one started in
    # the middle of a lighter client's turn waits for that turn, and for the next one.
    waits: list[tuple[float, float]] = []  # (when a pause point began, when it ended)
    turns_held: list[tuple[float, float]] = []
    stop = threading.Event()

    def ticking(pacer: Pacer) -> None:
        while not stop.is_set():
            time.sleep(0.001)  # a slice of work has passed
            started = time.perf_counter()
            for _ in range(16):
                pacer.tick()
            waits.append((started, time.perf_counter()))

    def hold(seconds: float) -> None:
        started = time.perf_counter()
        time.sleep(seconds)  # the loop's thread holds the turn, the interpreter free
        turns_held.append((started, time.perf_counter()))

    async def scenario() -> None:
        turns = CpuTurns()
        turns.charge("heavy", 1.0)
        loop = asyncio.get_running_loop()
        worker: list[asyncio.Future[None]] = []

        def first_turn() -> None:
            pacer = turns.pacer("heavy")  # started while the light client holds a turn
            worker.append(loop.run_in_executor(None, ticking, pacer))
            hold(0.05)

        await turns.run("light", first_turn)
        await asyncio.sleep(0.03)  # no turn held: the worker goes on
        await turns.run("light", lambda: hold(0.05))
        stop.set()
        await worker[0]
        turns.pacing_done("heavy", 0.0)

    asyncio.run(scenario())
    for began, ended in turns_held:
        # A pause point waited through most of the turn (its start to near its end).
        assert any(
            start < began + 0.01 and end > ended - 0.01 and end - start > 0.03
            for start, end in waits
        ), (began, ended)


def test_a_timeout_inside_a_stepped_execution_is_a_timeout_as_in_a_task() -> None:
    async def times_out() -> str:
        try:
            async with asyncio.timeout(0):
                await asyncio.sleep(0)  # the cancellation lands on a bare yield
                await asyncio.sleep(1)
        except TimeoutError:
            return "timed out"
        return "finished"

    async def scenario() -> tuple[str, str]:
        direct = await asyncio.create_task(times_out())
        stepped = await CpuTurns().run_steps("a", times_out())
        return direct, stepped

    assert asyncio.run(scenario()) == ("timed out", "timed out")


def test_turns_asked_for_inside_a_stepped_execution_do_not_wait_for_it() -> None:
    # A resolver serving a request of the same app in process: its step holds the turn.
    async def scenario() -> tuple[str, str]:
        turns = CpuTurns()
        await _two_clients_took_turns(turns, [])

        async def nested() -> tuple[str, str]:
            await asyncio.sleep(0)
            first = await turns.run("inner", lambda: "ran")
            second = await turns.run_steps("inner", _execution([], 1))
            return first, second

        return await asyncio.wait_for(turns.run_steps("outer", nested()), 2)

    assert asyncio.run(scenario()) == ("ran", "result")


def test_clients_with_equal_use_are_served_in_the_order_they_asked() -> None:
    async def scenario() -> list[str]:
        _, order, asked = await _asking(("sub:zed", "ip:10.0.0.1", "sub:amy"))
        await asyncio.gather(*asked)
        return order[2:]

    assert asyncio.run(scenario()) == ["sub:zed", "ip:10.0.0.1", "sub:amy"]


def test_turns_do_not_keep_a_finished_loop_alive() -> None:
    turns = CpuTurns()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(turns.run("a", lambda: None))
    loop.close()
    finished = weakref.ref(loop)
    del loop
    gc.collect()
    assert finished() is None


@pytest.mark.parametrize("seed", range(5))
def test_under_contention_and_cancellations_every_request_is_served_once(seed: int) -> None:
    # Clients of different weights, requests arriving while others run, some cancelled at
    # random points: every request not cancelled runs once, and the turns are free after.
    import random

    chance = random.Random(seed)

    async def scenario() -> tuple[dict[str, list[int]], list[str], dict[str, list[int]]]:
        turns = CpuTurns()
        ran: dict[str, list[int]] = {"heavy": [], "light": [], "other": []}
        turns.charge("heavy", 0.5)
        tasks: list[tuple[str, int, asyncio.Task[None]]] = []

        async def request(client: str, number: int) -> None:
            await turns.run_steps(client, steps(client, number))

        async def steps(client: str, number: int) -> None:
            for _ in range(chance.randint(1, 3)):
                await asyncio.sleep(0)
            ran[client].append(number)

        for number in range(60):
            client = chance.choice(["heavy", "heavy", "light", "other"])
            tasks.append((client, number, asyncio.create_task(request(client, number))))
            if chance.random() < 0.5:
                await asyncio.sleep(0)
            if chance.random() < 0.3:
                tasks[chance.randrange(len(tasks))][2].cancel()
        await asyncio.wait_for(
            asyncio.gather(*(task for *_, task in tasks), return_exceptions=True), 5
        )
        after: list[str] = []
        await asyncio.wait_for(turns.run("late", _appender(after, "late")), 1)
        served = {
            client: [number for c, number, task in tasks if c == client and not task.cancelled()]
            for client in ran
        }
        return {client: sorted(numbers) for client, numbers in ran.items()}, after, served

    ran, after, served = asyncio.run(scenario())
    assert after == ["late"]
    for client, numbers in ran.items():
        assert numbers == served[client]  # each served once
