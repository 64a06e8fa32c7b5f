"""Rejection memory: what a document was refused for, remembered by a hash of its text.

A refusal that depends on the text alone — a syntax error, a pre-parse limit, the work meter,
a validation failure — is the same every time the text comes back. An attacker who replays an
expensive document, or repeats it across a batch, would otherwise make the server pay for the
whole check again each time; accepted documents are cached whole (the Guard's document cache),
rejected ones only as their errors here, never their AST. Bounded in bytes (each entry is
charged the size of its errors and its key), least recently used first out. O(1) per lookup.

>>> from gqlguard.errors import ErrorCode, GuardError
>>> memory = RejectionMemory(max_bytes=10_000)
>>> memory.remember("{ a", (GuardError(ErrorCode.GRAPHQL_PARSE_FAILED, "Syntax Error"),))
>>> [error.code.value for error in memory.recall("{ a") or ()]
['GRAPHQL_PARSE_FAILED']
>>> memory.recall("{ b }") is None
True
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Final

from .errors import GuardError

__all__ = ["RejectionMemory"]

# A digest, the OrderedDict slot and the tuple of errors, before the errors' own text.
_ENTRY_OVERHEAD: Final = 240


def _key(text: Hashable) -> bytes:
    """The query text's digest, ``id:`` + a verified persisted id (never the same key as a
    text), or either paired with a variant (a host's validation rules and parse options)."""
    if isinstance(text, str):
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    if isinstance(text, tuple) and len(text) == 2:
        first, second = text
        if first == "sha256" and isinstance(second, str):
            return b"id:" + second.encode()
        return _key(first) + b"|" + hash(second).to_bytes(8, "big", signed=True)
    raise TypeError(f"not a rejection key: {type(text).__name__}")


class RejectionMemory:
    """Errors of refused documents by hash of their text (or persisted id)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[bytes, tuple[tuple[GuardError, ...], int]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, text: Hashable) -> tuple[GuardError, ...] | None:
        if not self._entries:  # nothing refused yet: no digest to compute
            return None
        key = _key(text)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def remember(self, text: Hashable, errors: tuple[GuardError, ...]) -> None:
        size = _ENTRY_OVERHEAD + sum(len(error.message) + 64 for error in errors)
        if size > self.max_bytes:
            return
        key = _key(text)
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.bytes -= previous[1]
            self._entries[key] = (errors, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted

    def __len__(self) -> int:
        return len(self._entries)
