"""The document cache: parsed documents and what the checks learnt of them, by query text (or
verified persisted id), bounded in entries and in estimated bytes, least recently used
first out.

>>> from gqlguard.work import WorkMeter
>>> cache = DocumentCache(entries=2, max_bytes=10**6, work_budget=4000)
>>> first = cache.prepared("{ a }", cache_key("{ a }", None), {}, GuardConfig())
>>> cache.prepared("{ a }", cache_key("{ a }", None), {}, GuardConfig()) is first
True
>>> cache.forget(cache_key("{ a }", None)); cache.bytes
0
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import ASTValidationRule, DocumentNode, OperationDefinitionNode

from .analysis import Analysis, select_operation
from .authorization import Decision
from .config import GuardConfig
from .errors import ErrorCode, GuardError
from .parsing import GuardRejection, parse_document
from .schema_view import ViewKey
from .work import WorkMeter

__all__ = ["CacheKey", "DecisionKey", "DocumentCache", "PreparedDocument", "Variant", "cache_key"]

# What one cached document holds (its AST, the source text, its analysis, validation and
# decision), measured with tracemalloc over the persisted operations and GitHub/Shopify-style
# pages (bench/cache_bytes.py): about 10 kB for the entry and 360 bytes per token or comment,
# plus the text itself — within 8% of what was retained for every document measured.
_ENTRY_BYTES = 10_000
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
    validation: tuple[GuardError, ...] | None = None
    static_analyses: dict[str | None, Analysis] | None = None
    # Per operation: (values of the variables the walk read, its analysis). Same values read,
    # same walk: the analysis is reused, so a repeated variable-dependent operation is free.
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
    # The document's operations by the name the analysis resolved: selected once per
    # document, then used by variable coercion and authorization alike.
    operations: dict[str | None, OperationDefinitionNode] | None = None

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

    def prepared(
        self, query: str, key: CacheKey, parser_options: dict[str, Any], config: GuardConfig
    ) -> PreparedDocument:
        """The cached document for ``key``, or ``query`` parsed under ``config``'s pre-parse
        limits (raises :class:`GuardRejection`) and cached."""
        if not isinstance(query, str):
            raise GuardRejection(GuardError(ErrorCode.BAD_REQUEST, "The query must be a string."))
        prepared = self._entries.get(key)
        if prepared is not None:
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
        )
        with self._lock:
            raced = self._entries.get(key)
            if raced is not None:  # another thread parsed it meanwhile: one entry, one count
                return raced
            self._entries[key] = prepared
            self.bytes += prepared.size
            while self._entries and (
                len(self._entries) > self._max_entries or self.bytes > self._max_bytes
            ):
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.size
        return prepared

    def forget(self, key: CacheKey) -> None:
        """Drop a rejected document: its AST must not stay in memory (a flood of unique
        hostile documents would otherwise buy the cache's whole budget)."""
        with self._lock:
            evicted = self._entries.pop(key, None)
            if evicted is not None:
                self.bytes -= evicted.size
