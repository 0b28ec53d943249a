"""What happens when another writer appended to a stream since it was loaded.

The application builds a :class:`Conflict` (both sides' events, both versions) and asks
the aggregate's strategy for a :class:`Resolution`:

- ``Reject()``: raise ``ConcurrencyError``; the caller decides.
- ``RetryCommand(attempts=n)`` (the default): reload and run the command again, after a
  short jittered pause so that writers that collided spread out.
- ``LastWriteWins()``: append our events after theirs as they are.
- ``Merge(clash=fn)``: append when no event of ours clashes with one of theirs (by
  default: two events clash when they are of the same type), else reject.
- ``Manual()``: park our events as an open conflict for a person to accept or discard.
- any object with ``resolve(conflict) -> Resolution``.

Every resolution other than a rejection stores a ``ConflictResolved`` event in the
stream, so the audit trail shows who won and why; no event of either side is lost.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID

import attrs

from esframework.errors import DefinitionError
from esframework.events import RecordedEvent, event

__all__ = [
    "Conflict",
    "ConflictResolved",
    "ConflictStrategy",
    "LastWriteWins",
    "Manual",
    "Merge",
    "ParkedConflict",
    "Reject",
    "Resolution",
    "RetryCommand",
    "default_strategy",
]

Action = Literal["reject", "retry", "append", "park"]


@attrs.frozen
class Conflict:
    """Two writers on one stream: what we recorded and what got there first."""

    stream_id: UUID
    stream_type: str
    expected_version: int
    actual_version: int
    ours: tuple[Any, ...]
    theirs: tuple[RecordedEvent, ...]
    attempt: int = 1
    command: object | None = None

    @property
    def is_creation(self) -> bool:
        """Both writers tried to create the stream."""
        return self.expected_version == 0


@attrs.frozen
class Resolution:
    """A strategy's decision. Build one with the class methods."""

    action: Action
    reason: str = ""
    delay: float = 0.0

    @classmethod
    def reject(cls, reason: str = "") -> Resolution:
        """Refuse our write: the caller gets ``ConcurrencyError``."""
        return cls("reject", reason)

    @classmethod
    def retry(cls, delay: float = 0.0, reason: str = "") -> Resolution:
        """Reload and run the command again after ``delay`` seconds."""
        return cls("retry", reason, delay)

    @classmethod
    def append(cls, reason: str = "") -> Resolution:
        """Store our events after theirs, as they are."""
        return cls("append", reason)

    @classmethod
    def park(cls, reason: str = "") -> Resolution:
        """Keep our events aside as an open conflict for a person to decide."""
        return cls("park", reason)


@runtime_checkable
class ConflictStrategy(Protocol):
    """Anything that turns a :class:`Conflict` into a :class:`Resolution`."""

    def resolve(self, conflict: Conflict) -> Resolution:
        """Decide what happens to our events."""
        ...


@attrs.frozen
class Reject:
    """Refuse the write: the caller gets ``ConcurrencyError`` and decides."""

    def resolve(self, conflict: Conflict) -> Resolution:
        """Always reject."""
        return Resolution.reject("Reject")


def _check_attempts(_: object, __: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DefinitionError(f"RetryCommand(attempts=...) must be an int >= 1, got {value!r}")


@attrs.frozen
class RetryCommand:
    """Reload the aggregate and run the command again, up to ``attempts`` runs in all.

    Between runs it waits ``backoff * 2**(n-1)`` seconds times a random factor in
    [0.5, 1.5). Where there is no command to run again (a unit of work without a
    function), it rejects.
    """

    attempts: int = attrs.field(default=3, validator=_check_attempts)
    backoff: float = 0.002

    def resolve(self, conflict: Conflict) -> Resolution:
        """Retry while runs are left, else reject."""
        if conflict.attempt >= self.attempts:
            return Resolution.reject(f"RetryCommand: {self.attempts} attempt(s) used")
        jitter = 0.5 + random.random()  # noqa: S311 - spreading writers, not security
        return Resolution.retry(self.backoff * 2 ** (conflict.attempt - 1) * jitter)


@attrs.frozen
class LastWriteWins:
    """Append our events after the concurrent ones, as they are."""

    def resolve(self, conflict: Conflict) -> Resolution:
        """Append, except when both writers created the stream."""
        if conflict.is_creation:
            return Resolution.reject("LastWriteWins: the aggregate was created concurrently")
        return Resolution.append("LastWriteWins")


def same_type(ours: object, theirs: object) -> bool:
    """The default clash rule of ``Merge``: events of the same type clash."""
    return type(ours) is type(theirs)


@attrs.frozen
class Merge:
    """Accept when our events and theirs do not clash, else reject.

    ``clash(ours_event, theirs_event) -> bool``; by default, events of one type clash.
    """

    clash: Callable[[Any, Any], bool] = same_type

    def resolve(self, conflict: Conflict) -> Resolution:
        """Append when no pair clashes."""
        if conflict.is_creation:
            return Resolution.reject("Merge: the aggregate was created concurrently")
        for ours in conflict.ours:
            for theirs in conflict.theirs:
                if self.clash(ours, theirs.event):
                    return Resolution.reject(
                        f"Merge: our {type(ours).__qualname__} clashes with their "
                        f"{theirs.event_type} (version {theirs.version})"
                    )
        return Resolution.append("Merge: no clash")


@attrs.frozen
class Manual:
    """Park our events as an open conflict: ``app.conflicts()``, ``app.resolve()``."""

    def resolve(self, conflict: Conflict) -> Resolution:
        """Park, except when both writers created the stream."""
        if conflict.is_creation:
            return Resolution.reject("Manual: the aggregate was created concurrently")
        return Resolution.park("Manual")


def default_strategy() -> ConflictStrategy:
    """The strategy used when neither the aggregate nor the application names one."""
    return RetryCommand(attempts=3)


def strategy_name(strategy: object) -> str:
    """How a strategy is named in the audit trail."""
    return type(strategy).__qualname__


@event(name="esf.ConflictResolved")
class ConflictResolved:
    """Stored in a stream whenever a conflict is resolved other than by rejection.

    ``outcome`` is ``appended`` (our events follow theirs), ``retried`` (the command
    ran again on the newer state), ``accepted`` or ``discarded`` (a person decided a
    parked conflict). Discarded events are kept here, so nothing recorded is lost.
    """

    strategy: str
    outcome: str
    expected_version: int
    actual_version: int
    concurrent_event_ids: tuple[UUID, ...]
    reason: str = ""
    conflict_id: UUID | None = None
    decided_by: str | None = None
    discarded: tuple[Mapping[str, Any], ...] = ()


@attrs.frozen
class ParkedConflict:
    """A conflict kept for a person: our events as stored drafts, theirs by id."""

    id: UUID
    stream_id: UUID
    stream_type: str
    expected_version: int
    actual_version: int
    ours: tuple[Mapping[str, Any], ...]  # {"event_type", "schema_version", "data"}
    concurrent_event_ids: tuple[UUID, ...]
    metadata: Mapping[str, Any]
    created_at: datetime
    reason: str = ""
