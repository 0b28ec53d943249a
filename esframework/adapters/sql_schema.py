"""The SQL stores' tables, and the versions of that schema.

One ``MetaData`` describes the current schema for SQLite and PostgreSQL alike; column
types that differ between the two are variants (JSONB and ``timestamptz`` in
PostgreSQL, JSON text and ISO 8601 text in SQLite).

- ``events``: every field of the envelope. ``position`` is the global order (assigned
  by the store, gap-free; see ``esframework.adapters.sql``), ``(stream_id, version)``
  and ``event_id`` are unique. ``occurred_at`` is the UTC instant and
  ``occurred_offset`` the UTC offset (seconds) it was recorded with, so that it reads
  back with the exact offset its hash was computed over.
- Stream heads (a stream's type, version and last hash) are read from its newest
  event through the ``(stream_id, version)`` index: no table of their own, so an append
  writes one row and its index entries, nothing more.
- ``snapshots``: aggregate state at a version (a cache: loads fall back to replay).
- ``esf_conflicts``: events parked by ``Manual()`` until a person settles them.
- ``esf_store``: facts about the store itself, such as its ``store_id`` (which seals
  name, so that a seal of another store is recognised).
- ``esf_projections``: each projection's checkpoint: the last position it applied
  (committed with its view writes), whether it is paused, and why it stopped if it did.
- ``esf_views``: each view table's fingerprint (its name, fields and columns), so that
  a view whose shape changed is rebuilt rather than read with the wrong columns. The
  view tables themselves (``esf_view_<name>``) follow the view classes, not a version.
- ``esf_schema_version``: one row per schema version applied to this database.

A new database gets the current schema at once. An older one is migrated forward,
step by step, in one transaction; a newer one is refused, because this library cannot
know what a later one changed. Each step describes its own version's change; a step
that later changes a table an earlier step created must freeze that step's DDL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from esframework.errors import SchemaVersionError, StoreError

__all__ = [
    "SCHEMA_VERSION",
    "conflicts",
    "events",
    "metadata",
    "migrate",
    "projections",
    "read_schema_version",
    "read_store_id",
    "schema_versions",
    "snapshots",
    "store_info",
    "utc_text",
    "views",
]

SCHEMA_VERSION = 5
"""The schema version this library creates and understands."""

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    }
)

_JSON = sa.Text().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.Text().with_variant(sa.DateTime(timezone=True), "postgresql")
_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PK = SQLite rowid
_HASH = sa.String(64)

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", _POSITION, primary_key=True, autoincrement=False),
    sa.Column("stream_id", sa.Uuid(), nullable=False),
    sa.Column("stream_type", sa.Text(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    sa.Column("event_type", sa.Text(), nullable=False),
    sa.Column("schema_version", sa.Integer(), nullable=False),
    sa.Column("data", _JSON, nullable=False),
    sa.Column("metadata", _JSON, nullable=False),
    sa.Column("occurred_at", _TIME, nullable=False),
    sa.Column("occurred_offset", sa.Integer(), nullable=False),
    sa.Column("recorded_at", _TIME, nullable=False),
    sa.Column("prev_hash", _HASH, nullable=False),
    sa.Column("hash", _HASH, nullable=False),
    sa.UniqueConstraint("stream_id", "version"),
    sa.UniqueConstraint("event_id"),
    sa.Index(None, "event_type", "position"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("stream_id", sa.Uuid(), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("aggregate", sa.Text(), nullable=False),
    sa.Column("fingerprint", sa.Text(), nullable=False),
    sa.Column("state", _JSON, nullable=False),
    sa.Column("taken_at", _TIME, nullable=False),
)

conflicts = sa.Table(
    "esf_conflicts",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("stream_id", sa.Uuid(), nullable=False),
    sa.Column("stream_type", sa.Text(), nullable=False),
    sa.Column("expected_version", sa.Integer(), nullable=False),
    sa.Column("actual_version", sa.Integer(), nullable=False),
    sa.Column("ours", _JSON, nullable=False),
    sa.Column("concurrent_event_ids", _JSON, nullable=False),
    sa.Column("metadata", _JSON, nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("created_at", _TIME, nullable=False),
    sa.Column("settled_at", _TIME, nullable=True),
    sa.Index(None, "settled_at", "created_at"),
)

store_info = sa.Table(
    "esf_store",
    metadata,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

projections = sa.Table(
    "esf_projections",
    metadata,
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("position", sa.BigInteger(), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("failure", _JSON, nullable=True),
    sa.Column("updated_at", _TIME, nullable=True),
)

views = sa.Table(
    "esf_views",
    metadata,
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("fingerprint", sa.Text(), nullable=False),
)

schema_versions = sa.Table(
    "esf_schema_version",
    metadata,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("applied_at", _TIME, nullable=False),
    sa.Column("esframework", sa.Text(), nullable=False),
)

TABLES = (events, snapshots, conflicts, store_info, projections, views, schema_versions)


def utc_text(when: datetime) -> str:
    """A timestamp as SQLite stores it: UTC, ISO 8601, fixed width, so text order is time order."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _timestamp(conn: sa.Connection, when: datetime) -> Any:
    return when if conn.dialect.name == "postgresql" else utc_text(when)


