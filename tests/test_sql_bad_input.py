"""Bad URLs, options and payloads: a typed error, nothing stored, the store still usable."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote
from uuid import uuid4

import pytest

import esframework as esf
from esframework.adapters.sql import SqlStore
from esframework.testing.contract import HOSTILE, Noted
from esframework.testing.stores import fresh_store


@pytest.mark.parametrize(
    "url",
    [
        "events.db",
        "sqlite:/relative.db",
        "mysql://root:hunter2@db/events",
        "postgresql+asyncpg://u:hunter2@h/db",
        "postgresql+psycopg2://u:hunter2@h/db",
        "postgresql://u:hunter2@h:port/db",
        "sqlite+aiosqlite:///x.db",
        "sqlite://somehost/x.db",
        "sqlite:///x.db?journal=off",
        "sqlite:///x.db?synchronous=OFF",
        "sqlite:///x.db?busy_timeout=soon",
        "http://[::1/x",
    ],
)
def test_malformed_or_unknown_urls_are_refused(url: str) -> None:
    """A URL no store serves is InvalidStoreUrl, whose message never shows a password."""
    with pytest.raises(esf.InvalidStoreUrl) as info:
        esf.connect(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("value", [None, 42, b"sqlite://"])
def test_a_url_must_be_text(value: object) -> None:
    """connect() of something that is not a string is InvalidStoreUrl."""
    with pytest.raises(esf.InvalidStoreUrl):
        esf.connect(value)  # type: ignore[arg-type]


def test_unreachable_postgres_is_unavailable_without_the_password() -> None:
    """No server at the address: StoreUnavailable naming the URL, minus its password."""
    url = "postgresql://esf:hunter2@127.0.0.1:1/nowhere"
    with pytest.raises(esf.StoreUnavailable) as info:
        esf.connect(url, connect_timeout=2)
    message = str(info.value)
    assert "hunter2" not in message
    assert "esf:***@127.0.0.1:1/nowhere" in message


def test_unusable_sqlite_files_are_unavailable(tmp_path: Path) -> None:
    """A path in a missing directory, or a file that is no database: StoreUnavailable."""
    with pytest.raises(esf.StoreUnavailable, match="missing"):
        esf.connect(f"sqlite:///{tmp_path / 'missing' / 'e.db'}")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just text that is long enough to look like one")
    with pytest.raises(esf.StoreUnavailable):
        esf.connect(f"sqlite:///{junk}")


@pytest.mark.parametrize(
    "schema",
    [HOSTILE, 'x"; DROP TABLE events; --', "Mixed", "pg_catalog", "1st", "", "a" * 64, "x-y"],
)
def test_schema_names_are_identifiers(schema: str) -> None:
    """A schema option that is not a plain lower-case identifier is refused before any SQL."""
    url = "postgresql://u:hunter2@127.0.0.1:1/db"
    with pytest.raises(esf.InvalidStoreUrl) as info:
        esf.connect(url, schema=schema)
    assert "hunter2" not in str(info.value)
    if schema:  # an empty query value is no value at all
        with pytest.raises(esf.InvalidStoreUrl):
            esf.connect(f"{url}?schema={quote(schema, safe='')}")


def test_schema_given_twice_must_agree() -> None:
    """The URL's ?schema= and the schema= option may not name different schemas."""
    with pytest.raises(esf.InvalidStoreUrl, match="name one"):
        esf.connect("postgresql://u@127.0.0.1:1/db?schema=a", schema="b")


@pytest.mark.postgres
def test_schema_from_the_url_is_used(postgres_url: str) -> None:
    """?schema=name in the URL keeps the store in that schema, as schema= does."""
    name = f"esf_test_{uuid4().hex[:12]}"
    with fresh_store(postgres_url) as probe:
        assert isinstance(probe, SqlStore)
        with esf.connect(f"{postgres_url}?schema={name}") as store:
            store.append(uuid4(), [Noted("here")], expected_version=0)
        with esf.connect(postgres_url, schema=name) as same:
            assert [r.event.text for r in same.read_all()] == ["here"]
            assert isinstance(same, SqlStore)
            with same.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")


@pytest.mark.postgres
def test_text_postgres_cannot_hold_is_a_serialization_error(postgres_url: str) -> None:
    """A NUL character (which JSONB refuses) is a SerializationError; nothing is stored."""
    with fresh_store(postgres_url) as store:
        sid = uuid4()
        with pytest.raises(esf.SerializationError, match="NUL"):
            store.append(sid, [Noted("ok"), Noted("nul \x00 here")], expected_version=0)
        assert store.stream_version(sid) == 0
        store.append(sid, [Noted("after")], expected_version=0)
        assert [r.event.text for r in store.read_all()] == ["after"]


def test_sqlite_keeps_nul_characters(tmp_path: Path) -> None:
    """SQLite stores text with NUL characters as it is."""
    with esf.connect(f"sqlite:///{tmp_path / 'e.db'}") as store:
        store.append(uuid4(), [Noted("nul \x00 here")], expected_version=0)
        assert [r.event.text for r in store.read_all()] == ["nul \x00 here"]


def test_unknown_options_are_type_errors(tmp_path: Path) -> None:
    """A misspelt option fails loudly instead of being ignored."""
    with pytest.raises(TypeError):
        esf.connect(f"sqlite:///{tmp_path / 'e.db'}", synchronus="NORMAL")
