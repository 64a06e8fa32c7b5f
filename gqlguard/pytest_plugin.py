"""pytest plugin (registered through the ``pytest11`` entry point): the ``gqlguard_fuzz``
fixture. Hypothesis is imported only when a test asks for the fixture.

    def test_my_api_survives_hostile_requests(gqlguard_fuzz):
        gqlguard_fuzz(schema, GuardConfig(max_depth=8))
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def gqlguard_fuzz() -> Callable[..., None]:
    """``fuzz(schema, config=None, *, app=None, max_examples=200, ...)`` from gqlguard.testing."""
    from .testing import fuzz

    return fuzz


__all__ = ["gqlguard_fuzz"]
