"""The hand-over of one checked operation from gqlguard's pipeline to Strawberry.

Strawberry's ``schema.execute`` takes query text only, so the pipeline's executor cannot pass
the verified document and verdict as arguments. It sets them in a ``ContextVar`` around that
one call — never in the GraphQL context, which the user's code and data can write — and the
schema's ``GuardExtension`` takes them when Strawberry asks it for the call's extension.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..execution import Execution

__all__ = ["handing_over", "take_handed_over"]

_HANDED_OVER: ContextVar[Execution | None] = ContextVar("gqlguard_execution", default=None)


@contextmanager
def handing_over(execution: Execution | None) -> Iterator[None]:
    """Within the block, the next ``schema.execute`` on this task runs ``execution``."""
    token = _HANDED_OVER.set(execution)
    try:
        yield
    finally:
        _HANDED_OVER.reset(token)


def take_handed_over() -> Execution | None:
    """The execution handed over for this call, once: a ``schema.execute`` nested in a
    resolver is checked on its own."""
    execution = _HANDED_OVER.get()
    if execution is not None:
        _HANDED_OVER.set(None)
    return execution
