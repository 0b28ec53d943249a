"""Loading aggregates: newest usable snapshot, then the events after it."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

import cattrs

from esframework.adapters._common import check_stream_id
from esframework.adapters.base import EventStore, PayloadReader, SnapshotStore
from esframework.aggregate import Aggregate, options_of
from esframework.errors import AggregateNotFound, DefinitionError, EsfError
from esframework.serialization import EventCodec
from esframework.snapshots import restore

__all__ = ["Repository"]


def _check_type(agg: Aggregate, stored: str, expected: str) -> None:
    if stored and stored != expected:
        raise AggregateNotFound(
            f"{agg.id} holds a {stored!r}, not a {type(agg).__qualname__} ({expected!r}): "
            "load it with its own class"
        )


A = TypeVar("A", bound=Aggregate)


class Repository:
    """Rebuilds aggregates by replaying their streams through their appliers."""

    def __init__(
        self, store: EventStore, converter: cattrs.Converter, codec: EventCodec | None = None
    ) -> None:
        self.store = store
        self.converter = converter
        self.codec = codec

    def __repr__(self) -> str:
        return f"<Repository on {self.store!r}>"

    def load(
        self,
        cls: type[A],
        aggregate_id: UUID,
        *,
        at_version: int | None = None,
        at_time: datetime | None = None,
        use_snapshots: bool = True,
    ) -> A:
        """The aggregate's state now, at a version, or as recorded at a time."""
        stream_type = options_of(cls).name
        check_stream_id(aggregate_id)
        if at_version is not None and (
            not isinstance(at_version, int) or isinstance(at_version, bool) or at_version < 1
        ):
            raise DefinitionError(f"at_version must be an int >= 1, got {at_version!r}")
        if at_time is not None:
            if at_version is not None:
                raise DefinitionError("give at_version or at_time, not both")
            at_version = self._version_at(cls, aggregate_id, at_time)
        agg = None
        if use_snapshots and isinstance(self.store, SnapshotStore):
            snap = self.store.load_snapshot(aggregate_id, at_or_below=at_version)
            if snap is not None:
                agg = restore(cls, snap, stream_type, self.converter)
        if agg is None:
            agg = cls(id=aggregate_id)
        if self.codec is not None and isinstance(self.store, PayloadReader):
            self._replay_payloads(agg, stream_type, at_version, self.store, self.codec)
        else:
            for rec in self.store.read_stream(aggregate_id, agg.version + 1, at_version):
                if agg.version == 0:
                    _check_type(agg, rec.stream_type, stream_type)
                agg._esf_replay(rec.event)
        if agg.version == 0:
            raise AggregateNotFound(f"{cls.__qualname__} {aggregate_id} does not exist")
        if at_version is not None and agg.version < at_version:
            raise AggregateNotFound(
                f"{cls.__qualname__} {aggregate_id} has no version {at_version}: it is at "
                f"version {agg.version}"
            )
        return agg

    def _replay_payloads(
        self,
        agg: Aggregate,
        stream_type: str,
        at_version: int | None,
        reader: PayloadReader,
        codec: EventCodec,
    ) -> None:
        """Replay from bare payloads: no envelopes built, nothing but the state."""
        decode, replay = codec.decode, agg._esf_replay
        for version, stored_type, event_type, schema_version, data in reader.read_payloads(
            agg.id, agg.version + 1, at_version
        ):
            if agg.version == 0:
                _check_type(agg, stored_type, stream_type)
            try:
                event = decode(event_type, schema_version, data)
            except EsfError as exc:
                raise type(exc)(f"stream {agg.id} v{version}: {exc}") from exc
            replay(event)

    def _version_at(self, cls: type[Aggregate], aggregate_id: UUID, at_time: datetime) -> int:
        """The version of the newest event recorded at or before ``at_time``."""
        if at_time.tzinfo is None:
            raise DefinitionError(
                "at_time must be timezone-aware (stored times are), e.g. datetime(..., tzinfo=UTC)"
            )
        version = 0
        for rec in self.store.read_stream(aggregate_id):
            if rec.recorded_at > at_time:
                break
            version = rec.version
        if version == 0:
            raise AggregateNotFound(
                f"{cls.__qualname__} {aggregate_id} did not exist at {at_time.isoformat()}"
            )
        return version

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether the aggregate's stream has any event."""
        return self.store.stream_version(aggregate_id) > 0
