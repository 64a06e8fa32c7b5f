"""How the demo runs Python's garbage collector: one call, made last by every app built here
(the demo, and the apps benchmarks compare it with, so they measure the guard's work, not a
difference in the collector's).

- ``gc.freeze()``: everything built by then lives as long as the server; full collections
  need not walk it again.
- A young generation of 10,000 objects (Python's default: 700). Serving one request makes
  and drops thousands of objects — graphql-core's parser and executor leave reference cycles
  (its token chain, its executor's bound methods) that only the collector frees. With 700,
  the collector runs several times inside every large request, and the request's objects,
  still alive then, are promoted until a full collection — under a flood of large documents,
  pauses of 25-65 ms every second or so, which land in every other client's latency.
  bench/amplification.py measures the flood both ways (docs/benchmarks.md).

Nothing in gqlguard sets the collector: these are the demo's deployment choices, and any
long-running server can make them.
"""

from __future__ import annotations

import gc

__all__ = ["settle_collector"]

YOUNG_GENERATION = 10_000


def settle_collector() -> None:
    """Freeze what is built and size the young generation (call once the app is built)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, middle, old)
