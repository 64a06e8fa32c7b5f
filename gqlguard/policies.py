"""Named authorization policies: Apollo Router's ``@policy``, decided by the app's functions.

``@policy(policies: [["staff", "emea"], ["admin"]])`` means (staff AND emea) OR admin, as
``@requiresScopes`` reads its scopes. A policy is a function the app registers under its
name; it receives the principal and a :class:`PolicyRequest` and answers ``True`` to allow.
It may be ``async``. Anything but ``True`` denies, and so does a policy that raises (its
traceback is logged): a policy fails closed.

Each policy runs at most once per request (:class:`PolicyEvaluation` remembers outcomes),
before anything executes, and only when the operation names a field or type that asks for
it. A name the schema uses that no function is registered for stops the server at start.

>>> policies = Policies({"staff": lambda principal, request: "staff" in principal.scopes})
>>> evaluation = policies.evaluation(Principal("u1", frozenset({"staff"})), PolicyRequest())
>>> evaluation.granted({"staff"})
(frozenset({'staff'}), frozenset())
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .authorization import Principal
from .config import ConfigError

__all__ = ["Policies", "PolicyEvaluation", "PolicyFunction", "PolicyRequest"]

log = logging.getLogger("gqlguard.execution")
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """What a policy may read of the request: the same fields at every door.

    ``object`` is ``None`` for ``@policy``; an object-level rule naming a policy passes the
    resolved object it decides on (:mod:`gqlguard.object_rules`).
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    client: str | None = None
    object: Any = None


PolicyFunction = Callable[[Principal, PolicyRequest], "bool | Awaitable[bool]"]


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


class Policies:
    """The app's named policies."""

    def __init__(self, functions: Mapping[str, PolicyFunction], *, deny_all: bool = False) -> None:
        for name, function in functions.items():
            if not isinstance(name, str) or not callable(function):
                raise ConfigError(f"policy {name!r}: register a function (principal, request)")
        self.functions = dict(functions)
        self._deny_all = deny_all
        self.asynchronous = frozenset(n for n, f in self.functions.items() if _is_async(f))

    @classmethod
    def unavailable(cls) -> Policies:
        """For build tools that never authorize a request (``gqlguard manifest``): every
        name is accepted at start, and every policy denies."""
        return cls({}, deny_all=True)

    def require(self, names: Iterable[str], where: str) -> None:
        """A configuration mistake is loud: every policy ``where`` uses must be registered."""
        if self._deny_all:
            return
        missing = sorted(set(names) - self.functions.keys())
        if missing:
            raise ConfigError(
                f"{where} uses the policies {', '.join(map(repr, missing))}, which are not "
                "registered (pass policies={name: function} to the guard)"
            )

    def evaluation(self, principal: Principal, request: PolicyRequest) -> PolicyEvaluation:
        return PolicyEvaluation(self, principal, request)

    def decide_once(
        self, name: str, principal: Principal, request: PolicyRequest
    ) -> bool | Awaitable[bool]:
        """One call of one policy (an object-level rule calls it per object): ``True`` only
        when the function answered exactly ``True``; an error denies."""
        function = self.functions.get(name)
        if function is None:
            return False
        try:
            outcome = function(principal, request)
        except Exception:
            log.exception("policy %r failed; denying", name)
            return False
        if inspect.isawaitable(outcome):
            return _settled(name, outcome)
        return outcome is True


async def _settled(name: str, outcome: Awaitable[Any]) -> bool:
    try:
        return (await outcome) is True
    except Exception:
        log.exception("policy %r failed; denying", name)
        return False


class PolicyEvaluation:
    """One request's policy outcomes: each policy runs at most once, whichever operations of
    the request (a batch) need it."""

    __slots__ = ("_pending", "outcomes", "policies", "principal", "request")

    def __init__(self, policies: Policies, principal: Principal, request: PolicyRequest) -> None:
        self.policies = policies
        self.principal = principal
        self.request = request
        self.outcomes: dict[str, bool] = {}
        self._pending: dict[str, Awaitable[bool]] = {}

    def granted(self, names: Collection[str]) -> tuple[frozenset[str], frozenset[str]]:
        """(the granted names, the names still to await). Synchronous policies run here;
        an ``async`` one waits for :meth:`resolve` (or :meth:`resolve_blocking`)."""
        if not names:  # most documents name no field under a policy
            return _NONE, _NONE
        pending: set[str] = set()
        for name in names:
            if name in self.outcomes:
                continue
            if name in self._pending or name in self.policies.asynchronous:
                pending.add(name)
                continue
            outcome = self.policies.decide_once(name, self.principal, self.request)
            if isinstance(outcome, bool):
                self.outcomes[name] = outcome
            else:  # a plain function that returned an awaitable
                self._pending[name] = outcome
                pending.add(name)
        granted = frozenset(name for name in names if self.outcomes.get(name) is True)
        return granted, frozenset(pending)

    async def resolve(self, names: Iterable[str]) -> None:
        """Run the ``async`` policies among ``names`` (concurrently), once each."""
        awaiting = [(name, self._started(name)) for name in names if name not in self.outcomes]
        results = await asyncio.gather(*(outcome for _, outcome in awaiting))
        for (name, _), result in zip(awaiting, results, strict=True):
            self.outcomes[name] = result

    def resolve_blocking(self, names: Iterable[str]) -> None:
        """:meth:`resolve` from synchronous code (a sync view's hook): the policies run on
        a helper thread's event loop while this thread waits."""
        with concurrent.futures.ThreadPoolExecutor(1) as helper:
            helper.submit(asyncio.run, self.resolve(names)).result()

    def _started(self, name: str) -> Awaitable[bool]:
        outcome = self._pending.pop(name, None)
        if outcome is not None:
            return outcome
        decided = self.policies.decide_once(name, self.principal, self.request)
        return _ready(decided) if isinstance(decided, bool) else decided


async def _ready(value: bool) -> bool:
    return value
