"""How the demo runs Python's garbage collector: one call, made last by every app built here
(the demo, and the apps benchmarks compare it with, so they measure the guard's work, not a
difference in the collector's).

``gc.freeze()``: everything built by then lives as long as the server, and full collections
need not walk it again — a process that imports Strawberry, Starlette and pydantic holds
tens of thousands of objects before it serves anything, and under a flood of large documents
each full collection took ~50-100 ms without this (docs/benchmarks.md).

The young generation keeps Python's size (700 objects). A larger one (10,000) shortened the
flood's slowest requests a little but tripled the memory a flood of cached documents grows
the server by (31 MB instead of 11 MB at an 8 MB cache budget, bench/amplification.py's
memory table): the cycles graphql-core and Strawberry leave (their execution contexts'
bound methods) waited longer for the collector. The documents' own cycles (graphql-core's
two-way token chain) are gone: gqlguard clears the back links when a document it parsed is
freed (gqlguard/token_chain.py), so a dropped document it parsed is freed by reference
counting.

Nothing in gqlguard sets the collector: this is the demo's deployment choice, and any
long-running server can make it.
"""

from __future__ import annotations

import gc

__all__ = ["settle_collector"]


def settle_collector() -> None:
    """Freeze what is built (call once the app is built)."""
    gc.freeze()
