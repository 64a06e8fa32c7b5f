"""Persisted queries: APQ, ``documentId`` and safelisting, in front of every other check.

Request forms (Apollo-compatible):

- APQ: ``extensions.persistedQuery = {"version": 1, "sha256Hash": "<64 lowercase hex>"}``,
  with or without ``query``; by POST, or by GET with ``extensions`` JSON-encoded.
- ``documentId: "sha256:<64 lowercase hex>"`` (trusted documents), by POST or GET.

Modes (``persisted_mode``):

==============  ===========================================================================
``off``         raw queries only; any id is ``PERSISTED_QUERY_NOT_SUPPORTED``
``apq``         raw queries; ids from the safelist or from APQ registrations; an unknown id
                is ``PERSISTED_QUERY_NOT_FOUND`` (the APQ client resends it with its query)
``log_unknown`` as ``apq``, and every raw query that is not in the safelist is logged
``safelist``    only safelisted ids run: a raw query is ``PERSISTED_QUERY_ID_REQUIRED``, an
                unknown id ``PERSISTED_QUERY_NOT_IN_LIST``; APQ registrations never count
==============  ===========================================================================

An id sent with a query must be the sha256 of that query (else ``HASH_MISMATCH``, 400, the
query neither runs nor is stored). A malformed id or version is 400 ``BAD_REQUEST``. An APQ
registration is stored only after the query passed every check (the adapter calls
:meth:`PersistedQueries.register` once the verdict is in). Every persisted-query error is
answered with ``Cache-Control: private, no-cache, must-revalidate``.

Stores: a manifest file is the safelist (read-only, ids verified against bodies at load);
APQ registrations live apart, in a bounded in-memory LRU or in Redis with a TTL. With Redis,
the safelist is the hash ``<prefix>safelist`` (``gqlguard manifest push``); while Redis is
unreachable, safelist lookups fall back to the local manifest (if configured), APQ lookups
miss (``PERSISTED_QUERY_NOT_FOUND``), registrations are skipped, and the outage is logged
once.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection
from .events import facts_of, security_event
from .manifest import SHA256_HEX, Manifest, sha256_hex
from .redis_link import RedisLink, StoreUnavailable

__all__ = [
    "NO_CACHE_HEADERS",
    "LocalStore",
    "Lookup",
    "PersistedQueries",
    "PersistedQueryError",
    "PersistedStore",
    "RedisStore",
]


NO_CACHE_HEADERS = {"Cache-Control": "private, no-cache, must-revalidate"}
# Apollo clients recognise these two by message as well as by code.
_MESSAGES = {
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: "PersistedQueryNotFound",
    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED: "PersistedQueryNotSupported",
    ErrorCode.PERSISTED_QUERY_HASH_MISMATCH: "The query does not match its sha256 hash.",
    ErrorCode.PERSISTED_QUERY_NOT_IN_LIST: "This operation is not in the safelist.",
    ErrorCode.PERSISTED_QUERY_ID_REQUIRED: "Send a persisted operation id, not a query.",
}


class PersistedQueryError(GuardRejection):
    """A persisted-query request the stage refuses; its status comes from the one table
    (``HTTP_STATUS``), and it is never cached by anyone."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(GuardError(code, message or _MESSAGES[code]), dict(NO_CACHE_HEADERS))


