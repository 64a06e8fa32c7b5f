"""The document cache: parsed documents and what the checks learnt of them, by query text (or
verified persisted id), bounded in entries and in estimated bytes, least recently used
first out.

A document is kept from its second sighting on. The first waits in a window of the last
16 first sightings (a batch's copies and a check made again find it there) and leaves a
fingerprint (the key's hash, a few bytes) for a repeat that comes later. Real clients repeat
their texts, so they pay at most one more check per text; a flood of texts that never
repeat — unique hostile or merely unusual ones — neither evicts the documents clients repeat
nor fills the process with parsed documents that the garbage collector must walk at every
full collection (bench/amplification.py measures both).

>>> cache = DocumentCache(entries=2, max_bytes=10**6, work_budget=4000)
>>> first = cache.prepared("{ a }", cache_key("{ a }", None), {}, GuardConfig())
>>> cache.prepared("{ a }", cache_key("{ a }", None), {}, GuardConfig()) is first
True
>>> def prepared(text):
...     return cache.prepared(text, cache_key(text, None), {}, GuardConfig())
>>> early = prepared("{ b }")
>>> for n in range(20):  # first sightings only: the window keeps the last 16
...     _ = prepared(f"{{ a{n} }}")
>>> prepared("{ b }") is early  # out of the window: parsed again (its fingerprint: kept now)
False
>>> prepared("{ b }") is prepared("{ b }")
True
>>> held = cache.bytes; cache.forget(cache_key("{ b }", None)); cache.bytes < held
True
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from graphql import ASTValidationRule, DocumentNode, OperationDefinitionNode

from .analysis import Analysis, select_operation
from .authorization import Decision
from .config import GuardConfig
from .errors import ErrorCode, GuardError
from .parsing import GuardRejection, parse_document
from .schema_view import ViewKey
from .work import WorkMeter

if TYPE_CHECKING:
    from .guard import Verdict

__all__ = [
    "ANALYSES_PER_OPERATION",
    "KINDS_PER_DOCUMENT",
    "NOT_GIVEN",
    "CacheKey",
    "DecisionKey",
    "DocumentCache",
    "PreparedDocument",
    "Variant",
    "_Store",
    "_errors_bytes",
    "_names_bytes",
    "_read_bytes",
    "cache_key",
    "same_value",
]

# What one cached document holds, measured with tracemalloc over the persisted operations and
# GitHub/Shopify-style pages (bench/cache_bytes.py): about 3.2 kB for the entry (the token
# chain's watch entry, gqlguard/token_chain.py, included) and 360 bytes per token or comment,
# plus the text itself; what its checks learn of it afterwards — its analyses, the
# coordinates and policies its operations need, a decision, an analysis and a validation per
# kind of principal, accepted verdicts kept for repeats (900 bytes each: its key and its
# kind's sets) — is counted as it is kept (_STORES), 3.5-8 kB for a document's first check
# (docs/benchmarks.md gives the spread over every document measured; the estimate is never
# under what one holds).
_ENTRY_BYTES = 3_200
_ACCEPTED_BYTES = 750
# The kinds of principal (authenticated or not, relevant scopes, granted policies) a
# document keeps accepted verdicts for: the few that send most of the traffic.
_ACCEPTED_KINDS = 4
# The kinds of principal (or views of the schema) a document keeps its decisions, analyses
# and validations for; a later kind has them worked out again at each request.
KINDS_PER_DOCUMENT: Final = 64
# The variable-dependent analyses an operation keeps (by the values its walk read), the
# oldest replaced; values of more than _MAX_READ_BYTES are never kept: a request's own
# variables must not become memory the server holds after it.
ANALYSES_PER_OPERATION: Final = 16
_MAX_READ_BYTES = 1_024
# A variable the request did not give, among the values a walk read.
NOT_GIVEN: Final = object()
_MIN_FINGERPRINTS = 4096
_WINDOW = 16
_UNSEEN = object()
_BYTES_PER_TOKEN = 360

# What a decision depends on: the operation and the kind of principal (authenticated, the
# scopes and the policies any rule reads).
DecisionKey = tuple[str | None, bool, frozenset[str], frozenset[str]]


@dataclass(slots=True)
class PreparedDocument:
    """One parsed document and what was learnt of it (cached with it: a replay pays only
    for what its variables or its principal change)."""

    document: DocumentNode
    tokens: int
    comments: int
    size: int  # estimated bytes held, for the cache's byte budget
    # The document's work so far (tokens, first analysis, validation); it is charged until
    # the document is validated, then a cached document costs nothing more to read.
    meter: WorkMeter
    key: CacheKey  # what the cache holds it by: what it learns later is counted there
    validation: tuple[GuardError, ...] | None = None
    static_analyses: dict[str | None, Analysis] | None = None
    # Same values read, same walk: the analysis is reused, so a repeated variable-dependent
    # operation is free.
    # Per operation: (values of the variables the walk read, its analysis).
    variable_analyses: (
        dict[str | None, list[tuple[tuple[tuple[str, Any], ...], Analysis]]] | None
    ) = None
    decisions: dict[DecisionKey, Decision] | None = None
    # Per principal kind, the (variable-free) analysis of the document as it may know it.
    seen: dict[DecisionKey, Analysis] | None = None
    # With hidden fields: per view of the schema, the validation against it.
    view_validations: dict[ViewKey, tuple[GuardError, ...]] | None = None
    # Per operation, the (parent type, field) coordinates it selects.
    coordinates: dict[str | None, frozenset[tuple[str, str]]] | None = None
    # Per operation, the policies a decision on those coordinates can read.
    policies_needed: dict[str | None, frozenset[str]] | None = None
    # The document's operations by the name the analysis resolved: selected once per
    # document, then used by variable coercion and authorization alike.
    operations: dict[str | None, OperationDefinitionNode] | None = None
    # Per operation and kind of principal: the verdict of an accepted check that nothing of
    # a request but its variables and policies could change (gqlguard.guard's
    # ``_repeated``), so a repeat skips the stages that would only find it again.
    accepted: dict[DecisionKey, Verdict] | None = None

    def operation(self, name: str | None) -> OperationDefinitionNode:
        operations = self.operations
        if operations is None:
            operations = self.operations = {}
        found = operations.get(name)
        if found is None:
            found = operations[name] = select_operation(self.document, name, None)[0]
        return found


# Per-call validation rules and parse options (a host's), when they are not the guard's own.
Variant = tuple[()] | tuple[tuple[type[ASTValidationRule], ...], tuple[tuple[str, Any], ...]]
CacheKey = str | tuple[str, str] | tuple[str | tuple[str, str], Variant]


def cache_key(query: str, document_id: str | None, variant: Variant = ()) -> CacheKey:
    """The query text, or ("sha256", hex) for a verified persisted id — a tuple, so no query
    text can ever name a persisted entry; with a host's rules or parse options, paired with
    them (a document validated under one set of rules says nothing about another)."""
    base: str | tuple[str, str] = ("sha256", document_id) if document_id is not None else query
    return (base, variant) if variant else base


class DocumentCache:
    """Prepared documents by :func:`cache_key`; ``bytes`` is what they are estimated to hold."""

    def __init__(self, entries: int, max_bytes: int, work_budget: int) -> None:
        self._entries: OrderedDict[CacheKey, PreparedDocument] = OrderedDict()
        self._max_entries = entries
        self._max_bytes = max_bytes
        self._work_budget = work_budget
        self._lock = threading.Lock()
        self.bytes = 0
        # First sightings, newest last: at most _WINDOW documents, counted in ``bytes``.
        self._window: OrderedDict[CacheKey, PreparedDocument] = OrderedDict()
        # Fingerprints of keys seen once (not kept yet), oldest first; a few bytes each.
        self._seen_once: OrderedDict[int, None] = OrderedDict()
        self._max_seen_once = max(2 * entries, _MIN_FINGERPRINTS)

    def prepared(
        self, query: str, key: CacheKey, parser_options: dict[str, Any], config: GuardConfig
    ) -> PreparedDocument:
        """The cached document for ``key``, or ``query`` parsed under ``config``'s pre-parse
        limits (raises :class:`GuardRejection`) and cached."""
        if not isinstance(query, str):
            raise GuardRejection(GuardError(ErrorCode.BAD_REQUEST, "The query must be a string."))
        prepared = self._entries.get(key)
        if prepared is not None:
            with self._lock:  # least recently used first out: a hit is recent again
                if key in self._entries:
                    self._entries.move_to_end(key)
            return prepared
        with self._lock:
            prepared = self._window.get(key)
            if prepared is not None:  # the second sighting, soon after the first: kept
                _evicted = self._keep(key, prepared)  # freed after the lock, on return
                return prepared
        document, scan = parse_document(
            query,
            max_characters=config.max_characters,
            max_tokens=config.max_tokens,
            max_comments=config.max_comments,
            parser_options=parser_options,
            work_budget=self._work_budget,
        )
        meter = WorkMeter(self._work_budget)
        meter.charge("tokens", scan.tokens + scan.comments)
        prepared = PreparedDocument(
            document,
            scan.tokens,
            scan.comments,
            _ENTRY_BYTES + _BYTES_PER_TOKEN * (scan.tokens + scan.comments) + len(query),
            meter,
            key,
        )
        with self._lock:
            raced = self._entries.get(key) or self._window.get(key)
            if raced is not None:  # another thread parsed it meanwhile: one entry, one count
                return raced
            fingerprint = hash(key)
            if self._seen_once.pop(fingerprint, _UNSEEN) is not _UNSEEN:
                # Seen before, longer ago than the window holds.
                _evicted = self._keep(key, prepared)  # freed after the lock, on return
                return prepared
            self._seen_once[fingerprint] = None
            if len(self._seen_once) > self._max_seen_once:
                self._seen_once.popitem(last=False)
            # A first sighting waits in the window: a batch's copies, a check made again
            # (async policies, a host's own rules) and a client's quick repeat find it.
            self._window[key] = prepared
            self.bytes += prepared.size
            if len(self._window) > _WINDOW:
                _, evicted = self._window.popitem(last=False)
                self.bytes -= evicted.size
            _evicted = self._evict()  # freed after the lock, on return
        return prepared

    def _keep(self, key: CacheKey, prepared: PreparedDocument) -> list[PreparedDocument]:
        """Admit ``prepared`` (its bytes counted once, from the window or anew); returns
        what it evicted (see ``_evict``)."""
        self._seen_once.pop(hash(key), None)
        self._entries[key] = prepared
        if self._window.pop(key, None) is None:  # else counted when it entered the window
            self.bytes += prepared.size
        return self._evict()

    def _evict(self) -> list[PreparedDocument]:
        """Evict down to the bounds; returns the evicted entries, for the caller to hold
        until it releases the lock: freeing a document (its token chain released,
        gqlguard/token_chain.py) is work no other thread need wait for."""
        evicted: list[PreparedDocument] = []
        # The window's documents go first: none of them has proved it will come again.
        while self._window and self.bytes > self._max_bytes:
            evicted.append(self._window.popitem(last=False)[1])
            self.bytes -= evicted[-1].size
        while self._entries and (
            len(self._entries) > self._max_entries or self.bytes > self._max_bytes
        ):
            evicted.append(self._entries.popitem(last=False)[1])
            self.bytes -= evicted[-1].size
        return evicted

    def keep_learnt(
        self, prepared: PreparedDocument, store: _Store, key: Hashable, value: Any
    ) -> None:
        """Keep what a check learnt of ``prepared`` in one of its stores, its key and value
        counted in ``bytes`` as it is kept (``_STORES``). Per kind of principal: ``accepted``
        for the first ``_ACCEPTED_KINDS`` kinds, never replaced (a later kind is checked in
        full); ``decisions``, ``seen`` and ``view_validations`` for ``KINDS_PER_DOCUMENT``,
        the oldest replaced and its bytes given back. Per operation (``static_analyses``,
        ``coordinates``, ``policies_needed``): one for each the document has."""
        size_of, most, replaces = _STORES[store]
        kept: dict[Hashable, Any] | None = getattr(prepared, store)
        if kept is not None and not replaces and most is not None and len(kept) >= most:
            return  # full for good: no lock to take
        with self._lock:
            kept = getattr(prepared, store)
            if kept is None:
                kept = {}
                setattr(prepared, store, kept)
            if key in kept:
                return
            size = _KEY_BYTES + size_of(value)
            if most is not None and len(kept) >= most:
                if not replaces:
                    return
                size -= _KEY_BYTES + size_of(kept.pop(next(iter(kept))))
            kept[key] = value
            _evicted = self._grow(prepared, size)  # freed after the lock, on return

    def keep_variable_analysis(
        self,
        prepared: PreparedDocument,
        operation_name: str | None,
        read: tuple[tuple[str, Any], ...],
        analysis: Analysis,
    ) -> None:
        """Keep a variable-dependent analysis by the values its walk ``read`` (a list: the
        values need not be hashable): at most ``ANALYSES_PER_OPERATION`` per operation, the
        oldest replaced (its bytes given back); never when the values are larger than
        ``_MAX_READ_BYTES`` (see ``_read_bytes``)."""
        size = _variable_analysis_bytes(read, analysis)
        if size is None:
            return
        with self._lock:
            if prepared.variable_analyses is None:
                prepared.variable_analyses = {}
            entries = prepared.variable_analyses.setdefault(operation_name, [])
            if len(entries) >= ANALYSES_PER_OPERATION:
                given_back = _variable_analysis_bytes(*entries.pop(0))
                size -= given_back or 0
            entries.append((read, analysis))
            _evicted = self._grow(prepared, size)  # freed after the lock, on return

    def _grow(self, prepared: PreparedDocument, size: int) -> list[PreparedDocument]:
        """``prepared`` holds ``size`` bytes more (or fewer); counted in ``bytes`` while the
        cache holds it. Called with the lock held; returns what it evicted (``_evict``)."""
        prepared.size += size
        key = prepared.key
        if self._entries.get(key) is prepared or self._window.get(key) is prepared:
            self.bytes += size
            return self._evict()
        return []

    def holds(self, key: CacheKey) -> bool:
        """Whether ``key``'s document is here (kept, or waiting in the window)."""
        return key in self._entries or key in self._window

    def forget(self, key: CacheKey) -> None:
        """Drop a rejected document: its AST must not stay in memory (a flood of unique
        hostile documents would otherwise buy the cache's whole budget)."""
        with self._lock:
            evicted = self._entries.pop(key, None) or self._window.pop(key, None)
            if evicted is not None:
                self.bytes -= evicted.size


