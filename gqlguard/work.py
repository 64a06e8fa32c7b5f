"""The work meter: one deterministic count of pre-execution work per document, with a budget.

A limit on what a document *says* (depth, aliases, fields) does not bound what checking it
*costs*: graphql-core's field-merge rule compares every pair of fields that share a response
name, through fragments and nested selections, and a document inside every limit can ask it
for hundreds of thousands of comparisons. So every stage that reads a document charges one
meter in units of roughly equal CPU — a lexical token read, a selection the analysis visits, a
field comparison of graphql-core's merge rule (its own complexity units) — and the first charge
past the budget refuses the document with ``WORK_LIMIT_EXCEEDED``. The budget is derived from
the limits (:func:`work_budget`): the check of a document is bounded by construction, whatever
its shape, not by a list of shapes someone thought of.

Charges are counts, never clock readings: the same document costs the same units on every
machine, so a verdict never depends on load. O(1) per charge.

>>> meter = WorkMeter(10)
>>> meter.charge("tokens", 6)
>>> meter.remaining
4
>>> try:
...     meter.charge("analysis", 5)
... except GuardRejection as rejection:
...     print(rejection.error.code, rejection.error.extra)
WORK_LIMIT_EXCEEDED {'stage': 'analysis'}
"""

from __future__ import annotations

from typing import Final

from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection

__all__ = ["FIELD_MERGING", "UNITS_PER_TOKEN", "WorkMeter", "work_budget", "work_exceeded"]

# The stage graphql-core's field-merge rule charges (checked before parsing too: parsing.py).
FIELD_MERGING: Final = "field merging"

# The budget per lexical token the configuration allows. Calibrated on the demo's persisted
# operations and large queries of the kind public APIs document (bench/work.py): the largest
# legitimate document spends at most a quarter of the budget its token limit buys.
UNITS_PER_TOKEN: Final = 4
# Without a token limit there is nothing to derive a budget from: graphql-core's own budget
# for its field-merge rule stands.
_UNLIMITED_BUDGET: Final = 500_000


def work_budget(config: GuardConfig) -> int:
    """The units one document may spend before it runs: ``max_work`` when set, else
    :data:`UNITS_PER_TOKEN` per token ``max_tokens`` allows."""
    if config.max_work is not None:
        return config.max_work
    if config.max_tokens is None:
        return _UNLIMITED_BUDGET
    return max(UNITS_PER_TOKEN * config.max_tokens, UNITS_PER_TOKEN)


def work_exceeded(stage: str, spent: int, budget: int) -> GuardError:
    return GuardError(
        ErrorCode.WORK_LIMIT_EXCEEDED,
        "The query is too expensive to check.",
        measured=spent,
        limit=budget,
        extra={"stage": stage},
    )


class WorkMeter:
    """Units spent on one document, stage by stage, against one budget."""

    __slots__ = ("budget", "spent", "stages")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.spent = 0
        self.stages: dict[str, int] = {}

    @property
    def remaining(self) -> int:
        return self.budget - self.spent

    def copy(self) -> WorkMeter:
        """A meter with this one's count so far, counting on its own from here."""
        twin = WorkMeter(self.budget)
        twin.spent = self.spent
        twin.stages = dict(self.stages)
        return twin

    def charge(self, stage: str, units: int) -> None:
        """Add ``units`` to ``stage``; past the budget, refuse the document."""
        self.spent += units
        self.stages[stage] = self.stages.get(stage, 0) + units
        if self.spent > self.budget:
            raise GuardRejection(work_exceeded(stage, self.spent, self.budget))
