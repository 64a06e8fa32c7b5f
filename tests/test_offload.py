"""Long texts the guard has not seen are checked off the event loop (gqlguard.offload): the
loop keeps answering other requests while such a check runs; short texts and texts the
guard holds are checked on the loop; ``offload_characters=None`` keeps every check there."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
from graphql import GraphQLObjectType, build_schema

from gqlguard import GuardConfig
from gqlguard.pacing import PACE
from gqlguard.starlette import create_app

from .conftest import PREFLIGHT

SLOW_MARK = "slow-check"  # a comment in the text that makes the check take its time
THREADS: list[str] = []
CHECKED: list[str] = []  # the salt of each marked text, in the order its check ran


def _accepted(verdict: Any, _context: Any) -> None:
    """The user's on_accept hook (public), run inside the check: notes the thread the check
    runs on, and takes 0.4 s on a text carrying the mark — a long check, whatever makes it
    long."""
    THREADS.append(threading.current_thread().name)
    document = verdict.document
    if document is not None and document.loc is not None and SLOW_MARK in document.loc.source.body:
        CHECKED.append(document.loc.source.body.rsplit(SLOW_MARK, 1)[1].strip())
        time.sleep(0.4)


def _app(**config: Any) -> Any:
    schema = build_schema("type Query { hello: String }")
    query = schema.query_type
    assert isinstance(query, GraphQLObjectType)
    query.fields["hello"].resolve = lambda *_: "hi"
    return create_app(schema, GuardConfig(persisted_mode="off", **config), on_accept=_accepted)


def _long(marked: bool, salt: str) -> str:
    return "{ hello }\n# " + ("x" * 1_200) + (SLOW_MARK if marked else "") + salt + "\n"


async def _post(http: httpx.AsyncClient, text: str) -> tuple[float, dict[str, Any]]:
    response = await http.post("/graphql", json={"query": text}, headers=PREFLIGHT)
    return time.perf_counter(), response.json()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _slow_beside_quick(app: Any, salt: str) -> tuple[float, float, list[Any]]:
    """A long marked text, then a short one while its check runs: when each was answered,
    and both answers' data."""
    async with _client(app) as http:
        slow = asyncio.create_task(_post(http, _long(True, salt)))
        await asyncio.sleep(0.05)  # the slow check has started
        quick_done, quick = await _post(http, "{ hello }")
        slow_done, slow_answer = await slow
    return quick_done, slow_done, [quick.get("data"), slow_answer.get("data")]


async def test_a_long_unseen_check_leaves_the_loop_serving_others() -> None:
    THREADS.clear()
    quick_done, slow_done, data = await _slow_beside_quick(_app(), "a")
    assert data == [{"hello": "hi"}] * 2
    assert quick_done < slow_done  # answered while the long check was still running
    assert THREADS[0].startswith("gqlguard-check")
    assert THREADS[1] == threading.main_thread().name


async def test_known_texts_and_short_texts_are_checked_on_the_loop() -> None:
    THREADS.clear()
    app = _app()
    async with _client(app) as http:
        text = _long(False, "b")
        await _post(http, "{ hello }")  # short: on the loop
        await _post(http, text)  # long, unseen: off the loop
        await _post(http, text)  # held now (the window): on the loop, from the cache
        await _post(http, "{ hello } # another short one")
    main = threading.main_thread().name
    assert [name.startswith("gqlguard-check") for name in THREADS] == [
        False,
        True,
        False,
        False,
    ]
    assert THREADS[0] == THREADS[2] == main


async def test_offload_can_be_turned_off() -> None:
    THREADS.clear()
    quick_done, slow_done, data = await _slow_beside_quick(_app(offload_characters=None), "c")
    assert data == [{"hello": "hi"}] * 2
    assert slow_done < quick_done  # the loop waited for the long check
    assert [threading.main_thread().name] * 2 == THREADS


async def test_a_refusal_off_the_loop_is_the_same_coded_answer() -> None:
    app = _app()
    async with _client(app) as http:
        text = "{ hello " + "hello " * 80 + "}\n# " + "y" * 1_200 + "\n"
        _, off = await _post(http, text)
    async with _client(_app(offload_characters=None)) as http:
        _, on = await _post(http, text)
    assert off == on
    assert off["errors"][0]["extensions"]["code"] == "WORK_LIMIT_EXCEEDED"


async def test_a_cancelled_request_keeps_its_clients_place_until_its_check_ends() -> None:
    # One client starts a long check and goes away while it runs, then sends another at
    # once; a second client's check, sent next, runs before the first client's second one.
    CHECKED.clear()
    app = _app()

    def client_at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 1234))
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    async with client_at("10.0.0.1") as attacker, client_at("10.0.0.2") as victim:
        gone = asyncio.create_task(_post(attacker, _long(True, "first")))
        await asyncio.sleep(0.1)  # its check is running on the worker
        gone.cancel()
        again = asyncio.create_task(_post(attacker, _long(True, "second")))
        await asyncio.sleep(0.05)
        await _post(victim, _long(True, "victim"))
        await again
    assert CHECKED == ["first", "victim", "second"]


PACED: list[int | None] = []


def _note_pacing(_verdict: Any, _context: Any) -> None:
    pacer = PACE.get()
    PACED.append(pacer.ticks if pacer is not None else None)


async def test_a_check_on_the_worker_is_paced_and_one_on_the_loop_is_not() -> None:
    # graphql-core's parser and the validation tick the pacer the worker sets
    # (gqlguard.pacing); on the loop, the turns put checks in order instead.
    PACED.clear()
    schema = build_schema("type Query { hello: String }")
    app = create_app(schema, GuardConfig(persisted_mode="off"), on_accept=_note_pacing)
    async with _client(app) as http:
        await _post(http, "{ " + "hello " * 40 + "}\n# " + "x" * 1_200)
        await _post(http, "{ hello }")
    ticked, on_the_loop = PACED
    assert on_the_loop is None
    # A tick per token parsed (42) and per node the validation enters (85).
    assert ticked is not None and ticked > 120
