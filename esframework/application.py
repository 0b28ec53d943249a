"""``esf.Application``: commands in, events stored; loads, history, conflicts, verify."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, overload
from uuid import UUID, uuid4

import attrs

from esframework.adapters.base import ConflictStore, EventStore, SnapshotStore
from esframework.aggregate import Aggregate, options_of
from esframework.audit import AuditReport, Seal, verify
from esframework.audit import seal as audit_seal
from esframework.cache import AggregateCache
from esframework.commands import CommandRouter
from esframework.conflicts import (
    Conflict,
    ConflictResolved,
    ConflictStrategy,
    ParkedConflict,
    Resolution,
    default_strategy,
    strategy_name,
)
from esframework.errors import (
    ConcurrencyError,
    ConflictNotFound,
    DefinitionError,
    InvalidResolution,
)
from esframework.events import RecordedEvent, utc_now
from esframework.ids import new_id
from esframework.projection_runner import Projections
from esframework.registry import Registry, default_registry
from esframework.repository import Repository
from esframework.serialization import EventCodec
from esframework.snapshots import take
from esframework.unit_of_work import StaleCache, UnitOfWork, Unresolved, command_metadata
from esframework.view_queries import ViewReader

__all__ = ["Application", "CommandResult", "OpenConflict"]

log = logging.getLogger("esframework.application")

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")
V = TypeVar("V")

_MAX_APPENDS = 10


@attrs.frozen
class CommandResult:
    """What ``app.handle()`` did: the aggregate, its new version, the stored events.

    ``conflict_id`` is set when the command's events were parked by ``Manual()``
    instead of stored; ``app.resolve(conflict_id, ...)`` decides them later.
    """

    aggregate_id: UUID
    version: int
    events: tuple[RecordedEvent, ...]
    command_id: UUID
    conflict_id: UUID | None = None


@attrs.frozen
class OpenConflict:
    """A parked conflict as ``app.conflicts()`` shows it: both sides, when and who."""

    id: UUID
    stream_id: UUID
    stream_type: str
    expected_version: int
    actual_version: int
    ours: tuple[Any, ...]
    theirs: tuple[RecordedEvent, ...]
    created_at: datetime
    user_id: str | None
    reason: str


ConflictListener = Callable[[OpenConflict], object]


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
        on_conflict: ConflictListener | None = None,
        require_user: bool = False,
        cache_size: int = 0,
    ) -> None:
        self.store = store
        self.require_user = require_user
        self.cache = AggregateCache(cache_size)
        self.aggregates = tuple(dict.fromkeys(aggregates))
        codec = getattr(store, "codec", None)
        store_registry = codec.registry if isinstance(codec, EventCodec) else None
        if registry is not None and store_registry is not None and registry is not store_registry:
            raise DefinitionError(
                "the application's registry is not the one its store decodes with: open the "
                "store with esf.connect(url, codec=esf.EventCodec(registry)) and drop "
                "registry= here (the application uses the store's)"
            )
        self.registry = registry or store_registry or default_registry
        self.codec = codec if isinstance(codec, EventCodec) else EventCodec(self.registry)
        self.conflicts_strategy = conflicts if conflicts is not None else default_strategy()
        self.router = CommandRouter(self.aggregates)
        self.repository = Repository(store, self.codec.converter, self.codec)
        self._listeners: list[ConflictListener] = [on_conflict] if on_conflict else []
        for strategy in [self.conflicts_strategy, *(self._strategy(a) for a in self.aggregates)]:
            if not callable(getattr(strategy, "resolve", None)):
                raise DefinitionError(
                    f"{strategy!r} is not a conflict strategy: it needs a "
                    "resolve(conflict) -> esf.Resolution method"
                )
        self.registry.check_upcaster_chains()
        self.projections = Projections(
            store, projections, converter=self.codec.converter, registry=self.registry
        )
        """The projections (``status``, ``catch_up``, ``rebuild``, ``start``...)."""

    def __repr__(self) -> str:
        names = ", ".join(a.__qualname__ for a in self.aggregates)
        return f"<Application [{names}] on {self.store!r}>"

    # -- commands ------------------------------------------------------------------

    def handle(
        self, cmd: object, *, user_id: object = None, correlation_id: object = None
    ) -> CommandResult:
        """Run ``cmd`` on its aggregate and store the events it records.

        A ``DomainError`` from the handler reaches the caller and nothing is stored. When
        another writer got there first, the aggregate's conflict strategy decides.
        """
        route = self.router.route(cmd)
        command_id = new_id()
        note: ConflictResolved | None = None
        attempts = 0
        use_cache = True
        while True:
            uow = UnitOfWork(self, user_id=user_id, correlation_id=correlation_id, id=command_id)
            uow.signal_unresolved = True
            uow.prior_attempts = attempts
            uow.command = cmd
            uow.use_cache = use_cache
            try:
                agg = uow.target(cmd, route)
                if note is not None:
                    agg.record(note)
                route.handler.function(agg, cmd)
                records = uow.commit()
            except StaleCache:
                uow.rollback()
                use_cache = False  # the cache's conflict, not the command's: run again
                continue
            except Unresolved as unresolved:
                uow.rollback()
                conflict, resolution = unresolved.conflict, unresolved.resolution
                if resolution.action == "retry":
                    attempts = conflict.attempt
                    note = self._note(conflict, resolution, "retried", route.aggregate)
                    time.sleep(resolution.delay)
                    continue
                if resolution.action == "park":
                    return self._park(conflict, resolution, uow)
                raise unresolved.error from None
            except BaseException:
                uow.rollback()
                raise
            version = max(
                (r.version for r in records if r.stream_id == agg.id), default=agg.version
            )
            return CommandResult(agg.id, version, tuple(records), command_id)

    def _strategy(self, cls: type[Aggregate]) -> ConflictStrategy:
        chosen = options_of(cls).conflicts
        return chosen if chosen is not None else self.conflicts_strategy

    def _decide(
        self,
        cls: type[Aggregate],
        stream_id: UUID,
        expected: int,
        actual: int,
        ours: list[Any],
        attempt: int,
        command: object | None,
    ) -> tuple[Conflict, Resolution]:
        """Build the conflict and ask the aggregate's strategy about it."""
        theirs = tuple(self.store.read_stream(stream_id, expected + 1, actual))
        conflict = Conflict(
            stream_id=stream_id,
            stream_type=options_of(cls).name,
            expected_version=expected,
            actual_version=actual,
            ours=tuple(ours),
            theirs=theirs,
            attempt=attempt,
            command=command,
        )
        strategy = self._strategy(cls)
        resolution = strategy.resolve(conflict)
        if not isinstance(resolution, Resolution):
            raise InvalidResolution(
                f"{strategy!r}.resolve() returned {resolution!r}, not an esf.Resolution: "
                "return Resolution.reject(), .retry(), .append() or .park()"
            )
        return conflict, resolution

    def _note(
        self,
        conflict: Conflict,
        resolution: Resolution,
        outcome: str,
        cls: type[Aggregate],
        **extra: Any,
    ) -> ConflictResolved:
        return ConflictResolved(
            strategy=strategy_name(self._strategy(cls)),
            outcome=outcome,
            expected_version=conflict.expected_version,
            actual_version=conflict.actual_version,
            concurrent_event_ids=tuple(r.event_id for r in conflict.theirs),
            reason=resolution.reason,
            **extra,
        )

    # -- parked conflicts ----------------------------------------------------------

    def _conflict_store(self) -> ConflictStore:
        if not isinstance(self.store, ConflictStore):
            raise DefinitionError(
                f"{self.store!r} cannot keep conflicts for a person: use a store that "
                "implements ConflictStore (memory, SQLite, PostgreSQL) or another strategy"
            )
        return self.store

    def _park(self, conflict: Conflict, resolution: Resolution, uow: UnitOfWork) -> CommandResult:
        ours = []
        for ev in conflict.ours:
            event_type, data = self.codec.encode(ev)
            ours.append(
                {"event_type": event_type.name, "schema_version": event_type.version, "data": data}
            )
        parked = ParkedConflict(
            id=uuid4(),
            stream_id=conflict.stream_id,
            stream_type=conflict.stream_type,
            expected_version=conflict.expected_version,
            actual_version=conflict.actual_version,
            ours=tuple(ours),
            concurrent_event_ids=tuple(r.event_id for r in conflict.theirs),
            metadata=uow.metadata,
            created_at=utc_now(),
            reason=resolution.reason,
        )
        self._conflict_store().park_conflict(parked)
        view = self._view(parked)
        for listener in self._listeners:
            try:
                listener(view)
            except Exception:
                log.exception("conflict listener %r failed for conflict %s", listener, parked.id)
        return CommandResult(
            conflict.stream_id, conflict.actual_version, (), uow.id, conflict_id=parked.id
        )

    def _view(self, parked: ParkedConflict) -> OpenConflict:
        ours = tuple(
            self.codec.decode(o["event_type"], o["schema_version"], o["data"]) for o in parked.ours
        )
        theirs = tuple(
            self.store.read_stream(
                parked.stream_id, parked.expected_version + 1, parked.actual_version
            )
        )
        user = parked.metadata.get("user_id")
        return OpenConflict(
            id=parked.id,
            stream_id=parked.stream_id,
            stream_type=parked.stream_type,
            expected_version=parked.expected_version,
            actual_version=parked.actual_version,
            ours=ours,
            theirs=theirs,
            created_at=parked.created_at,
            user_id=None if user is None else str(user),
            reason=parked.reason,
        )

    def on_conflict(self, listener: ConflictListener) -> ConflictListener:
        """Call ``listener(open_conflict)`` whenever a conflict is parked for a person."""
        self._listeners.append(listener)
        return listener

    def conflicts(self) -> list[OpenConflict]:
        """Every conflict parked by ``Manual()`` and not resolved yet, oldest first."""
        return [self._view(p) for p in self._conflict_store().open_conflicts()]

    def resolve(self, conflict_id: UUID, *, accept: bool, user_id: object = None) -> CommandResult:
        """Decide a parked conflict: append our events (``accept=True``) or discard them.

        Either way a ``ConflictResolved`` event records the decision and who made it;
        discarded events are kept inside it, so nothing recorded is lost.
        """
        store = self._conflict_store()
        parked = next((p for p in store.open_conflicts() if p.id == conflict_id), None)
        if parked is None:
            raise ConflictNotFound(
                f"no open conflict {conflict_id}: it is unknown or already resolved; "
                "app.conflicts() lists the open ones"
            )
        metadata = command_metadata(user_id, parked.metadata.get("correlation_id"), conflict_id)
        for round_ in range(1, _MAX_APPENDS + 1):
            current = self.store.stream_version(parked.stream_id)
            theirs = self.store.read_stream(parked.stream_id, parked.expected_version + 1, current)
            note = ConflictResolved(
                strategy="Manual",
                outcome="accepted" if accept else "discarded",
                expected_version=parked.expected_version,
                actual_version=current,
                concurrent_event_ids=tuple(r.event_id for r in theirs),
                reason=parked.reason,
                conflict_id=conflict_id,
                decided_by=None if user_id is None else str(user_id),
                discarded=() if accept else parked.ours,
            )
            events: list[Any] = [note]
            if accept:
                events += [
                    self.codec.decode(o["event_type"], o["schema_version"], o["data"])
                    for o in parked.ours
                ]
            try:
                records = store.settle_conflict(
                    conflict_id,
                    {parked.stream_id: (current, events)},
                    stream_types={parked.stream_id: parked.stream_type},
                    metadata=metadata,
                )
            except ConcurrencyError:
                if round_ == _MAX_APPENDS:
                    raise
                continue
            return CommandResult(
                parked.stream_id, records[-1].version, tuple(records), conflict_id
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # -- units of work -------------------------------------------------------------

    @overload
    def unit_of_work(
        self, *, user_id: object = None, correlation_id: object = None
    ) -> UnitOfWork: ...

    @overload
    def unit_of_work(
        self,
        fn: Callable[[UnitOfWork], R],
        *,
        user_id: object = None,
        correlation_id: object = None,
    ) -> R: ...

    def unit_of_work(
        self,
        fn: Callable[[UnitOfWork], R] | None = None,
        *,
        user_id: object = None,
        correlation_id: object = None,
    ) -> UnitOfWork | R:
        """A unit of work: change several aggregates, commit all their events or none.

        Without ``fn``, a context manager. With ``fn``, runs ``fn(uow)``, commits, and
        returns what ``fn`` returned; a ``RetryCommand`` strategy then runs ``fn`` again
        on a conflict.
        """
        if fn is None:
            return UnitOfWork(self, user_id=user_id, correlation_id=correlation_id)
        attempts = 0
        use_cache = True
        while True:
            uow = UnitOfWork(self, user_id=user_id, correlation_id=correlation_id)
            uow.signal_unresolved = True
            uow.prior_attempts = attempts
            uow.use_cache = use_cache
            try:
                result = fn(uow)
                uow.commit()
            except StaleCache:
                uow.rollback()
                use_cache = False
                continue
            except Unresolved as unresolved:
                uow.rollback()
                if unresolved.resolution.action != "retry":
                    raise unresolved.error from None
                attempts = unresolved.conflict.attempt
                time.sleep(unresolved.resolution.delay)
                continue
            except BaseException:
                uow.rollback()
                raise
            return result

    # -- reading -------------------------------------------------------------------

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

    def history(self, cls: type[A], aggregate_id: UUID) -> Iterator[tuple[RecordedEvent, A]]:
        """Each stored event of the aggregate with the state right after it."""
        options_of(cls)
        agg = cls(id=aggregate_id)
        for rec in self.store.read_stream(aggregate_id):
            agg._esf_replay(rec.event)
            agg.version = rec.version
            yield rec, copy.deepcopy(agg)

    def snapshot(self, cls: type[Aggregate], aggregate_id: UUID) -> int:
        """Take a snapshot of the aggregate now; returns the version it holds."""
        agg = self.load(cls, aggregate_id)
        self._save_snapshot(agg)
        return agg.version

    def _save_snapshot(self, agg: Aggregate) -> None:
        if not isinstance(self.store, SnapshotStore):
            return
        clock = getattr(self.store, "clock", utc_now)
        snap = take(agg, options_of(type(agg)).name, self.codec.converter, clock())
        self.store.save_snapshot(snap)

    def _after_save(self, aggregates: Iterable[Aggregate], loaded: Mapping[UUID, int]) -> None:
        """Snapshot every aggregate whose save crossed a multiple of its snapshot_every."""
        for agg in aggregates:
            every = options_of(type(agg)).snapshot_every
            if every and loaded[agg.id] // every < agg.version // every:
                try:
                    self._save_snapshot(agg)
                except Exception:
                    log.warning("snapshot of %s failed; loads replay more", agg.id, exc_info=True)

    def verify(
        self,
        streams: Sequence[UUID] | None = None,
        *,
        against: Seal | None = None,
        hmac_key: bytes | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> AuditReport:
        """Walk every stream's hash chain and the global order; report what is wrong.

        ``against`` a seal, it also detects truncated or deleted streams up to the seal.
        """
        return verify(
            self.store,
            streams=streams,
            against=against,
            hmac_key=hmac_key,
            progress=progress,
            registry=self.registry,
        )

    def seal(self, *, hmac_key: bytes | None = None) -> Seal:
        """Seal the store as it is now, to keep elsewhere and verify against later."""
        clock = getattr(self.store, "clock", utc_now)
        return audit_seal(self.store, hmac_key=hmac_key, now=clock())

    # -- read models ---------------------------------------------------------------

    def view(self, cls: type[V]) -> ViewReader[V]:
        """Typed queries on a view: ``app.view(Balance).get(key)``, ``.where(...)``..."""
        return self.projections.view(cls)

    def close(self) -> None:
        """Stop the projection runners and close the store."""
        self.projections.close()
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
