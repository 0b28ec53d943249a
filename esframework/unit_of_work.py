"""Units of work: aggregates loaded and changed together, committed all or nothing."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar
from uuid import UUID, uuid4

from esframework.aggregate import Aggregate, options_of
from esframework.commands import Route, target_of
from esframework.conflicts import Conflict, ConflictResolved, Resolution, strategy_name
from esframework.context import current_metadata
from esframework.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    AttributionRequired,
    ConcurrencyError,
    DefinitionError,
)
from esframework.events import RecordedEvent
from esframework.ids import new_id

if TYPE_CHECKING:
    from esframework.application import Application

__all__ = ["StaleCache", "UnitOfWork", "Unresolved", "command_metadata"]

A = TypeVar("A", bound=Aggregate)

_MAX_ROUNDS = 10


class Unresolved(Exception):
    """A conflict at commit whose strategy did not say append: retry, park or reject.

    Raised instead of ``ConcurrencyError`` only when the unit was opened by a caller
    that can act on the decision (``handle()``, ``unit_of_work(fn)``).
    """

    def __init__(self, conflict: Conflict, resolution: Resolution, error: ConcurrencyError):
        super().__init__(resolution.action)
        self.conflict = conflict
        self.resolution = resolution
        self.error = error


class StaleCache(Exception):
    """A cached aggregate was behind its stream: run again on one loaded from the store."""


def command_metadata(user_id: object, correlation_id: object, command_id: UUID) -> dict[str, Any]:
    """The metadata every event of one command or unit of work carries.

    Explicit arguments win over the enclosing ``esf.context``; the causation is the
    event being reacted to (``esf.reacting_to``) or else the command itself.
    """
    ambient = current_metadata()
    user = user_id if user_id is not None else ambient.get("user_id")
    correlation = correlation_id if correlation_id is not None else ambient.get("correlation_id")
    command = str(command_id)
    return {
        **ambient,
        "user_id": None if user is None else str(user),
        "correlation_id": command if correlation is None else str(correlation),
        "causation_id": str(ambient.get("causation_id", command)),
        "command_id": command,
    }


class UnitOfWork:
    """Aggregates loaded and changed together, committed in one atomic append.

    As a context manager it commits on a clean exit and stores nothing if the block
    raises. Aggregates it loads or creates accept ``record()`` until then. On a
    conflict at commit, each stale aggregate's strategy decides: strategies that append
    (``LastWriteWins``, ``Merge``) are honoured; one that retries needs a function to
    run again (``app.unit_of_work(fn)``); ``Manual()`` parks a unit that writes to one
    stream (``conflict_id`` is then set); otherwise the commit is rejected.
    """

    def __init__(
        self,
        app: Application,
        *,
        user_id: object = None,
        correlation_id: object = None,
        id: UUID | None = None,
    ) -> None:
        self.app = app
        self.id = id if id is not None else new_id()
        self.user_id = user_id
        self.metadata = command_metadata(user_id, correlation_id, self.id)
        if app.require_user and self.metadata["user_id"] is None:
            raise AttributionRequired(
                "this application requires a user_id on every change: pass user_id=... "
                "or wrap the call in esf.context(user_id=...)"
            )
        self._aggregates: dict[UUID, Aggregate] = {}
        self._loaded_versions: dict[UUID, int] = {}
        self._done = False
        self.signal_unresolved = False
        self.prior_attempts = 0
        self.command: object | None = None
        self.conflict_id: UUID | None = None
        self.use_cache = False
        self._from_cache: set[UUID] = set()
        """Set when ``Manual()`` parked this unit's events instead of storing them."""

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"<UnitOfWork {state}, {len(self._aggregates)} aggregates>"

    def _check_open(self) -> None:
        if self._done:
            raise DefinitionError("this unit of work is already committed or rolled back")

    def _track(self, agg: A) -> A:
        agg._esf_writable = True
        self._aggregates[agg.id] = agg
        self._loaded_versions[agg.id] = agg.version
        return agg

    @property
    def aggregates(self) -> tuple[Aggregate, ...]:
        """The aggregates this unit loaded or created."""
        return tuple(self._aggregates.values())

    def load(self, cls: type[A], aggregate_id: UUID) -> A:
        """The aggregate, loaded once per unit of work and open for changes."""
        self._check_open()
        known = self._aggregates.get(aggregate_id)
        if known is not None:
            if not isinstance(known, cls):
                raise DefinitionError(
                    f"{aggregate_id} is a {type(known).__qualname__} in this unit of work, "
                    f"not a {cls.__qualname__}"
                )
            return known
        if self.use_cache:
            cached = self.app.cache.take(cls, aggregate_id)
            if cached is not None:
                self._from_cache.add(aggregate_id)
                return self._track(cached)
        return self._track(self.app.repository.load(cls, aggregate_id))

    def create(self, cls: type[A], aggregate_id: UUID | None = None, *, check: bool = True) -> A:
        """A new, empty aggregate that must not exist yet when the unit commits.

        With ``check`` it is looked up now, to fail early; either way the commit
        refuses to create it twice (``AggregateAlreadyExists``).
        """
        self._check_open()
        options_of(cls)
        agg_id = aggregate_id if aggregate_id is not None else uuid4()
        if agg_id in self._aggregates or (check and self.app.repository.exists(agg_id)):
            raise AggregateAlreadyExists(
                f"{cls.__qualname__} {agg_id} already exists: load it instead of creating it"
            )
        return self._track(cls(id=agg_id))

    def target(self, cmd: object, route: Route | None = None) -> Aggregate:
        """The aggregate ``cmd`` is aimed at: created for a creation command, else loaded."""
        self._check_open()
        if route is None:
            route = self.app.router.route(cmd)
        aggregate_id = target_of(cmd)
        if route.handler.create:
            # The append (expected version 0) refuses an existing stream: no lookup first.
            return self.create(route.aggregate, aggregate_id, check=False)
        try:
            return self.load(route.aggregate, aggregate_id)
        except AggregateNotFound:
            raise AggregateNotFound(
                f"{route.aggregate.__qualname__} {aggregate_id} does not exist: "
                f"{type(cmd).__qualname__} needs an existing aggregate (create it first "
                "with a command handled with create=True)"
            ) from None

    def handle(self, cmd: object) -> Aggregate:
        """Route ``cmd`` to its aggregate (loaded or created here) and run the handler."""
        agg = self.target(cmd)
        self.app.router.route(cmd).handler.function(agg, cmd)
        return agg

    def commit(self) -> list[RecordedEvent]:
        """Store every recorded event of every aggregate in one atomic batch.

        If the commit fails, nothing is stored and the unit is closed all the same.
        """
        self._check_open()
        try:
            return self._commit()
        except BaseException:
            self.rollback()
            raise

    def _commit(self) -> list[RecordedEvent]:
        batch: dict[UUID, tuple[int, list[Any]]] = {}
        types: dict[UUID, str] = {}
        for agg_id, agg in self._aggregates.items():
            if agg._esf_pending:
                batch[agg_id] = (self._loaded_versions[agg_id], list(agg._esf_pending))
                types[agg_id] = options_of(type(agg)).name
        records: list[RecordedEvent] = []
        resolved = False
        attempt = 0
        while batch:
            attempt += 1
            try:
                records = self.app.store.append_many(
                    batch, stream_types=types, metadata=self.metadata
                )
                break
            except ConcurrencyError as exc:
                if attempt >= _MAX_ROUNDS:
                    raise
                if self._from_cache.intersection(batch):
                    raise StaleCache from exc
                try:
                    batch = self._resolve(batch, exc, attempt)
                except Unresolved as unresolved:
                    if self.signal_unresolved:
                        raise
                    if unresolved.resolution.action != "park" or len(batch) != 1:
                        raise unresolved.error from None
                    parked = self.app._park(unresolved.conflict, unresolved.resolution, self)
                    self.conflict_id = parked.conflict_id
                    break
                resolved = True
        self._finish()
        for agg in self._aggregates.values():
            agg._esf_pending.clear()
        if not resolved and self.conflict_id is None:
            self.app._after_save(self._aggregates.values(), self._loaded_versions)
            if self.use_cache:
                for agg in self._aggregates.values():
                    self.app.cache.put(agg)
        return records

    def _resolve(
        self, batch: dict[UUID, tuple[int, list[Any]]], exc: ConcurrencyError, attempt: int
    ) -> dict[UUID, tuple[int, list[Any]]]:
        """Ask each stale stream's strategy; return the batch to try again, or raise."""
        new_batch = dict(batch)
        for stream_id, (expected, events) in batch.items():
            actual = self.app.store.stream_version(stream_id)
            if actual == expected:
                continue
            agg = self._aggregates[stream_id]
            if expected == 0:
                raise AggregateAlreadyExists(
                    f"{type(agg).__qualname__} {stream_id} already exists (it was created "
                    f"at version {actual}): load it instead of creating it"
                ) from exc
            ours = [e for e in events if not isinstance(e, ConflictResolved)]
            conflict, resolution = self.app._decide(
                type(agg),
                stream_id,
                expected,
                actual,
                ours,
                self.prior_attempts + attempt,
                self.command,
            )
            if resolution.action != "append":
                raise Unresolved(conflict, resolution, exc) from exc
            note = ConflictResolved(
                strategy=strategy_name(self.app._strategy(type(agg))),
                outcome="appended",
                expected_version=expected,
                actual_version=actual,
                concurrent_event_ids=tuple(r.event_id for r in conflict.theirs),
                reason=resolution.reason,
            )
            new_batch[stream_id] = (actual, [note, *ours])
        return new_batch

    def rollback(self) -> None:
        """Store nothing; the aggregates stay as they are, closed for changes."""
        if not self._done:
            self._finish()
        for agg_id in self._from_cache:
            self.app.cache.discard(agg_id)

    def _finish(self) -> None:
        self._done = True
        for agg in self._aggregates.values():
            agg._esf_writable = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._done:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise
        else:
            self.rollback()
