"""What the SQL stores keep beside the events: snapshots and parked conflicts.

Neither is on a hot path, so both go through SQLAlchemy Core. Settling a parked
conflict appends its events and marks it settled in one transaction (the append's),
so a conflict is settled once or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa

from esframework.adapters import sql_schema
from esframework.adapters.base import Batch
from esframework.conflicts import ParkedConflict
from esframework.errors import ConflictNotFound
from esframework.events import RecordedEvent
from esframework.snapshots import Snapshot

if TYPE_CHECKING:
    from esframework.adapters.sql import BeforeCommit

__all__ = ["SideTables", "not_open"]

_snapshots = sql_schema.snapshots
_conflicts = sql_schema.conflicts


def not_open(conflict_id: UUID) -> ConflictNotFound:
    """The error for settling a conflict that is unknown or already settled."""
    return ConflictNotFound(
        f"no open conflict {conflict_id}: it is unknown or already resolved; "
        "app.conflicts() lists the open ones"
    )


class SideTables:
    """``SnapshotStore`` and ``ConflictStore`` for ``SqlStore``."""

    if TYPE_CHECKING:  # provided by SqlStore

        def transaction(self) -> AbstractContextManager[sa.Connection]: ...

        def _reading(self) -> AbstractContextManager[sa.Connection]: ...

        def _settle(self, db: Any, conflict_id: UUID, now: datetime) -> None: ...

        def _append_batch(
            self,
            batch: Batch,
            *,
            stream_types: Mapping[UUID, str] | None,
            metadata: Mapping[str, Any] | None,
            before_commit: BeforeCommit | None = None,
        ) -> list[RecordedEvent]: ...

    def _json_in(self, conn: sa.Connection, value: Any) -> Any:
        return value if conn.dialect.name == "postgresql" else json.dumps(value)

    def _json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _time_in(self, conn: sa.Connection, when: datetime) -> Any:
        return when if conn.dialect.name == "postgresql" else sql_schema.utc_text(when)

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    # -- snapshots -----------------------------------------------------------------

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` (replacing one of the same stream and version)."""
        with self.transaction() as conn:
            conn.execute(
                sa.delete(_snapshots).where(
                    _snapshots.c.stream_id == snapshot.stream_id,
                    _snapshots.c.version == snapshot.version,
                )
            )
            conn.execute(
                sa.insert(_snapshots).values(
                    stream_id=snapshot.stream_id,
                    version=snapshot.version,
                    aggregate=snapshot.aggregate_type,
                    fingerprint=snapshot.fingerprint,
                    state=self._json_in(conn, snapshot.state),
                    taken_at=self._time_in(conn, snapshot.taken_at),
                )
            )

    def load_snapshot(self, stream_id: UUID, at_or_below: int | None = None) -> Snapshot | None:
        """The newest snapshot of the stream at or below a version, if any."""
        query = sa.select(_snapshots).where(_snapshots.c.stream_id == stream_id)
        if at_or_below is not None:
            query = query.where(_snapshots.c.version <= at_or_below)
        query = query.order_by(_snapshots.c.version.desc()).limit(1)
        with self._reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Snapshot(
            stream_id=row.stream_id,
            version=row.version,
            aggregate_type=row.aggregate,
            fingerprint=row.fingerprint,
            state=self._json_out(row.state),
            taken_at=self._time_out(row.taken_at),
        )

    # -- parked conflicts ----------------------------------------------------------

    def park_conflict(self, conflict: ParkedConflict) -> None:
        """Keep ``conflict`` open until it is settled."""
        with self.transaction() as conn:
            conn.execute(
                sa.insert(_conflicts).values(
                    id=conflict.id,
                    stream_id=conflict.stream_id,
                    stream_type=conflict.stream_type,
                    expected_version=conflict.expected_version,
                    actual_version=conflict.actual_version,
                    ours=self._json_in(conn, [dict(o) for o in conflict.ours]),
                    concurrent_event_ids=self._json_in(
                        conn, [str(i) for i in conflict.concurrent_event_ids]
                    ),
                    metadata=self._json_in(conn, dict(conflict.metadata)),
                    reason=conflict.reason,
                    created_at=self._time_in(conn, conflict.created_at),
                )
            )

    def open_conflicts(self) -> list[ParkedConflict]:
        """Every conflict not settled yet, oldest first."""
        query = (
            sa.select(_conflicts)
            .where(_conflicts.c.settled_at.is_(None))
            .order_by(_conflicts.c.created_at, _conflicts.c.id)
        )
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [
            ParkedConflict(
                id=row.id,
                stream_id=row.stream_id,
                stream_type=row.stream_type,
                expected_version=row.expected_version,
                actual_version=row.actual_version,
                ours=tuple(self._json_out(row.ours)),
                concurrent_event_ids=tuple(
                    UUID(i) for i in self._json_out(row.concurrent_event_ids)
                ),
                metadata=self._json_out(row.metadata),
                created_at=self._time_out(row.created_at),
                reason=row.reason,
            )
            for row in rows
        ]

    def settle_conflict(
        self,
        conflict_id: UUID,
        batch: Batch,
        *,
        stream_types: Mapping[UUID, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[RecordedEvent]:
        """Append ``batch`` and close the conflict in one atomic step."""
        if not any(p.id == conflict_id for p in self.open_conflicts()):
            raise not_open(conflict_id)
        return self._append_batch(
            batch,
            stream_types=stream_types,
            metadata=metadata,
            before_commit=lambda db, _last, now: self._settle(db, conflict_id, now),
        )
