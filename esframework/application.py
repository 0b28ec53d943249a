"""``esf.Application``: commands in, events stored; loads; units of work; verify."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID, uuid4

import attrs

from esframework.adapters.base import EventStore
from esframework.aggregate import Aggregate, options_of
from esframework.audit import AuditReport, verify_records
from esframework.commands import CommandRouter, target_of
from esframework.conflicts import ConflictStrategy, default_strategy
from esframework.errors import (
    AggregateAlreadyExists,
    AggregateNotFound,
    ConcurrencyError,
    DefinitionError,
)
from esframework.events import RecordedEvent
from esframework.registry import Registry, default_registry
from esframework.repository import Repository

__all__ = ["Application", "CommandResult", "UnitOfWork"]

A = TypeVar("A", bound=Aggregate)


@attrs.frozen
class CommandResult:
    """What ``app.handle()`` did: the aggregate, its new version, the stored events."""

    aggregate_id: UUID
    version: int
    events: tuple[RecordedEvent, ...]
    command_id: UUID


def _metadata(user_id: object, correlation_id: object, causation_id: UUID) -> dict[str, Any]:
    return {
        "user_id": None if user_id is None else str(user_id),
        "correlation_id": str(correlation_id if correlation_id is not None else causation_id),
        "causation_id": str(causation_id),
    }


class UnitOfWork:
    """Aggregates loaded and changed together, committed in one atomic append.

    Used as a context manager, it commits on a clean exit and stores nothing if the
    block raises. Aggregates it loads or creates accept ``record()`` until then.
    """

    def __init__(
        self,
        app: Application,
        *,
        user_id: object = None,
        correlation_id: object = None,
    ) -> None:
        self.app = app
        self.id = uuid4()
        self.metadata = _metadata(user_id, correlation_id, self.id)
        self._aggregates: dict[UUID, Aggregate] = {}
        self._loaded_versions: dict[UUID, int] = {}
        self._done = False

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
        return self._track(self.app.repository.load(cls, aggregate_id))

    def create(self, cls: type[A], aggregate_id: UUID | None = None) -> A:
        """A new, empty aggregate that must not exist yet when the unit commits."""
        self._check_open()
        options_of(cls)
        agg_id = aggregate_id if aggregate_id is not None else uuid4()
        if agg_id in self._aggregates or self.app.repository.exists(agg_id):
            raise AggregateAlreadyExists(
                f"{cls.__qualname__} {agg_id} already exists: load it instead of creating it"
            )
        return self._track(cls(id=agg_id))

    def handle(self, cmd: object) -> Aggregate:
        """Route ``cmd`` to its aggregate (loaded or created here) and run the handler."""
        self._check_open()
        route = self.app.router.route(cmd)
        aggregate_id = target_of(cmd)
        if route.handler.create:
            agg: Aggregate = self.create(route.aggregate, aggregate_id)
        else:
            try:
                agg = self.load(route.aggregate, aggregate_id)
            except AggregateNotFound:
                raise AggregateNotFound(
                    f"{route.aggregate.__qualname__} {aggregate_id} does not exist: "
                    f"{type(cmd).__qualname__} needs an existing aggregate (create it first "
                    "with a command handled with create=True)"
                ) from None
        route.handler.function(agg, cmd)
        return agg

    def commit(self) -> list[RecordedEvent]:
        """Store every recorded event of every aggregate in one atomic batch."""
        self._check_open()
        batch: dict[UUID, tuple[int, list[Any]]] = {}
        types: dict[UUID, str] = {}
        for agg_id, agg in self._aggregates.items():
            if agg._esf_pending:
                batch[agg_id] = (self._loaded_versions[agg_id], list(agg._esf_pending))
                types[agg_id] = options_of(type(agg)).name
        records = (
            self.app.store.append_many(batch, stream_types=types, metadata=self.metadata)
            if batch
            else []
        )
        self._finish()
        for agg in self._aggregates.values():
            agg._esf_pending.clear()
        return records

    def rollback(self) -> None:
        """Store nothing; the aggregates stay as they are, closed for changes."""
        if not self._done:
            self._finish()

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


class Application:
    """An event-sourced application: aggregates, a store, and the wiring between them."""

    def __init__(
        self,
        store: EventStore,
        *,
        aggregates: Iterable[type[Aggregate]] = (),
        projections: Iterable[object] = (),
        conflicts: ConflictStrategy | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.store = store
        self.aggregates = tuple(aggregates)
        self.projections = tuple(projections)
        self.registry = registry if registry is not None else default_registry
        self.conflicts = conflicts if conflicts is not None else default_strategy()
        self.router = CommandRouter(self.aggregates)
        self.repository = Repository(store)
        self.registry.check_upcaster_chains()

    def __repr__(self) -> str:
        names = ", ".join(a.__qualname__ for a in self.aggregates)
        return f"<Application [{names}] on {self.store!r}>"

    def _strategy(self, cls: type[Aggregate]) -> ConflictStrategy:
        chosen = options_of(cls).conflicts
        return chosen if chosen is not None else self.conflicts

    def handle(
        self, cmd: object, *, user_id: object = None, correlation_id: object = None
    ) -> CommandResult:
        """Run ``cmd`` on its aggregate and store the events it records.

        A ``DomainError`` from the handler reaches the caller and nothing is stored. When
        another writer got there first, the aggregate's conflict strategy decides.
        """
        strategy = self._strategy(self.router.route(cmd).aggregate)
        attempt = 0
        while True:
            uow = UnitOfWork(self, user_id=user_id, correlation_id=correlation_id)
            try:
                agg = uow.handle(cmd)
                records = uow.commit()
            except ConcurrencyError:
                uow.rollback()
                attempt += 1
                if attempt > strategy.retries():
                    raise
                strategy.pause(attempt)
                continue
            except BaseException:
                uow.rollback()
                raise
            return CommandResult(
                aggregate_id=agg.id,
                version=agg.version,
                events=tuple(records),
                command_id=uow.id,
            )

    def load(
        self,
        cls: type[A],
        aggregate_id: UUID,
        *,
        at_version: int | None = None,
        at_time: datetime | None = None,
    ) -> A:
        """The aggregate now, at a version, or as it was recorded at a time (read-only)."""
        return self.repository.load(cls, aggregate_id, at_version=at_version, at_time=at_time)

    def unit_of_work(self, *, user_id: object = None, correlation_id: object = None) -> UnitOfWork:
        """A unit of work: change several aggregates, commit all their events or none."""
        return UnitOfWork(self, user_id=user_id, correlation_id=correlation_id)

    def verify(self, *, progress: Callable[[int], None] | None = None) -> AuditReport:
        """Walk every stream's hash chain and the global order; report what is wrong."""
        return verify_records(self.store.read_all(), progress=progress)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