def _bad(message: str) -> PersistedQueryError:
    return PersistedQueryError(ErrorCode.BAD_REQUEST, message)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What to run: the query text, its verified sha256 when known, and whether to store it
    as an APQ registration once it has passed every check."""

    query: str
    document_id: str | None = None
    register: bool = False


class PersistedStore(Protocol):
    async def safelisted(self, sha256: str) -> str | None: ...
    async def registered(self, sha256: str) -> str | None: ...
    async def register(self, sha256: str, body: str) -> None: ...


class LocalStore:
    """The embedded default: a manifest safelist and an in-memory APQ LRU."""

    def __init__(
        self,
        manifest: Manifest | None = None,
        apq_max_entries: int = 1_000,
        apq_max_bytes: int = 4_000_000,
    ) -> None:
        self.manifest = manifest
        self.apq_max_entries = apq_max_entries
        self.apq_max_bytes = apq_max_bytes
        self._apq: OrderedDict[str, str] = OrderedDict()
        self._apq_bytes = 0
        self._lock = threading.Lock()

    async def safelisted(self, sha256: str) -> str | None:
        return self.safelisted_now(sha256)

    def safelisted_now(self, sha256: str) -> str | None:
        operation = self.manifest.by_id.get(sha256) if self.manifest is not None else None
        return operation.body if operation is not None else None

    async def registered(self, sha256: str) -> str | None:
        with self._lock:
            body = self._apq.get(sha256)
            if body is not None:
                self._apq.move_to_end(sha256)
            return body

    async def register(self, sha256: str, body: str) -> None:
        if self.apq_max_entries == 0:
            return
        with self._lock:
            previous = self._apq.pop(sha256, None)
            if previous is not None:
                self._apq_bytes -= len(previous)
            self._apq[sha256] = body
            self._apq_bytes += len(body)
            # Bounded in entries and in characters: large bodies cannot buy memory.
            while self._apq and (
                len(self._apq) > self.apq_max_entries or self._apq_bytes > self.apq_max_bytes
            ):
                _, evicted = self._apq.popitem(last=False)
                self._apq_bytes -= len(evicted)


class RedisStore:
    """Shared by every replica: safelist in one Redis hash, APQ entries as keys with a TTL."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "gqlguard:pq:",
        apq_ttl: int = 86_400,
        fallback: LocalStore | None = None,
        client: Any = None,
    ) -> None:
        self.link = RedisLink(url, name="persisted", client=client)
        self.prefix = prefix
        self.apq_ttl = apq_ttl
        self.fallback = fallback

    @property
    def safelist_key(self) -> str:
        return f"{self.prefix}safelist"

    async def safelisted(self, sha256: str) -> str | None:
        try:
            found = await self.link.run(lambda redis: redis.hget(self.safelist_key, sha256))
        except StoreUnavailable:
            return self.fallback.safelisted_now(sha256) if self.fallback is not None else None
        return _text(found)

    async def registered(self, sha256: str) -> str | None:
        try:
            return _text(await self.link.run(lambda redis: redis.get(self._apq_key(sha256))))
        except StoreUnavailable:
            return None

    async def register(self, sha256: str, body: str) -> None:
        # While Redis is down the query still runs; the client registers again on its next miss.
        with contextlib.suppress(StoreUnavailable):
            await self.link.run(
                lambda redis: redis.set(self._apq_key(sha256), body, ex=self.apq_ttl)
            )

    async def push(self, manifest: Manifest) -> int:
        """Replace the safelist with ``manifest`` atomically (``gqlguard manifest push``)."""
        staging = f"{self.safelist_key}:staging"
        entries = {op.id: op.body for op in manifest.operations}

        async def replace(redis: Any) -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.delete(staging)
                if entries:
                    pipe.hset(staging, mapping=entries)
                    pipe.rename(staging, self.safelist_key)
                else:
                    pipe.delete(self.safelist_key)
                await pipe.execute()

        await self.link.run(replace)
        return len(entries)

    def _apq_key(self, sha256: str) -> str:
        return f"{self.prefix}apq:{sha256}"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def store_from_config(config: GuardConfig) -> PersistedStore:
    manifest = Manifest.load(config.persisted_manifest) if config.persisted_manifest else None
    local = LocalStore(manifest, config.persisted_apq_max_entries, config.persisted_apq_max_bytes)
    if config.persisted_store == "redis":
        return RedisStore(
            config.redis_url,
            prefix=config.persisted_key_prefix,
            apq_ttl=config.persisted_apq_ttl,
            fallback=local,
        )
    return local


