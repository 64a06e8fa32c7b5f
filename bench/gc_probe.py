"""The demo app with the server's garbage collections counted (bench/amplification.py).

Served in place of ``schema_example.app:app`` under the no-budget flood: ``GET /gc-stats``
answers, as JSON, how many collections of each generation the server has made and the CPU
they took, so the benchmark can say what part of a flood's cost is the collector walking
the heap (the document cache's parsed documents included), not the guard's checks.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

from schema_example.app import app as demo_app

_collections: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started: list[float] = []


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.process_time())
    elif _started:
        _collections[info["generation"]].append(time.process_time() - _started.pop())


gc.callbacks.append(_timed)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/gc-stats":
        body = json.dumps(
            {
                str(generation): [len(times), sum(times), max(times, default=0.0)]
                for generation, times in _collections.items()
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    await demo_app(scope, receive, send)
