"""Loading aggregates from their streams and saving what they recorded."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

from esframework.adapters._common import check_stream_id
from esframework.adapters.base import EventStore
from esframework.aggregate import Aggregate, options_of
from esframework.errors import AggregateNotFound, DefinitionError

__all__ = ["Repository"]

A = TypeVar("A", bound=Aggregate)


class Repository:
    """Rebuilds aggregates by replaying their streams through their appliers."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"<Repository on {self.store!r}>"

    def load(
        self,
        cls: type[A],
        aggregate_id: UUID,
        *,
        at_version: int | None = None,
        at_time: datetime | None = None,
    ) -> A:
        """The aggregate's state now, at a version, or as recorded at a time."""
        options_of(cls)
        check_stream_id(aggregate_id)
        if at_version is not None and (
            not isinstance(at_version, int) or isinstance(at_version, bool) or at_version < 1
        ):
            raise DefinitionError(f"at_version must be an int >= 1, got {at_version!r}")
        if at_time is not None and at_time.tzinfo is None:
            raise DefinitionError(
                "at_time must be timezone-aware (stored times are), e.g. datetime(..., tzinfo=UTC)"
            )
        agg = cls(id=aggregate_id)
        for rec in self.store.read_stream(aggregate_id, to_version=at_version):
            if at_time is not None and rec.recorded_at > at_time:
                break
            agg._esf_replay(rec.event)
            agg.version = rec.version
        if agg.version == 0:
            when = f" at {at_time.isoformat()}" if at_time is not None else ""
            raise AggregateNotFound(f"{cls.__qualname__} {aggregate_id} does not exist{when}")
        if at_version is not None and agg.version < at_version:
            raise AggregateNotFound(
                f"{cls.__qualname__} {aggregate_id} has no version {at_version}: it is at "
                f"version {agg.version}"
            )
        return agg

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether the aggregate's stream has any event."""
        return self.store.stream_version(aggregate_id) > 0
