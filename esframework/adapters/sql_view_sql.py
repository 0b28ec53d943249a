"""The SQL of the read models, and how SQLite and PostgreSQL differ in it.

Statements are built from a ``ViewSpec`` (names checked when the view was declared:
table names match ``[a-z_][a-z0-9_]*``, field names are Python identifiers, and both
are quoted) and from values passed as parameters, never spliced into the text.

Query semantics match the memory store's: ``None`` sorts after every value in both
directions; ``__ne`` keeps rows where the field is ``None``; the order always ends with
the key, so keyset pagination is exact.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from esframework.adapters.read_base import (
    Condition,
    Generation,
    Lease,
    Query,
    StoredRow,
)
from esframework.adapters.sql_schema import utc_text
from esframework.views import Column, ViewSpec

if TYPE_CHECKING:
    from esframework.adapters.memory_views import LocalLeases
    from esframework.adapters.sql import SqlStore

__all__ = ["Dialect", "SqliteDialect", "Statement", "select_rows", "where_clause"]


class Statement(NamedTuple):
    """SQL text and its parameters, as ``db.execute(*statement)`` takes them."""

    sql: str
    params: dict[str, Any]


def _q(name: str) -> str:
    return f'"{name}"'


def _int_enum(col: Column) -> bool:
    return any(isinstance(m.value, int) for m in col.type)  # type: ignore[attr-defined]


class Dialect:
    """The read-model SQL both databases share; subclasses say how each differs."""

    for_update = ""
    json_type = "TEXT"
    bool_type = "BOOLEAN"

    def ph(self, name: str) -> str:
        """The placeholder of a named parameter."""
        raise NotImplementedError

    def json_ph(self, name: str) -> str:
        """The placeholder of a JSON text parameter."""
        return self.ph(name)

    def column_type(self, col: Column) -> str:
        """The SQL type of a key or index column."""
        raise NotImplementedError

    def to_db(self, col: Column, value: Any) -> Any:
        """A column's value as a parameter."""
        return value

    def key_out(self, col: Column, value: Any) -> Any:
        """A key column's value as read back."""
        return value

    def json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def bool_in(self, value: bool) -> Any:
        return value

    def time_in(self, when: datetime | None) -> Any:
        return when

    def time_out(self, value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    def begin(self, db: Any) -> None:
        """Start a session's transaction."""

    def lock_appends(self, db: Any, store: SqlStore) -> None:
        """Hold the store's write lock for the rest of the transaction."""

    def lock_ddl(self, db: Any, store: SqlStore) -> None:
        """Serialise creating and dropping view tables between processes."""

    def limit_offset(self, limit: int | None, offset: int) -> str:
        text = "" if limit is None else f" LIMIT {int(limit)}"
        return text + (f" OFFSET {int(offset)}" if offset else "")

    def lease(self, store: SqlStore, local: LocalLeases, name: str) -> Lease:
        """The lease of one projection's runner (default: among this process's runners)."""
        return local.lease(name)

    def statement(self, sql: str, **params: Any) -> Statement:
        return Statement(sql, params)

    # -- view tables ----------------------------------------------------------------

    def table(self, view: ViewSpec, generation: Generation) -> str:
        suffix = "__rebuild" if generation == "rebuild" else ""
        return _q(f"esf_view_{view.name}{suffix}")

    def create_table(self, view: ViewSpec, generation: Generation) -> list[str]:
        """Drop and create a view table and its indexes (index names unique per table)."""
        table = self.table(view, generation)
        token = uuid.uuid4().hex[:12]
        columns = [f"{_q(view.key.name)} {self.column_type(view.key)} PRIMARY KEY"]
        columns += [f"{_q(c.name)} {self.column_type(c)}" for c in view.indexes]
        columns += [
            f"esf_row {self.json_type} NOT NULL",
            "esf_position BIGINT NOT NULL",
            f"esf_deleted {self.bool_type} NOT NULL",
        ]
        ddl = [self.drop_table(view, generation), f"CREATE TABLE {table} ({', '.join(columns)})"]
        ddl += [
            f"CREATE INDEX {_q(f'esf_ix_{token}_{i}')} ON {table} ({_q(c.name)})"
            for i, c in enumerate(view.indexes)
        ]
        ddl.append(f"CREATE INDEX {_q(f'esf_ix_{token}_p')} ON {table} (esf_position)")
        return ddl

    def drop_table(self, view: ViewSpec, generation: Generation) -> str:
        return f"DROP TABLE IF EXISTS {self.table(view, generation)}"

    def swap(self, view: ViewSpec) -> list[str]:
        return [
            self.drop_table(view, "live"),
            f"ALTER TABLE {self.table(view, 'rebuild')} RENAME TO {self.table(view, 'live')}",
        ]

    def row_columns(self, view: ViewSpec) -> str:
        return f"{_q(view.key.name)}, esf_row, esf_position, esf_deleted"

    def stored_row(self, view: ViewSpec, row: Sequence[Any]) -> StoredRow:
        key, data, position, deleted = row
        return StoredRow(
            self.key_out(view.key, key), self.json_out(data), int(position), bool(deleted)
        )

    def get_row(
        self, view: ViewSpec, key: Any, generation: Generation, *, deleted_too: bool
    ) -> Statement:
        live = "" if deleted_too else " AND NOT esf_deleted"
        sql = (
            f"SELECT {self.row_columns(view)} FROM {self.table(view, generation)} "
            f"WHERE {_q(view.key.name)} = {self.ph('key')}{live}"
        )
        return Statement(sql, {"key": self.to_db(view.key, key)})

    def upsert(self, view: ViewSpec, generation: Generation) -> str:
        """Insert or replace a row, unless the stored one was written at the same
        position or later (a redelivered event cannot write a row twice)."""
        table = self.table(view, generation)
        names = [c.name for c in view.columns]
        values = [self.ph(f"c{i}") for i in range(len(names))]
        values += [self.json_ph("row"), self.ph("position"), self.ph("deleted")]
        updates = [f"{_q(n)} = excluded.{_q(n)}" for n in names[1:]]
        updates += [f"{c} = excluded.{c}" for c in ("esf_row", "esf_position", "esf_deleted")]
        return (
            f"INSERT INTO {table} ({', '.join(map(_q, names))}, esf_row, esf_position, "
            f"esf_deleted) VALUES ({', '.join(values)}) ON CONFLICT ({_q(names[0])}) "
            f"DO UPDATE SET {', '.join(updates)} "
            f"WHERE {table}.esf_position < excluded.esf_position"
        )

    def upsert_params(
        self, view: ViewSpec, row: StoredRow, columns: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The parameters of ``upsert`` for one row."""
        params = {f"c{i}": self.to_db(c, columns[c.name]) for i, c in enumerate(view.columns)}
        params |= {
            "row": json.dumps(row.data, separators=(",", ":")),
            "position": row.position,
            "deleted": self.bool_in(row.deleted),
        }
        return params

    # -- bookkeeping ----------------------------------------------------------------

    def select_fingerprint(self, view: ViewSpec) -> Statement:
        return self.statement(
            f"SELECT fingerprint FROM esf_views WHERE name = {self.ph('name')}", name=view.name
        )

    def upsert_fingerprint(self, view: ViewSpec) -> Statement:
        return self.statement(
            f"INSERT INTO esf_views (name, fingerprint) VALUES ({self.ph('name')}, "
            f"{self.ph('fingerprint')}) ON CONFLICT (name) DO UPDATE SET "
            "fingerprint = excluded.fingerprint",
            name=view.name,
            fingerprint=view.fingerprint,
        )

    def insert_checkpoint(self, projection: str) -> Statement:
        return self.statement(
            "INSERT INTO esf_projections (name, position, paused) VALUES "
            f"({self.ph('name')}, 0, {self.ph('paused')}) ON CONFLICT (name) DO NOTHING",
            name=projection,
            paused=self.bool_in(False),
        )

    def upsert_checkpoint(
        self,
        projection: str,
        position: int,
        paused: bool,
        failure: str | None,
        updated_at: datetime | None,
    ) -> Statement:
        ph = self.ph
        return self.statement(
            "INSERT INTO esf_projections (name, position, paused, failure, updated_at) "
            f"VALUES ({ph('name')}, {ph('position')}, {ph('paused')}, "
            f"{self.json_ph('failure')}, {ph('updated_at')}) ON CONFLICT (name) DO UPDATE SET "
            "position = excluded.position, paused = excluded.paused, "
            "failure = excluded.failure, updated_at = excluded.updated_at",
            name=projection,
            position=position,
            paused=self.bool_in(paused),
            failure=failure,
            updated_at=self.time_in(updated_at),
        )

    def reset_checkpoint(self, projection: str) -> Statement:
        return self.statement(
            "UPDATE esf_projections SET position = 0, failure = NULL "
            f"WHERE name = {self.ph('name')}",
            name=projection,
        )


class SqliteDialect(Dialect):
    """SQLite: typeless columns given types that sort right, writers serialised."""

    bool_type = "INTEGER"

    def __init__(self, busy_timeout: float = 5.0) -> None:
        self.busy_timeout = busy_timeout

    def ph(self, name: str) -> str:
        return f":{name}"

    def column_type(self, col: Column) -> str:
        if col.kind == "enum":
            return "INTEGER" if _int_enum(col) else "TEXT"
        return {"int": "INTEGER", "bool": "INTEGER", "float": "REAL", "decimal": "REAL"}.get(
            col.kind, "TEXT"
        )

    def to_db(self, col: Column, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, Decimal):
            return float(value)  # compared as a double: exact for the usual precisions
        if isinstance(value, datetime):
            return utc_text(value)  # fixed-width UTC: text order is time order
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, enum.Enum):
            return value.value
        return value

    def key_out(self, col: Column, value: Any) -> Any:
        if col.kind == "uuid":
            return uuid.UUID(value)
        if col.kind == "datetime":
            return datetime.fromisoformat(value)
        if col.kind == "date":
            return date.fromisoformat(value)
        return value

    def bool_in(self, value: bool) -> Any:
        return int(value)

    def time_in(self, when: datetime | None) -> Any:
        return None if when is None else utc_text(when)

    def begin(self, db: Any) -> None:
        """Take the database's write lock for the session, asking again every millisecond.

        SQLite's own busy handler sleeps longer and longer (up to 100 ms a try), so a
        runner would lose the lock to a steady writer for hundreds of milliseconds.
        """
        deadline = time.monotonic() + self.busy_timeout
        db.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(0.001)
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def limit_offset(self, limit: int | None, offset: int) -> str:
        if limit is None and offset:
            return f" LIMIT -1 OFFSET {int(offset)}"
        return super().limit_offset(limit, offset)


def _compare(d: Dialect, col: Column, op: str, name: str) -> str:
    column = _q(col.name)
    sign = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}.get(op)
    if sign is not None:
        return f"{column} {sign} {d.ph(name)}"
    return f"({column} <> {d.ph(name)} OR {column} IS NULL)"  # ne: None is not equal


def where_clause(
    d: Dialect, view: ViewSpec, conditions: Sequence[Condition]
) -> tuple[str, dict[str, Any]]:
    """``NOT esf_deleted AND ...`` for the conditions, and their parameters."""
    parts: list[str] = ["NOT esf_deleted"]
    params: dict[str, Any] = {}
    for i, cond in enumerate(conditions):
        col = view.column(cond.field, purpose="filter")
        column = _q(col.name)
        if cond.op == "in":
            values = [v for v in cond.value if v is not None]
            names = [f"w{i}_{j}" for j in range(len(values))]
            params |= {n: d.to_db(col, v) for n, v in zip(names, values, strict=True)}
            alternatives = [f"{column} IN ({', '.join(d.ph(n) for n in names)})"] if names else []
            if len(values) != len(cond.value):
                alternatives.append(f"{column} IS NULL")
            parts.append(f"({' OR '.join(alternatives) or '1 = 0'})")
        elif cond.value is None:
            parts.append(f"{column} IS {'NOT ' if cond.op == 'ne' else ''}NULL")
        else:
            params[f"w{i}"] = d.to_db(col, cond.value)
            parts.append(_compare(d, col, cond.op, f"w{i}"))
    return " AND ".join(parts), params


def _keyset(d: Dialect, view: ViewSpec, query: Query) -> tuple[str, dict[str, Any]]:
    """Rows after the cursor's values in the query's order (None sorting last)."""
    assert query.after is not None
    params: dict[str, Any] = {}
    equal: list[str] = []
    alternatives: list[str] = []
    for i, (order, value) in enumerate(zip(query.order, query.after, strict=True)):
        col = view.column(order.field, purpose="sort")
        column = _q(col.name)
        if value is None:
            equal.append(f"{column} IS NULL")  # nothing sorts after None
            continue
        params[f"k{i}"] = d.to_db(col, value)
        sign = "<" if order.descending else ">"
        after = f"({column} {sign} {d.ph(f'k{i}')} OR {column} IS NULL)"
        alternatives.append(" AND ".join([*equal, after]))
        equal.append(f"{column} = {d.ph(f'k{i}')}")
    return f"({' OR '.join(f'({a})' for a in alternatives) or '1 = 0'})", params


def select_rows(d: Dialect, view: ViewSpec, query: Query) -> Statement:
    """The statement that runs ``query`` on the live table of ``view``."""
    where, params = where_clause(d, view, query.conditions)
    if query.after is not None:
        keyset, more = _keyset(d, view, query)
        where, params = f"{where} AND {keyset}", params | more
    order = ", ".join(
        f"{_q(view.column(o.field, purpose='sort').name)} "
        f"{'DESC' if o.descending else 'ASC'} NULLS LAST"
        for o in query.order
    )
    sql = (
        f"SELECT {d.row_columns(view)} FROM {d.table(view, 'live')} WHERE {where}"
        f"{' ORDER BY ' + order if order else ''}{d.limit_offset(query.limit, query.offset)}"
    )
    return Statement(sql, params)
