"""Given-when-then tests of aggregates, with no store and no boilerplate.

::

    given(Account, AccountOpened(owner="ann")).when(Deposit(id, Decimal(5))).then(
        MoneyDeposited(amount=Decimal(5))
    )

Each ``then*`` raises ``AssertionError`` with a message that points at the first
difference, and returns the scenario so that checks can be chained.
"""

from __future__ import annotations

import pprint
from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from esframework.aggregate import Aggregate, options_of
from esframework.commands import target_of
from esframework.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    DefinitionError,
    EsfError,
    NoHandler,
)

__all__ = ["Scenario", "given"]

A = TypeVar("A", bound=Aggregate)


class _Nothing:
    def __repr__(self) -> str:
        return "(no event)"


_NO_EVENT = _Nothing()


def _show(value: object) -> str:
    return pprint.pformat(value, width=60, compact=True).replace("\n", "\n      ")


def _describe_events(label: str, events: tuple[object, ...]) -> str:
    if not events:
        return f"  {label}: no events"
    lines = [f"  {label}: {len(events)} event(s)"]
    lines += [f"    [{i}] {_show(e)}" for i, e in enumerate(events)]
    return "\n".join(lines)


class Scenario(Generic[A]):
    """One given-when-then case; build it with :func:`given`."""

    def __init__(self, cls: type[A], history: tuple[object, ...], aggregate_id: UUID | None):
        options_of(cls)
        self.cls = cls
        self.history = history
        self._aggregate_id = aggregate_id
        self.aggregate: A | None = None
        self.recorded: tuple[object, ...] = ()
        self.error: BaseException | None = None
        self._ran = False

    def __repr__(self) -> str:
        return f"<Scenario given {len(self.history)} {self.cls.__qualname__} events>"

    def _build(self, aggregate_id: UUID) -> A:
        agg = self.cls(id=aggregate_id)
        for ev in self.history:
            agg._esf_replay(ev)
        return agg

    def when(self, cmd: object) -> Scenario[A]:
        """Run the aggregate's handler for ``cmd`` on the given history."""
        spec = self.cls.__esf_handlers__.get(type(cmd))
        if spec is None:
            raise NoHandler(
                f"{self.cls.__qualname__} has no handler for {type(cmd).__qualname__}: add "
                "a method decorated with @esf.handles"
            )
        try:
            aggregate_id = target_of(cmd)
        except EsfError as exc:  # not a routable command, or no valid target
            if not isinstance(exc, DefinitionError):
                self._ran, self.error, self.recorded = True, exc, ()
                self.aggregate = self._build(self._aggregate_id or uuid4())
                return self
            aggregate_id = self._aggregate_id or uuid4()
        agg = self._build(self._aggregate_id or aggregate_id)
        self.aggregate = agg
        self._ran = True
        try:
            if spec.create and self.history:
                raise AggregateAlreadyExists(
                    f"{self.cls.__qualname__} {agg.id} already exists: "
                    f"{type(cmd).__qualname__} creates a new aggregate"
                )
            if not spec.create and not self.history:
                raise AggregateNotFound(
                    f"{self.cls.__qualname__} {agg.id} does not exist: "
                    f"{type(cmd).__qualname__} needs given events"
                )
            agg._esf_writable = True
            try:
                spec.function(agg, cmd)
            finally:
                agg._esf_writable = False
        except Exception as exc:
            self.error = exc
        self.recorded = tuple(agg._esf_pending)
        return self

    def _require_run(self, check: str) -> None:
        if not self._ran:
            raise DefinitionError(f"call .when(command) before .{check}()")

    def _require_success(self, check: str) -> None:
        self._require_run(check)
        if self.error is not None:
            raise AssertionError(
                f"expected the command to succeed, but it raised "
                f"{type(self.error).__qualname__}: {self.error}"
            ) from self.error

    def then(self, *expected: object) -> Scenario[A]:
        """Assert the command recorded exactly these events, in this order."""
        self._require_success("then")
        actual = self.recorded
        if tuple(expected) == actual:
            return self
        first = next(
            (i for i, (e, a) in enumerate(zip(expected, actual, strict=False)) if e != a),
            min(len(expected), len(actual)),
        )
        exp = expected[first] if first < len(expected) else _NO_EVENT
        act = actual[first] if first < len(actual) else _NO_EVENT
        raise AssertionError(
            f"recorded events differ at index {first}:\n"
            f"  expected [{first}]: {_show(exp)}\n"
            f"  actual   [{first}]: {_show(act)}\n"
            f"{_describe_events('expected', tuple(expected))}\n"
            f"{_describe_events('actual', actual)}"
        )

    def then_nothing(self) -> Scenario[A]:
        """Assert the command succeeded and recorded no event."""
        return self.then()

    def then_raises(
        self, error_type: type[BaseException], match: str | None = None
    ) -> Scenario[A]:
        """Assert the command raised ``error_type`` (and recorded nothing it could store)."""
        self._require_run("then_raises")
        if self.error is None:
            raise AssertionError(
                f"expected {error_type.__qualname__}, but the command succeeded\n"
                f"{_describe_events('recorded', self.recorded)}"
            )
        if not isinstance(self.error, error_type):
            raise AssertionError(
                f"expected {error_type.__qualname__}, but the command raised "
                f"{type(self.error).__qualname__}: {self.error}"
            ) from self.error
        if match is not None and match not in str(self.error):
            raise AssertionError(f"expected the error to mention {match!r}, got: {self.error}")
        return self

    def then_state(self, predicate: Callable[[A], Any]) -> Scenario[A]:
        """Assert ``predicate(aggregate)`` holds after the command."""
        self._require_success("then_state")
        assert self.aggregate is not None
        if not predicate(self.aggregate):
            raise AssertionError(
                f"state check {getattr(predicate, '__name__', predicate)!r} failed on "
                f"{_show(self.aggregate)}"
            )
        return self


def given(cls: type[A], *events: object, aggregate_id: UUID | None = None) -> Scenario[A]:
    """Start a scenario: an aggregate of ``cls`` with these events in its past."""
    return Scenario(cls, events, aggregate_id)