# A kept entry's key and its slot in the store's dict: a (operation, kind) tuple whose sets
# are shared (Authorizer.decision_key), or an operation's name.
_KEY_BYTES = 150


def _analysis_bytes(analysis: Analysis) -> int:
    """What a kept analysis holds: ~700 bytes measured (bench/cache_bytes.py), more with a
    cost breakdown or problems (an error each, with what it names)."""
    return 720 + 200 * len(analysis.cost_breakdown) + 400 * len(analysis.problems)


def _decision_bytes(decision: Decision) -> int:
    """What a kept decision holds: ~50 bytes when it denies nothing; else ~500, and per
    denied node, root selection, path and coordinate (measured: 730 bytes for one denied
    field beside an allowed one, 1,850 for ten)."""
    if not decision.denied:
        return 120
    return (
        500
        + 70 * len(decision.denied)
        + 55 * len(decision.root_keys)
        + 55 * len(decision.paths)
        + 30 * len(decision.fields)
    )


def _errors_bytes(errors: tuple[GuardError, ...]) -> int:
    """What a kept tuple of errors holds: each error's object, message and locations
    (measured: ~440 bytes for a tuple of one masked error)."""
    return 100 + sum(400 + len(error.message) for error in errors)


def _names_bytes(names: frozenset[Any]) -> int:
    """What a kept set of coordinates or policy names holds (~290 bytes for one, measured;
    ~100 more for each coordinate, a new (type, field) tuple in the set's table)."""
    return 300 + 100 * len(names)


