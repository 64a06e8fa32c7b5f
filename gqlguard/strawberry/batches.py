"""What the operations of one HTTP request share under Strawberry's own views.

Strawberry's batching (``StrawberryConfig(batching_config=...)``) runs each operation of a
batch with its own extension instance, so the request is the one thing they have in common:
its policy evaluation (each policy runs once per request, as under gqlguard's pipeline) and
the count of its operations (``max_batch`` holds here too). Entries live as long as the
request object does.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ..policies import PolicyEvaluation

__all__ = ["RequestOperations", "SharedByRequest"]


class RequestOperations:
    __slots__ = ("count", "policies")

    def __init__(self) -> None:
        self.count = 0
        self.policies: PolicyEvaluation | None = None


class SharedByRequest:
    """One :class:`RequestOperations` per live request object."""

    def __init__(self) -> None:
        self._entries: dict[int, RequestOperations] = {}
        self._lock = threading.Lock()

    def of(self, native: Any) -> RequestOperations:
        """The entry of the framework's request object (a fresh one, never shared, when the
        object cannot be followed to its end)."""
        # Flask's `request` is a proxy, the same object for every request: its target is not.
        current = getattr(native, "_get_current_object", None)
        if callable(current):
            native = current()
        key = id(native)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                return found
            entry = RequestOperations()
            try:
                weakref.finalize(native, self._forget, key)
            except TypeError:  # not weakly referable: nothing to share it by
                return entry
            self._entries[key] = entry
            return entry

    def _forget(self, key: int) -> None:
        # No lock: a finalizer can run during a collection inside `of` (holding the lock);
        # one dict pop is atomic.
        self._entries.pop(key, None)
