"""A pytest plugin that appends gqlguard's ``GuardExtension`` to every ``strawberry.Schema``.

Loaded with ``-p conformance.strawberry_plugin`` before Strawberry's suite imports its test
modules, it wraps ``strawberry.Schema.__init__`` so that every schema a test builds carries a
``GuardExtension`` after the test's own extensions — what a user adding gqlguard to an
existing app does. ``CONFORMANCE_CONFIG`` picks the configuration (not a ``GQLGUARD_``
name: ``GuardConfig`` refuses unknown ones):

- ``off`` (the default): every limit off (:func:`limits_off`); what stays is what gqlguard does
  whatever the limits: its security choices (listed, with their reasons, in
  conformance/strawberry_by_design.txt) and its coexistence with Strawberry.
- ``defaults``: ``GuardConfig()`` as a new user gets it.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import strawberry
from strawberry.schema.schema import Schema

from gqlguard.config import OPTIONAL_LIMITS, GuardConfig
from gqlguard.strawberry import GuardExtension


def limits_off() -> GuardConfig:
    """Every limit off, and so no cost report in ``extensions``; the policies (CSRF
    prevention, introspection, masking, suggestions, hidden names) stay as they default."""
    return GuardConfig(**dict.fromkeys(OPTIONAL_LIMITS), report_cost=False)


def configuration() -> GuardConfig:
    chosen = os.environ.get("CONFORMANCE_CONFIG", "off")
    if chosen == "defaults":
        return GuardConfig()
    if chosen == "off":
        return limits_off()
    raise SystemExit(f"CONFORMANCE_CONFIG must be 'off' or 'defaults', not {chosen!r}")


_CONFIG = configuration()
_original_init = Schema.__init__


@functools.wraps(_original_init)
def _guarded_init(self: Schema, *args: Any, **kwargs: Any) -> None:
    extensions = list(kwargs.get("extensions") or ())
    kwargs["extensions"] = [*extensions, GuardExtension(_CONFIG)]
    _original_init(self, *args, **kwargs)


Schema.__init__ = _guarded_init  # type: ignore[method-assign]
assert strawberry.Schema is Schema
