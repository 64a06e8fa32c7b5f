"""Validation rules run side by side in one traversal, as graphql-core's ``ParallelVisitor``
runs them, with graphql-core's own rules' dispatch work done once, not once per validation.

graphql-core resolves each rule instance's ``enter_<kind>``/``leave_<kind>`` methods by name,
on every validation, for every kind it meets, and then loops over every rule at every node,
including the rules that have nothing to do there. On a realistic query that bookkeeping is a
sixth of validation. Here, for graphql-core's own rule classes, the lookup is made once per
class and kind (then bound to the instance); each kind's loop holds only the rules that act
on it. The order in which rules are called at a node, what SKIP and BREAK do, and when a
skip ends are graphql-core's:

* a rule without an ``enter_<kind>`` (nor ``enter``) is never called on entering that kind —
  graphql-core's loop passes over it;
* a rule may be skipping only from a node it entered, so on leaving a kind only the rules with
  an enter or a leave function for that kind can have a skip to end there.

Any other rule — Strawberry's, the user's, one whose instance carries its own ``enter*``
attributes or whose class replaces ``get_enter_leave_for_kind`` — is asked as graphql-core
asks it, every validation, when the kind is first met: whatever it answers is what runs.

O(1) per node and rule that acts on the node's kind.

>>> from graphql import Visitor, parse, visit
>>> seen = []
>>> class Fields(Visitor):
...     def enter_field(self, node, *_):
...         seen.append(node.name.value)
>>> class Skipper(Visitor):
...     def enter_field(self, node, *_):
...         seen.append("skip " + node.name.value)
...         return self.SKIP
>>> _ = visit(parse("{ a { b } }"), ParallelRules([Fields(), Skipper()]))
>>> seen
['a', 'skip a', 'b']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import BREAK, SKIP, Node, Visitor
from graphql.language.visitor import EnterLeaveVisitor

from .pacing import Pacer

__all__ = ["ParallelRules"]

_Method = Callable[..., Any]
_NOTHING = EnterLeaveVisitor(None, None)
# Per visitor class: kind -> its (enter, leave) functions, unbound, as graphql-core's
# Visitor.get_enter_leave_for_kind finds them on an instance of that class.
_functions_by_class: dict[type, dict[str, tuple[_Method | None, _Method | None]]] = {}
_MAX_CLASSES = 4096  # classes made per request would otherwise grow this without end


def _class_functions(cls: type, kind: str) -> tuple[_Method | None, _Method | None]:
    by_kind = _functions_by_class.get(cls)
    if by_kind is None:
        if len(_functions_by_class) >= _MAX_CLASSES:
            _functions_by_class.clear()
        by_kind = _functions_by_class[cls] = {}
    found = by_kind.get(kind)
    if found is None:
        enter = getattr(cls, f"enter_{kind}", None) or getattr(cls, "enter", None)
        leave = getattr(cls, f"leave_{kind}", None) or getattr(cls, "leave", None)
        found = by_kind[kind] = (enter, leave)
    return found


# Rule classes whose methods are looked up once per class: graphql-core's own (its specified
# rules, its fragment-nesting guard) and the metered field-merge subclasses gqlguard makes of
# them. Anyone else's rule is asked as graphql-core asks it, every validation.
_OWN_MODULES = ("graphql.", "gqlguard.validation")


def _resolved_per_class(visitor: Visitor) -> bool:
    """Whether the class-level lookup finds what the instance's own lookup would."""
    cls = type(visitor)
    if not cls.__module__.startswith(_OWN_MODULES):
        return False
    if cls.get_enter_leave_for_kind is not Visitor.get_enter_leave_for_kind:
        return False
    if visitor.enter_leave_map:  # answers it gave already stand
        return False
    own = getattr(visitor, "__dict__", {})
    return not any(
        name.startswith(("enter", "leave")) and name != "enter_leave_map" for name in own
    )