def read_schema_version(conn: sa.Connection) -> int | None:
    """The database's schema version; None when no esframework schema is there yet."""
    if not sa.inspect(conn).has_table(schema_versions.name):
        return None
    version = conn.execute(sa.select(sa.func.max(schema_versions.c.version))).scalar()
    return int(version) if version is not None else None


def check_supported(version: int, where: str) -> None:
    """Refuse a schema newer than this library: it cannot know what changed."""
    if version > SCHEMA_VERSION:
        from esframework import __version__

        raise SchemaVersionError(
            f"the event store at {where} has schema version {version}, but esframework "
            f"{__version__} understands versions up to {SCHEMA_VERSION}: a newer esframework "
            "wrote it, so upgrade esframework (pip install -U esframework) to use it"
        )


Step = Callable[[sa.Connection], None]


def _v2_snapshots(conn: sa.Connection) -> None:
    snapshots.create(conn)


def _v3_conflicts_and_store(conn: sa.Connection) -> None:
    conflicts.create(conn)
    store_info.create(conn)


def _v4_read_models(conn: sa.Connection) -> None:
    projections.create(conn)
    views.create(conn)


def _v5_leaner_appends(conn: sa.Connection) -> None:
    # Every append wrote a row of `streams` and an entry of the recorded_at index: two
    # more B-trees per commit (on SQLite, two more pages to sync). Heads now come from
    # each stream's newest event, and nothing queried recorded_at through its index.
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_events_recorded_at")
    conn.exec_driver_sql("DROP TABLE IF EXISTS streams")


MIGRATIONS: dict[int, Step] = {
    2: _v2_snapshots,
    3: _v3_conflicts_and_store,
    4: _v4_read_models,
    5: _v5_leaner_appends,
}
"""Version -> the step that brings a database from the version before to it."""


def migrate(conn: sa.Connection, current: int | None, triggers: Sequence[str], where: str) -> None:
    """Bring the schema from ``current`` (None: empty database) to ``SCHEMA_VERSION``.

    Runs inside the caller's transaction, which holds the dialect's schema lock.
    """
    from esframework import __version__

    if current is None:
        clash = [t.name for t in TABLES if sa.inspect(conn).has_table(t.name)]
        if clash:
            raise StoreError(
                f"the database at {where} already has table(s) {', '.join(clash)} that "
                "esframework did not create: give the event store its own database file or "
                "PostgreSQL schema (schema= option)"
            )
        metadata.create_all(conn, checkfirst=False)
        for ddl in triggers:
            conn.exec_driver_sql(ddl)
        applied = [SCHEMA_VERSION]
    else:
        check_supported(current, where)
        applied = list(range(current + 1, SCHEMA_VERSION + 1))
        for version in applied:
            try:
                MIGRATIONS[version](conn)
            except sa.exc.DBAPIError as exc:
                raise StoreError(
                    f"migrating the event store at {where} from schema version {version - 1} "
                    f"to {version} failed ({exc.orig}); nothing was changed: fix the cause "
                    "and connect again"
                ) from exc
    if (
        conn.execute(sa.select(store_info.c.value).where(store_info.c.key == "store_id")).first()
        is None
    ):
        conn.execute(sa.insert(store_info).values(key="store_id", value=str(uuid4())))
    now = datetime.now(UTC)
    if applied:
        conn.execute(
            sa.insert(schema_versions),
            [
                {"version": v, "applied_at": _timestamp(conn, now), "esframework": __version__}
                for v in applied
            ],
        )


def read_store_id(conn: sa.Connection) -> str:
    """The id this store was given when its schema was created ("" before version 3)."""
    if not sa.inspect(conn).has_table(store_info.name):
        return ""
    value = conn.execute(
        sa.select(store_info.c.value).where(store_info.c.key == "store_id")
    ).scalar()
    return str(value or "")
