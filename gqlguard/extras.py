"""Optional dependencies: the core needs graphql-core and pydantic only; each adapter or store
that needs more names the extra to install, in one line, when it is missing.

>>> str(missing("redis", "The Redis store"))
"The Redis store needs the 'redis' extra: pip install 'gqlguard[redis]'"
"""

from __future__ import annotations

__all__ = ["missing"]


def missing(extra: str, what: str) -> ImportError:
    """The error to raise (``from`` the original ImportError) when ``extra`` is not installed."""
    return ImportError(f"{what} needs the '{extra}' extra: pip install 'gqlguard[{extra}]'")
