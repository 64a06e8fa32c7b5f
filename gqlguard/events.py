"""Security events: one shape, one logger, one place that writes them.

Every event is one JSON object on the ``gqlguard.security`` logger (stdlib logging, so it goes
wherever your handlers send it), with these keys — always present, ``null`` when unknown:

==============  =================================================================
``ts``          UTC time, ISO 8601 with milliseconds
``level``       the logging level it was written at (``warning``)
``event``       ``rejected``, ``measured``, ``unauthorized``, ``unknown_operation``,
                ``authenticate_hook_failed``, ``principal_hook_failed``,
                ``introspection_hook_failed``
``codes``       the stable error codes, a list (empty when there is none)
``request_id``  the request id (``X-Request-ID``)
``principal``   the JWT ``sub`` (or your hook's subject), ``null`` when anonymous
``client``      the client address (``trusted_proxies`` decide)
``operation``   the operation name
==============  =================================================================

and, per event, ``measured`` (code -> value), ``paths``, ``mode``, ``sha256``, ``characters``
(``measured`` events: ``metrics``, ``recorded``, ``refused``, ``exempt``). Expected events are
never logged with a traceback.

Besides the logger, a guard's ``measure_log`` (a file path, or ``-`` for standard error)
receives every event that guard writes (``measured``, ``rejected``, ``unauthorized``), whatever
level the logging configuration lets through: measure mode writes one event per
request at INFO, which an application's logging usually drops, and the calibration report needs
all of them (:class:`EventFile`).

>>> line = event_line("rejected", ["DEPTH_LIMIT_EXCEEDED"], {"request_id": "r-1"}, measured={})
>>> sorted(json.loads(line))[:5]
['characters', 'client', 'codes', 'event', 'level']
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["EventFile", "event_line", "facts_of", "security_event", "security_log"]

security_log = logging.getLogger("gqlguard.security")

_COMMON = ("request_id", "principal", "client", "operation", "sha256", "characters")


def facts_of(context: Any) -> dict[str, Any]:
    """Request id, principal and client, from a dict request context."""
    if not isinstance(context, Mapping):
        return {}
    principal = context.get("principal")
    return {
        "request_id": context.get("request_id"),
        "principal": getattr(principal, "subject", None),
        "client": context.get("client"),
    }


def event_line(
    event: str,
    codes: Sequence[str],
    facts: Mapping[str, Any] | None = None,
    *,
    level: int = logging.WARNING,
    **fields: Any,
) -> str:
    record: dict[str, Any] = {key: None for key in _COMMON}
    record.update(facts or {})
    record.update(fields)
    record["ts"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    record["level"] = logging.getLevelName(level).lower()
    record["event"] = event
    record["codes"] = list(codes)
    return json.dumps(record, sort_keys=True, default=str)


class EventFile:
    """A guard's security events, one JSON line each, appended to ``destination`` (``-``:
    standard error) for as long as one holder (a Guard) keeps this object; :meth:`open` shares
    one per destination, so two guards writing to one file never interleave half lines."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self._stream: TextIO = (
            sys.stderr
            if destination == "-"
            else open(destination, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        )
        self._owned = destination != "-"
        self._write_lock = threading.Lock()
        weakref.finalize(self, EventFile._close, self._stream, self._owned)

    @classmethod
    def open(cls, destination: str) -> EventFile:
        """The one EventFile for ``destination`` (opened now if none is)."""
        with _EVENT_FILES_LOCK:
            found = _EVENT_FILES.get(destination)
            if found is None:
                found = _EVENT_FILES[destination] = cls(destination)
            return found

    def write(self, line: str) -> None:
        with self._write_lock:
            self._stream.write(line + "\n")

    @staticmethod
    def _close(stream: TextIO, owned: bool) -> None:
        if owned:
            stream.close()


# The open EventFiles by destination, each alive while a guard holds it.
_EVENT_FILES: weakref.WeakValueDictionary[str, EventFile] = weakref.WeakValueDictionary()
_EVENT_FILES_LOCK = threading.Lock()


def security_event(
    event: str,
    codes: Sequence[str] = (),
    facts: Mapping[str, Any] | None = None,
    *,
    level: int = logging.WARNING,
    file: EventFile | None = None,
    **fields: Any,
) -> None:
    """Write one security event (see the module docstring for its shape), to the logger and
    to ``file`` (the guard's ``measure_log``), which takes it whatever the level."""
    logged = security_log.isEnabledFor(level)
    if not logged and file is None:
        return
    line = event_line(event, codes, facts, level=level, **fields)
    if logged:
        security_log.log(level, line)
    if file is not None:
        file.write(line)