def _read_bytes(read: tuple[tuple[str, Any], ...]) -> int | None:
    """What the values a walk read hold, counted generously (64 bytes a value, strings by
    their length); None past ``_MAX_READ_BYTES`` or for a value of another kind than JSON's:
    such an analysis is not kept."""
    budget = _MAX_READ_BYTES
    pending: list[Any] = [value for _, value in read]
    counted = 64 * len(read)
    while pending:
        value = pending.pop()
        counted += 64
        if isinstance(value, str):  # up to 4 bytes a character beyond ASCII
            counted += len(value) if value.isascii() else 4 * len(value)
        elif isinstance(value, Mapping | list | tuple):
            if counted + 64 * len(value) > budget:  # never copies a large value to walk it
                return None
            pending.extend(value.keys() if isinstance(value, Mapping) else ())
            pending.extend(value.values() if isinstance(value, Mapping) else value)
        elif isinstance(value, int):
            counted += value.bit_length() // 8
        elif not (value is None or value is NOT_GIVEN or isinstance(value, float)):
            return None
        if counted > budget:
            return None
    return counted


def _variable_analysis_bytes(read: tuple[tuple[str, Any], ...], analysis: Analysis) -> int | None:
    """A kept variable-dependent analysis: its values, the analysis and its slot; None when
    the values are not to be kept."""
    held = _read_bytes(read)
    return None if held is None else _KEY_BYTES + _analysis_bytes(analysis) + held


