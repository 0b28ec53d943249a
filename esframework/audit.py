"""The hash chain over each stream, and ``verify`` that walks it.

Each stored event's ``hash`` is SHA-256 over its ``prev_hash`` and the canonical JSON of
what the application produced: stream id and type, version, event id, event type and
schema version, payload, metadata and ``occurred_at``. The first event of a stream
chains from ``GENESIS_HASH``. ``position`` and ``recorded_at`` are assigned by the store
and stay outside the hash, so the same event keeps its hash when it is copied to another
store; the global order is checked separately (positions strictly increasing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from esframework.events import RecordedEvent
from esframework.serialization import canonical_json

__all__ = ["GENESIS_HASH", "AuditProblem", "AuditReport", "event_hash", "verify_records"]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event of every stream."""


def event_hash(
    prev_hash: str,
    *,
    stream_id: UUID,
    stream_type: str,
    version: int,
    event_id: UUID,
    event_type: str,
    schema_version: int,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
    occurred_at: datetime,
) -> str:
    """The SHA-256 hex digest that chains an event to the one before it in its stream."""
    body = canonical_json(
        {
            "data": data,
            "event_id": str(event_id),
            "event_type": event_type,
            "metadata": metadata,
            "occurred_at": occurred_at.isoformat(),
            "prev_hash": prev_hash,
            "schema_version": schema_version,
            "stream_id": str(stream_id),
            "stream_type": stream_type,
            "version": version,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record_hash(record: RecordedEvent) -> str:
    """Recompute the hash a stored record should carry."""
    return event_hash(
        record.prev_hash,
        stream_id=record.stream_id,
        stream_type=record.stream_type,
        version=record.version,
        event_id=record.event_id,
        event_type=record.event_type,
        schema_version=record.schema_version,
        data=record.data,
        metadata=record.metadata,
        occurred_at=record.occurred_at,
    )


@attrs.frozen
class AuditProblem:
    """One thing wrong in the stored record."""

    kind: str  # "edited", "missing", "reordered", "broken_link", "position"
    stream_id: UUID | None
    version: int | None
    position: int | None
    detail: str


@attrs.frozen
class AuditReport:
    """What ``verify`` found: ``ok`` when the chains and the global order are intact."""

    events: int
    streams: int
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


@attrs.define
class _StreamHead:
    version: int = 0
    hash: str = GENESIS_HASH


def verify_records(
    records: Iterable[RecordedEvent],
    *,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Walk records in position order and check every stream's chain and the order.

    Memory use grows with the number of streams, not events.
    """
    heads: dict[UUID, _StreamHead] = {}
    problems: list[AuditProblem] = []
    count = 0
    last_position = 0
    for rec in records:
        count += 1
        if rec.position <= last_position:
            problems.append(
                AuditProblem(
                    "position",
                    rec.stream_id,
                    rec.version,
                    rec.position,
                    f"position {rec.position} does not follow {last_position}",
                )
            )
        last_position = max(last_position, rec.position)
        head = heads.setdefault(rec.stream_id, _StreamHead())
        if rec.version != head.version + 1:
            kind = "reordered" if rec.version <= head.version else "missing"
            problems.append(
                AuditProblem(
                    kind,
                    rec.stream_id,
                    rec.version,
                    rec.position,
                    f"version {rec.version} follows version {head.version}",
                )
            )
        if rec.hash != record_hash(rec):
            problems.append(
                AuditProblem(
                    "edited",
                    rec.stream_id,
                    rec.version,
                    rec.position,
                    "stored content does not match its hash (payload, metadata or envelope "
                    "was changed)",
                )
            )
        elif rec.prev_hash != head.hash:
            problems.append(
                AuditProblem(
                    "broken_link",
                    rec.stream_id,
                    rec.version,
                    rec.position,
                    "prev_hash does not match the hash of the event before it",
                )
            )
        head.version = rec.version
        head.hash = rec.hash
        if progress is not None and count % 1000 == 0:
            progress(count)
    if progress is not None:
        progress(count)
    return AuditReport(events=count, streams=len(heads), problems=tuple(problems))
