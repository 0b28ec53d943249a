"""The SQL stores' own schema: created new, migrated forward, refused when newer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa

import esframework as esf
from esframework.adapters.sql import SqlStore
from esframework.adapters.sql_schema import SCHEMA_VERSION
from esframework.audit import verify_records
from esframework.testing.contract import Noted


def _shape(store: SqlStore) -> dict[str, Any]:
    """Tables, columns, indexes, unique constraints and triggers, as the database has them."""
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        shape: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            shape[table] = (
                [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                sorted(
                    (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)
                ),
                sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            )
        if conn.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        else:
            query = (
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid = 'events'::regclass ORDER BY tgname"
            )
        shape["triggers"] = conn.exec_driver_sql(query).scalars().all()
    return shape


def _versions(store: SqlStore) -> list[int]:
    with store.engine.connect() as conn:
        query = "SELECT version FROM esf_schema_version ORDER BY version"
        return list(conn.exec_driver_sql(query).scalars())


def _make_v1(store: SqlStore) -> None:
    """Turn a current database into what schema version 1 looked like.

    Version 2 added snapshots; version 3 parked conflicts and the store's own facts;
    version 4 projection checkpoints and view fingerprints; version 5 dropped the
    ``streams`` table of heads and the ``recorded_at`` index, which versions 1-4 kept.
    """
    with store.engine.begin() as conn:
        for table in ("snapshots", "esf_conflicts", "esf_store", "esf_projections", "esf_views"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
        uuid = "CHAR(32)" if conn.dialect.name == "sqlite" else "UUID"
        conn.exec_driver_sql(
            f"CREATE TABLE streams (stream_id {uuid} PRIMARY KEY, stream_type TEXT NOT NULL, "
            "version INTEGER NOT NULL, last_hash VARCHAR(64) NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO streams SELECT stream_id, stream_type, version, hash FROM events "
            "WHERE (stream_id, version) IN "
            "(SELECT stream_id, max(version) FROM events GROUP BY stream_id)"
        )
        conn.exec_driver_sql("CREATE INDEX ix_events_recorded_at ON events (recorded_at)")
        conn.exec_driver_sql("DELETE FROM esf_schema_version")
        conn.exec_driver_sql(
            "INSERT INTO esf_schema_version (version, applied_at, esframework) "
            "VALUES (1, '2025-01-01T00:00:00.000000+00:00', '0.0.1')"
            if conn.dialect.name == "sqlite"
            else "INSERT INTO esf_schema_version VALUES (1, '2025-01-01T00:00:00Z', '0.0.1')"
        )


def test_new_database_gets_the_current_schema(sql_db) -> None:
    """Connecting to an empty database creates every table, index and trigger."""
    with sql_db.connect() as store:
        shape = _shape(store)
        assert {"events", "snapshots", "esf_schema_version"} <= set(shape)
        assert len(shape["triggers"]) >= 2
        assert _versions(store) == [SCHEMA_VERSION]
    with sql_db.connect() as again:
        assert _versions(again) == [SCHEMA_VERSION]


def test_older_schema_is_migrated_forward(sql_db) -> None:
    """A version 1 database is brought to the current schema; its events stay valid."""
    with sql_db.connect() as store:
        sid = uuid4()
        store.append(sid, [Noted("before")], expected_version=0)
        fresh = _shape(store)
        _make_v1(store)
        assert "snapshots" not in _shape(store)
        assert "streams" in _shape(store)
    with sql_db.connect() as migrated:
        assert _versions(migrated) == list(range(1, SCHEMA_VERSION + 1))
        assert _shape(migrated) == fresh
        migrated.append(sid, [Noted("after")], expected_version=1)
        assert [r.event.text for r in migrated.read_stream(sid)] == ["before", "after"]
        assert verify_records(migrated.read_all()).ok


def test_store_keeps_its_id_and_stores_differ(sql_db, tmp_path) -> None:
    """A store's id (which seals name) survives reconnecting; another store has another."""
    with sql_db.connect() as store:
        first = store.store_id
    with sql_db.connect() as again:
        assert again.store_id == first
    assert len(first) == 36
    with esf.connect(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert other.store_id not in ("", first)


def test_newer_schema_is_refused(sql_db) -> None:
    """A database written by a newer esframework is refused, naming the upgrade."""
    with sql_db.connect() as store:
        store.append(uuid4(), [Noted("kept")], expected_version=0)
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO esf_schema_version (version, applied_at, esframework) "
                    "SELECT :v, applied_at, '99.0' FROM esf_schema_version"
                ),
                {"v": SCHEMA_VERSION + 1},
            )
    with pytest.raises(esf.SchemaVersionError, match=r"upgrade esframework") as info:
        sql_db.connect()
    assert f"version {SCHEMA_VERSION + 1}" in str(info.value)
    with pytest.raises(esf.SchemaVersionError):
        sql_db.connect()