def same_value(given: Any, kept: Any) -> bool:
    """Whether a request's variable value is one a kept analysis read, as the analysis tells
    values apart: by type too (to Python ``1 == True``, to the analysis a size and a flag)."""
    if type(given) is not type(kept):
        return False
    if isinstance(kept, dict):
        return given.keys() == kept.keys() and all(
            same_value(given[name], value) for name, value in kept.items()
        )
    if isinstance(kept, list | tuple):
        return len(given) == len(kept) and all(
            same_value(item, value) for item, value in zip(given, kept, strict=True)
        )
    return bool(given == kept)


# The stores of a PreparedDocument that DocumentCache.keep_learnt fills: per store, what an
# entry holds beside its key, how many it keeps (per kind of principal; per operation, no
# more than the document has) and whether a new one then takes the oldest one's place.
_Store = Literal[
    "accepted",
    "decisions",
    "seen",
    "view_validations",
    "static_analyses",
    "coordinates",
    "policies_needed",
]
_STORES: Final[dict[str, tuple[Callable[[Any], int], int | None, bool]]] = {
    "accepted": (lambda _: _ACCEPTED_BYTES, _ACCEPTED_KINDS, False),
    "decisions": (_decision_bytes, KINDS_PER_DOCUMENT, True),
    "seen": (_analysis_bytes, KINDS_PER_DOCUMENT, True),
    "view_validations": (_errors_bytes, KINDS_PER_DOCUMENT, True),
    "static_analyses": (_analysis_bytes, None, False),
    "coordinates": (_names_bytes, None, False),
    "policies_needed": (_names_bytes, None, False),
}