class PersistedQueries:
    """The persisted-query stage: turns a request's id or query into the text to check."""

    def __init__(self, config: GuardConfig, store: PersistedStore | None = None) -> None:
        self.config = config
        self.mode = config.persisted_mode
        if store is None and self.mode != "off":
            store = store_from_config(config)
        self.store = store
        if self.mode == "safelist" and store is None:
            raise ValueError("safelist mode needs a store (set persisted_manifest)")

    async def lookup(
        self,
        query: Any,
        extensions: Any = None,
        document_id: Any = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> Lookup:
        """The query to run, or :class:`PersistedQueryError`. Never touches the store for a
        malformed request."""
        requested = _requested_id(extensions, document_id)
        if requested is None:
            return await self._raw(query, context)
        if self.mode == "off":
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED)
        sha256, form = requested
        if query is not None:
            if not isinstance(query, str):
                raise _bad("`query` must be a string.")
            if sha256_hex(query) != sha256:
                raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_HASH_MISMATCH)
        store = self.store
        assert store is not None  # every mode but off has one
        body = await store.safelisted(sha256)
        if body is not None:
            return Lookup(body, sha256)
        if self.mode == "safelist":
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_IN_LIST)
        if query is not None:
            self._log_unknown(sha256, query, context)
            return Lookup(query, sha256, register=form == "apq")
        body = await store.registered(sha256)
        if body is None:
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_FOUND)
        self._log_unknown(sha256, body, context)
        return Lookup(body, sha256)

    async def register(self, lookup: Lookup) -> None:
        """Store an APQ registration; call only once the query passed every check."""
        if lookup.register and lookup.document_id is not None and self.store is not None:
            await self.store.register(lookup.document_id, lookup.query)

    async def _raw(self, query: Any, context: Mapping[str, Any] | None) -> Lookup:
        if not isinstance(query, str):
            raise _bad("`query` must be a string.")
        if self.mode == "safelist":
            raise PersistedQueryError(ErrorCode.PERSISTED_QUERY_ID_REQUIRED)
        if self.mode == "log_unknown" and self.store is not None:
            sha256 = sha256_hex(query)
            if await self.store.safelisted(sha256) is None:
                self._log_unknown(sha256, query, context)
                return Lookup(query)
            return Lookup(query, sha256)
        return Lookup(query)

    def _log_unknown(self, sha256: str, query: str, context: Mapping[str, Any] | None) -> None:
        # Whatever form it came in (raw, APQ registration or hit, documentId of its own
        # hash), an operation outside the safelist is logged in log_unknown mode.
        if self.mode == "log_unknown":
            security_event(
                "unknown_operation", (), facts_of(context), sha256=sha256, characters=len(query)
            )


def _requested_id(extensions: Any, document_id: Any) -> tuple[str, str] | None:
    """(sha256, form) named by the request, checked for shape; None for a raw query."""
    persisted = extensions.get("persistedQuery") if isinstance(extensions, Mapping) else None
    from_apq: str | None = None
    if persisted is not None:
        if not isinstance(persisted, Mapping):
            raise _bad("`extensions.persistedQuery` must be an object.")
        version = persisted.get("version")
        if type(version) is not int or version != 1:
            raise _bad("Unsupported persisted query version.")
        from_apq = persisted.get("sha256Hash")
        if not isinstance(from_apq, str) or not SHA256_HEX.fullmatch(from_apq):
            raise _bad("`sha256Hash` must be 64 lowercase hexadecimal characters.")
    from_document_id: str | None = None
    if document_id is not None:
        if not isinstance(document_id, str) or not document_id.startswith("sha256:"):
            raise _bad('`documentId` must be "sha256:" and 64 lowercase hex characters.')
        from_document_id = document_id.removeprefix("sha256:")
        if not SHA256_HEX.fullmatch(from_document_id):
            raise _bad('`documentId` must be "sha256:" and 64 lowercase hex characters.')
    if from_apq is not None and from_document_id is not None and from_apq != from_document_id:
        raise _bad("`documentId` and `extensions.persistedQuery` name different documents.")
    if from_apq is not None:
        return from_apq, "apq"
    if from_document_id is not None:
        return from_document_id, "document_id"
    return None
