"""Tampering with a real SQLite file or PostgreSQL schema is found by verify.

Each test plays an administrator who drops the immutability triggers and changes the
events table directly; verify must report it. Truncation (a stream's newest events, or
a whole stream, removed at the end of the log) leaves valid chains and no hole in the
order, so only a seal taken before can reveal it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

import esframework as esf
from esframework.adapters.sql_schema import events
from esframework.testing.contract import Noted

SQLITE_TRIGGERS = ("events_refuse_update", "events_refuse_delete")
POSTGRES_TRIGGERS = ("events_refuse_change", "events_refuse_truncate")


@pytest.fixture
def filled(sql_db: Any) -> Iterator[tuple[Any, Any, UUID, UUID, esf.Seal]]:
    """A store with streams a (3 events) and b (2), sealed, then tail stream c (2)."""
    with sql_db.connect() as store:
        a, b, c = uuid4(), uuid4(), uuid4()
        store.append(a, [Noted("a1")], expected_version=0)
        store.append(b, [Noted("b1"), Noted("b2")], expected_version=0)
        store.append(a, [Noted("a2"), Noted("a3")], expected_version=1)
        store.append(c, [Noted("c1"), Noted("c2")], expected_version=0)
        seal = store.seal(hmac_key=b"k")
        assert store.verify().ok
        yield sql_db, store, a, c, seal


def _unprotect(store: Any) -> sa.Engine:
    engine: sa.Engine = store.engine
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for name in SQLITE_TRIGGERS:
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            for name in POSTGRES_TRIGGERS:
                conn.exec_driver_sql(f"DROP TRIGGER {name} ON events")
    return engine


def _json(conn: sa.Connection, value: Any) -> Any:
    return value if conn.dialect.name == "postgresql" else json.dumps(value)


def _at(stream_id: UUID, version: int) -> Any:
    return sa.and_(events.c.stream_id == stream_id, events.c.version == version)


def _kinds(report: esf.AuditReport) -> set[str]:
    return {p.kind for p in report.problems}


def test_the_database_refuses_changes_while_protected(filled: Any) -> None:
    """With its triggers in place, the database itself refuses UPDATE and DELETE."""
    _, store, a, _, _ = filled
    with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as conn:
        conn.execute(sa.update(events).where(_at(a, 2)).values(event_type="x"))
    with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as conn:
        conn.execute(sa.delete(events).where(_at(a, 2)))
    assert store.verify().ok


def test_edited_payload_is_found(filled: Any) -> None:
    """A payload changed in place is reported as edited, at its stream and version."""
    _, store, a, _, _ = filled
    with _unprotect(store).begin() as conn:
        conn.execute(
            sa.update(events).where(_at(a, 2)).values(data=_json(conn, {"text": "forged"}))
        )
    report = store.verify()
    (problem,) = report.problems
    assert (problem.kind, problem.stream_id, problem.version) == ("edited", a, 2)


def test_edited_metadata_is_found(filled: Any) -> None:
    """Metadata changed in place (who did it) is reported as edited."""
    _, store, a, _, _ = filled
    with _unprotect(store).begin() as conn:
        conn.execute(
            sa.update(events).where(_at(a, 3)).values(metadata=_json(conn, {"user_id": "mallory"}))
        )
    assert [(p.kind, p.version) for p in store.verify().problems] == [("edited", 3)]


def test_deleted_middle_event_is_found(filled: Any) -> None:
    """A deleted event in the middle leaves a missing version and a hole in the order."""
    _, store, a, _, _ = filled
    with _unprotect(store).begin() as conn:
        conn.execute(sa.delete(events).where(_at(a, 2)))
    kinds = _kinds(store.verify())
    assert {"missing", "gap"} <= kinds


def test_swapped_events_are_found(filled: Any) -> None:
    """Two events of a stream swapped in the global order are reported as reordered."""
    _, store, a, _, _ = filled
    with _unprotect(store).begin() as conn:
        p2, p3 = (
            conn.execute(sa.select(events.c.position).where(_at(a, v))).scalar_one()
            for v in (2, 3)
        )
        conn.execute(sa.update(events).where(events.c.position == p2).values(position=-1))
        conn.execute(sa.update(events).where(events.c.position == p3).values(position=p2))
        conn.execute(sa.update(events).where(events.c.position == -1).values(position=p3))
    assert "reordered" in _kinds(store.verify())


def test_deleted_newest_events_are_found_only_with_a_seal(filled: Any) -> None:
    """Truncating the newest events of the log passes a plain verify, not a sealed one."""
    _, store, _, c, seal = filled
    with _unprotect(store).begin() as conn:
        conn.execute(sa.delete(events).where(_at(c, 2)))
    assert store.verify().ok
    report = store.verify(against=seal, hmac_key=b"k")
    assert "truncated" in _kinds(report)


def test_deleted_stream_is_found_only_with_a_seal(filled: Any) -> None:
    """A whole stream deleted from the end of the log is caught only by a seal."""
    _, store, _, c, seal = filled
    with _unprotect(store).begin() as conn:
        conn.execute(sa.delete(events).where(events.c.stream_id == c))
    assert store.verify().ok
    report = store.verify(against=seal, hmac_key=b"k")
    assert "truncated" in _kinds(report)


def test_a_seal_survives_reconnecting_and_refuses_another_store(
    filled: Any, tmp_path: Any
) -> None:
    """A seal checks out against the same database later, and never against another."""
    sql_db, _, _, _, seal = filled
    with sql_db.connect() as again:
        assert again.verify(against=seal, hmac_key=b"k").ok
    with esf.connect(f"sqlite:///{tmp_path / 'other.db'}") as other:
        report = other.verify(against=seal, hmac_key=b"k")
    assert "seal" in _kinds(report)
