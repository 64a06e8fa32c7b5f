"""The static limits: one row per protection, all with the same shape.

Each limit reads one metric of an :class:`~gqlguard.analysis.Analysis`, compares it with one
``max_*`` option of :class:`~gqlguard.config.GuardConfig` (inclusive: equal passes) and
rejects with one stable code. Adding a protection is adding a row. O(number of limits).

>>> from gqlguard.config import GuardConfig
>>> [limit.option for limit in LIMITS][:3]
['max_depth', 'max_aliases', 'max_directives']
>>> LIMITS[0].check(11, GuardConfig(max_depth=10)).code
<ErrorCode.DEPTH_LIMIT_EXCEEDED: 'DEPTH_LIMIT_EXCEEDED'>
>>> LIMITS[0].check(10, GuardConfig(max_depth=10)) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import Analysis, StopRule, plain_number
from .config import GuardConfig
from .errors import ErrorCode, GuardError

__all__ = ["LIMITS", "Limit", "early_stop", "exceeded_limits", "limited_costs"]


@dataclass(frozen=True, slots=True)
class Limit:
    metric: str
    option: str
    code: ErrorCode
    message: str

    def limit_of(self, config: GuardConfig) -> float | None:
        value: float | None = getattr(config, self.option)
        return value

    def check(self, measured: float, config: GuardConfig) -> GuardError | None:
        limit = self.limit_of(config)
        if limit is None or measured <= limit:
            return None
        return self.error(measured, limit)

    def error(self, measured: float, limit: float) -> GuardError:
        return GuardError(
            self.code, self.message, measured=plain_number(measured), limit=plain_number(limit)
        )


LIMITS: tuple[Limit, ...] = (
    Limit("depth", "max_depth", ErrorCode.DEPTH_LIMIT_EXCEEDED, "Query is too deep."),
    Limit("aliases", "max_aliases", ErrorCode.ALIAS_LIMIT_EXCEEDED, "Query has too many aliases."),
    Limit(
        "directives",
        "max_directives",
        ErrorCode.DIRECTIVE_LIMIT_EXCEEDED,
        "Query has too many directives.",
    ),
    Limit("fields", "max_fields", ErrorCode.FIELD_LIMIT_EXCEEDED, "Query selects too many fields."),
    Limit(
        "root_fields",
        "max_root_fields",
        ErrorCode.FIELD_LIMIT_EXCEEDED,
        "Query selects too many root fields.",
    ),
    Limit("cost", "max_cost", ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE, "Query is too expensive."),
    Limit(
        "introspection_depth",
        "max_introspection_depth",
        ErrorCode.DEPTH_LIMIT_EXCEEDED,
        "Introspection is too deep.",
    ),
    Limit(
        "introspection_cost",
        "max_introspection_cost",
        ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
        "Introspection is too expensive.",
    ),
)


def limited_costs(config: GuardConfig) -> tuple[str, ...]:
    """The costs ``max_cost`` bounds: ``field_cost`` (resolver runs), ``type_cost``
    (objects produced), or both (the default)."""
    applies_to = config.cost_limit_applies_to
    return ("field_cost", "type_cost") if applies_to == "both" else (applies_to,)


def budget_charge(field_cost: float, type_cost: float, config: GuardConfig) -> tuple[float, str]:
    """What a cost budget spends on one operation, and which cost that is: what
    ``max_cost`` counts (the larger of the two when it counts both), so a request for a
    thousand scalar-only objects is as dear to the budget as to the limit."""
    counted = {"field_cost": field_cost, "type_cost": type_cost}
    name = max(limited_costs(config), key=lambda cost: counted[cost])
    return counted[name], name


def exceeded_limits(
    analysis: Analysis, config: GuardConfig, *, measured: bool = False, every: bool = False
) -> list[GuardError]:
    """Every enforced limit the analysis is over, in table order (one error per row); with
    ``measured``, those of ``config.measure_limits`` instead (logged, never refused); with
    ``every``, all of them (an exempt document's, logged)."""
    errors = []
    measuring = config.measure_limits
    for limit in LIMITS:
        if not every and (limit.option in measuring) is not measured:
            continue
        bound: float | None = getattr(config, limit.option)
        if bound is None:
            continue
        if limit.metric != "cost":
            value: float = getattr(analysis, limit.metric)
            if value > bound:
                errors.append(limit.error(value, bound))
            continue
        for cost in limited_costs(config):
            value = getattr(analysis, cost)
            if value > bound:
                error = limit.error(value, bound)
                error.extra["counted"] = cost
                errors.append(error)
                break
    return errors


def early_stop(config: GuardConfig) -> StopRule | None:
    """The rule that ends the analysis walk as soon as a part of the document is already over
    ``max_fields`` or ``max_cost`` (the metrics fragment spreads can grow exponentially);
    None when neither is limited. Every path that enforces limits uses this one rule, so
    they agree on what a document measures and which limits it is over."""
    costs = limited_costs(config)
    inf = float("inf")
    measuring = config.measure_limits  # measured limits must be measured whole
    max_fields = (
        inf if config.max_fields is None or "max_fields" in measuring else config.max_fields
    )
    max_cost = inf if config.max_cost is None or "max_cost" in measuring else config.max_cost
    max_field_cost = max_cost if "field_cost" in costs else inf
    max_type_cost = max_cost if "type_cost" in costs else inf
    if config.mode != "enforce" or max_fields == max_field_cost == max_type_cost == inf:
        return None

    def stop(
        depth: int,
        aliases: int,
        fields: int,
        directives: int,
        field_cost: float,
        type_cost: float,
    ) -> bool:
        # All three only grow as the walk goes up, so a part over a limit is final (the walk
        # stops checking cost once a list size of 0 or a @skip can zero a subtree).
        return fields > max_fields or field_cost > max_field_cost or type_cost > max_type_cost

    return stop
