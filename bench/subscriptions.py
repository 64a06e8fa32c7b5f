"""One WebSocket connection to the demo under uvicorn (create_app), 1,000 `subscribe` messages
with hostile ones mixed in: every refusal coded, and the server's memory as the messages go —
for a Strawberry schema and for its graphql-core schema (gqlguard's own protocol handler).

Run: `.venv/bin/python bench/subscriptions.py` (part of `make bench`). Writes the "websockets"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.amplification import _rss_bytes
from bench.report import write_section
from tests.servers import serve

MESSAGES = 1_000
DEEP = "{ posts(limit: 1) {" + " author { posts(limit: 1) {" * 6 + " title" + " } }" * 6 + " } }"
# (label, document): one accepted subscription, then the hostile ones, in turn.
MIX = [
    ("accepted subscription", "subscription { countdown(start: 2) }"),
    ("too deep", DEEP),
    ("too many aliases", "{ " + " ".join(f"a{i}: __typename" for i in range(40)) + " }"),
    ("introspection", "{ __schema { types { name } } }"),
    ("unknown field", "{ posts { titel } }"),
    ("two root fields in a subscription", "subscription { countdown a: countdown }"),
]


async def run(url: str, rss: list[int], pid: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        for number in range(MESSAGES):
            label, query = MIX[number % len(MIX)]
            operation = str(number)
            await ws.send(
                json.dumps({"id": operation, "type": "subscribe", "payload": {"query": query}})
            )
            while True:
                message: dict[str, Any] = json.loads(await ws.recv())
                if message["type"] == "complete":
                    outcomes[f"{label}: completed"] += 1
                    break
                errors = (
                    message["payload"]
                    if message["type"] == "error"
                    else message["payload"].get("errors") or []
                )
                if errors:
                    codes = sorted(
                        {e.get("extensions", {}).get("code") or "NO CODE" for e in errors}
                    )
                    outcomes[f"{label}: {', '.join(codes)}"] += 1
                    if message["type"] == "error":
                        break
            if number % 200 == 199:
                rss.append(_rss_bytes(pid))
    return outcomes


DOORS = {
    "Strawberry schema (Strawberry's protocol handlers)": "schema_example.app:app",
    "graphql-core schema (gqlguard's protocol handler)": "bench.apps:graphql_core",
}


def main() -> None:
    started = time.time()
    lines = [
        "## WebSockets (bench/subscriptions.py)",
        "",
        f"One graphql-transport-ws connection to the demo under uvicorn (`create_app`), "
        f"{MESSAGES:,} `subscribe` messages: an accepted subscription and five hostile "
        "operations in turn; once per door (the demo's Strawberry schema, and its graphql-core "
        "schema with the same policies and object rules).",
    ]
    for door, app in DOORS.items():
        pids: list[int] = []
        with serve(app, env={"GQLGUARD_PERSISTED_MODE": "off"}, pids=pids) as http_url:
            url = http_url.replace("http://", "ws://")
            rss = [_rss_bytes(pids[0])]
            outcomes = asyncio.run(run(url, rss, pids[0]))
        lines += [
            "",
            f"**{door}**",
            "",
            "| operation | outcome | count |",
            "|---|---|---:|",
            *(
                f"| {key.split(': ', 1)[0]} | {key.split(': ', 1)[1]} | {count} |"
                for key, count in sorted(outcomes.items())
            ),
            "",
            "Server RSS every 200 messages: "
            + ", ".join(f"{value / 1e6:.1f} MB" for value in rss)
            + f" (first to last: {(rss[-1] - rss[0]) / 1e6:+.1f} MB).",
        ]
    lines += ["", f"_Measured in {time.time() - started:.0f} s._"]
    print(write_section("websockets", lines))


if __name__ == "__main__":
    main()