_Plan = tuple[tuple[tuple[int, _Method], ...], tuple[tuple[int, _Method | None], ...]]


def _arrange(functions: Sequence[tuple[_Method | None, _Method | None]]) -> _Plan:
    entering = tuple((index, enter) for index, (enter, _) in enumerate(functions) if enter)
    leaving = tuple(
        (index, leave or None) for index, (enter, leave) in enumerate(functions) if enter or leave
    )
    return entering, leaving


# Per (the classes looked up per class, None for the others; kind): the enter and leave
# functions of those classes, unbound, by index.
_plans: dict[tuple[tuple[type | None, ...], str], _Plan] = {}


def _class_plan(classes: tuple[type | None, ...], kind: str) -> _Plan:
    found = _plans.get((classes, kind))
    if found is None:
        if len(_plans) >= _MAX_CLASSES:
            _plans.clear()
        functions = [
            _class_functions(cls, kind) if cls is not None else (None, None) for cls in classes
        ]
        found = _plans[(classes, kind)] = _arrange(functions)
    return found


class ParallelRules(Visitor):
    """Calls each of ``visitors`` at every node, in order, with graphql-core's parallel
    visiting rules (a skip is per visitor; a value other than SKIP/BREAK/None is returned)."""

    def __init__(self, visitors: Sequence[Visitor], pacer: Pacer | None = None) -> None:
        super().__init__()
        self.visitors = visitors
        self.pacer = pacer  # ticked at every node entered (gqlguard.pacing)
        self.skipping: list[Any] = [None] * len(visitors)
        self._classes = tuple(
            type(visitor) if _resolved_per_class(visitor) else None for visitor in visitors
        )
        # The others: asked as graphql-core asks them.
        self._asked = [index for index, cls in enumerate(self._classes) if cls is None]

    def _bound_plan(self, kind: str) -> _Plan:
        visitors = self.visitors
        entering_unbound, leaving_unbound = _class_plan(self._classes, kind)
        entering = [(index, enter.__get__(visitors[index])) for index, enter in entering_unbound]
        leaving = [
            (index, leave.__get__(visitors[index]) if leave is not None else None)
            for index, leave in leaving_unbound
        ]
        if self._asked:
            for index in self._asked:
                enter, leave = visitors[index].get_enter_leave_for_kind(kind)
                if enter:
                    entering.append((index, enter))
                if enter or leave:
                    leaving.append((index, leave or None))
            entering.sort(key=lambda pair: pair[0])
            leaving.sort(key=lambda pair: pair[0])
        return tuple(entering), tuple(leaving)

    def get_enter_leave_for_kind(self, kind: str) -> EnterLeaveVisitor:
        try:
            return self.enter_leave_map[kind]
        except KeyError:
            pass
        entering, leaving = self._bound_plan(kind)
        if not leaving:
            self.enter_leave_map[kind] = _NOTHING
            return _NOTHING
        skipping = self.skipping
        pacer = self.pacer
        tick = pacer.tick if pacer is not None else None

        def enter(node: Node, *args: Any) -> Any:
            if tick is not None:
                tick()
            for index, function in entering:
                if not skipping[index]:
                    result = function(node, *args)
                    if result is None:
                        continue
                    if result is SKIP or result is False:
                        skipping[index] = node
                    elif result is BREAK or result is True:
                        skipping[index] = BREAK
                    else:
                        return result
            return None

        def leave(node: Node, *args: Any) -> Any:
            for index, function in leaving:
                skip = skipping[index]
                if not skip:
                    if function is not None:
                        result = function(node, *args)
                        if result is None:
                            continue
                        if result is BREAK or result is True:
                            skipping[index] = BREAK
                        elif result is not SKIP and result is not False:
                            return result
                elif skip is node:
                    skipping[index] = None
            return None

        found = self.enter_leave_map[kind] = EnterLeaveVisitor(enter if entering else None, leave)
        return found