def test_failed_migration_changes_nothing(sql_db) -> None:
    """A migration that fails leaves the database at its old version, usable again later."""
    with sql_db.connect() as store:
        _make_v1(store)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE snapshots (unrelated TEXT)")
    with pytest.raises(esf.StoreError, match="from schema version 1 to 2"):
        sql_db.connect()
    with _raw(sql_db) as engine:
        with engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version FROM esf_schema_version").scalars()
            assert list(versions) == [1]
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE snapshots")
    with sql_db.connect() as store:
        assert _versions(store) == list(range(1, SCHEMA_VERSION + 1))


def test_without_migrate_an_older_schema_is_read_but_not_changed(sql_db) -> None:
    """migrate=False reports an older version, reads events, refuses appends, alters nothing."""
    with sql_db.connect() as store:
        sid = uuid4()
        store.append(sid, [Noted("before")], expected_version=0)
        _make_v1(store)
        old = _shape(store)
    with sql_db.connect(migrate=False) as reader:
        assert reader.schema_version == 1
        assert reader.store_id == ""
        assert [r.event.text for r in reader.read_stream(sid)] == ["before"]
        with pytest.raises(esf.StoreError, match="migrate=False"):
            reader.append(sid, [Noted("after")], expected_version=1)
        assert _shape(reader) == old
        assert _versions(reader) == [1]


def test_without_migrate_an_empty_database_stays_empty(sql_db) -> None:
    """migrate=False on a database without a store says so (None) and creates nothing."""
    if sql_db.kind == "sqlite":
        path = Path(sa.make_url(sql_db.url).database or "")
        with pytest.raises(esf.StoreUnavailable, match="no SQLite database"):
            sql_db.connect(migrate=False)
        assert not path.exists()
        return
    with sql_db.connect(migrate=False) as store:
        assert store.schema_version is None
    with _raw(sql_db) as engine, engine.connect() as conn:
        schemas = conn.exec_driver_sql("SELECT schema_name FROM information_schema.schemata")
        assert sql_db.options["schema"] not in set(schemas.scalars())


def test_without_migrate_a_current_schema_is_fully_usable(sql_db) -> None:
    """migrate=False on a current store changes nothing about using it."""
    with sql_db.connect() as store:
        first = store.store_id
    with sql_db.connect(migrate=False) as store:
        assert (store.schema_version, store.store_id) == (SCHEMA_VERSION, first)
        store.append(uuid4(), [Noted("fine")], expected_version=0)


def test_without_migrate_a_newer_schema_is_still_refused(sql_db) -> None:
    """migrate=False does not lift the refusal of a schema newer than the library."""
    with sql_db.connect() as store, store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO esf_schema_version (version, applied_at, esframework) "
                "SELECT :v, applied_at, '99.0' FROM esf_schema_version"
            ),
            {"v": SCHEMA_VERSION + 1},
        )
    with pytest.raises(esf.SchemaVersionError):
        sql_db.connect(migrate=False)


def test_tables_it_did_not_create_are_not_taken_over(sql_db) -> None:
    """A database that already has an unrelated events table is refused, untouched."""
    with _raw(sql_db) as engine:
        with engine.begin() as conn:
            if sql_db.kind == "postgres":
                schema = sql_db.options["schema"]
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
                conn.exec_driver_sql(f'CREATE TABLE "{schema}".events (id INTEGER)')
            else:
                conn.exec_driver_sql("CREATE TABLE events (id INTEGER)")
        with pytest.raises(esf.StoreError, match="did not create"):
            sql_db.connect()


@contextmanager
def _raw(db: Any) -> Iterator[sa.Engine]:
    """A plain SQLAlchemy engine on the test database (its schema first in PostgreSQL)."""
    url = sa.make_url(db.url)
    if db.kind == "postgres":
        engine = sa.create_engine(
            url.set(drivername="postgresql+psycopg"),
            connect_args={"options": f"-csearch_path={db.options['schema']}"},
        )
    else:
        engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
