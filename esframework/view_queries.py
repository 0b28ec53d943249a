"""Queries over views that return typed instances: ``app.view(Balance)``.

::

    balances = app.view(Balance)
    balances.get(account_id)                                   # Balance | None
    page = balances.where(owner="ann", balance__gte=10).order_by("-balance").page(size=20)
    more = balances.where(owner="ann", balance__gte=10).order_by("-balance").page(
        size=20, after=page.next_cursor)
    balances.where(owner="ann").count()
    changes = balances.changed_since(position)                 # incremental fetch

Field names are checked against the view class before anything runs: an unknown
field, or one that is neither the key nor an index, is an ``InvalidQuery`` naming
what can be used. Operators: ``eq`` (``field=value``), ``__ne``, ``__lt``, ``__lte``,
``__gt``, ``__gte``, ``__in``. Pages are keyset-paginated (``after=cursor``, an opaque
string tied to the view and the order) or offset-paginated (``offset=n``).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar
from uuid import UUID

import attrs
import cattrs

from esframework.adapters.read_base import Condition, Order, Query, ReadModels, StoredRow
from esframework.errors import InvalidCursor, InvalidQuery, ReadModelError
from esframework.views import Column, ViewSpec

__all__ = ["Changes", "Page", "ViewCache", "ViewQuery", "ViewReader", "ViewSource"]

V = TypeVar("V")

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")
_PAGE_ALL = 500


@attrs.frozen
class Page(Generic[V]):
    """One page of a query: its items, and the cursor of the next page (None at the end)."""

    items: tuple[V, ...]
    next_cursor: str | None

    def __iter__(self) -> Iterator[V]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen
class Changes(Generic[V]):
    """What changed in a view above a position: rows written, keys deleted.

    Pass ``position`` to the next ``changed_since`` to get only what changed after.
    """

    items: tuple[V, ...]
    deleted: tuple[Any, ...]
    position: int


class ViewCache:
    """Query results of views declared with ``cache_ttl``, per application.

    An entry lives for the view's TTL, and only until a projection of the same
    application writes to the view (``invalidate``); writers elsewhere are bounded by
    the TTL.
    """

    _MAX = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._entries: dict[tuple[str, object], tuple[int, float, Any]] = {}

    def invalidate(self, views: Sequence[str]) -> None:
        """Forget every cached result of these views."""
        with self._lock:
            for name in views:
                self._versions[name] = self._versions.get(name, 0) + 1

    def fetch(self, view: ViewSpec, key: object, compute: Callable[[], V]) -> V:
        """The cached result for ``key``, or ``compute()`` (cached if the view has a TTL)."""
        if view.cache_ttl is None:
            return compute()
        now = time.monotonic()
        with self._lock:
            version = self._versions.get(view.name, 0)
            entry = self._entries.get((view.name, key))
        if entry is not None and entry[0] == version and entry[1] > now:
            value: V = entry[2]
            return value
        value = compute()
        with self._lock:
            if len(self._entries) >= self._MAX:
                self._entries.clear()
            self._entries[(view.name, key)] = (version, now + view.cache_ttl, value)
        return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value


def _exact(*types: type) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) and bool not in types:
            raise ValueError("a bool")
        if not isinstance(value, types):
            raise ValueError("wrong type")
        return value

    return parse


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "str": _exact(str),
    "bool": _exact(bool),
    "int": _exact(int),
    "float": lambda v: float(_exact(int, float)(v)),
    "decimal": lambda v: Decimal(_exact(Decimal, int, str)(v)),
    "datetime": lambda v: _aware(
        v if isinstance(v, datetime) else datetime.fromisoformat(_exact(str)(v))
    ),
    "date": lambda v: (
        v
        if isinstance(v, date) and not isinstance(v, datetime)
        else date.fromisoformat(_exact(str)(v))
    ),
    "uuid": lambda v: v if isinstance(v, UUID) else UUID(_exact(str)(v)),
}


def coerce(col: Column, value: Any, *, what: str) -> Any:
    """``value`` as column ``col`` holds it, or an ``InvalidQuery`` saying what fits."""
    if value is None:
        return None
    try:
        if col.kind == "enum":
            result = value if isinstance(value, col.type) else col.type(value)
        else:
            result = _PARSERS[col.kind](value)
    except (ValueError, TypeError, InvalidOperation):
        hint = "an aware datetime" if col.kind == "datetime" else col.type.__name__
        raise InvalidQuery(
            f"{what}: {value!r} is not a {hint}, the type of {col.name!r}"
        ) from None
    return col.native(result)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


@attrs.frozen
class ViewSource(Generic[V]):
    """What queries of one view run against: storage, converter, cache, owner."""

    spec: ViewSpec
    models: ReadModels
    converter: cattrs.Converter
    cache: ViewCache
    owner: str | None = None

    def decode(self, row: StoredRow) -> V:
        """The row as an instance of the view class."""
        try:
            instance: V = self.converter.structure(row.data, self.spec.cls)
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            raise ReadModelError(
                f"a stored {self.spec.cls.__qualname__} row (key {row.key!r}) does not fit "
                f"the class any more ({exc}): rebuild the projection that keeps it"
            ) from exc
        return instance

    def condition(self, name: str, value: Any) -> Condition:
        """Parse ``field`` or ``field__op`` = value into a checked condition."""
        field, op = name, "eq"
        if "__" in name:
            field, op = name.rsplit("__", 1)
            if op not in OPERATORS:
                raise InvalidQuery(
                    f"{name!r}: unknown operator {op!r}; use field=value or field__op=value "
                    f"with op one of {', '.join(OPERATORS[1:])}"
                )
        col = self.spec.column(field, purpose="filter")
        what = f"{self.spec.cls.__qualname__} query {name}"
        if op == "in":
            if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
                raise InvalidQuery(f"{what} takes a list, tuple or set of values, not {value!r}")
            return Condition(field, op, tuple(coerce(col, v, what=what) for v in value))
        if value is None and op not in ("eq", "ne"):
            raise InvalidQuery(f"{what}: None can only be compared with = or __ne")
        return Condition(field, op, coerce(col, value, what=what))

    def cursor(self, order: Sequence[Order], instance: object) -> str:
        """The opaque cursor of the page after ``instance``."""
        values = [
            _json_value(
                self.spec.column(o.field, purpose="sort").native(getattr(instance, o.field))
            )
            for o in order
        ]
        doc = {"v": self.spec.name, "o": [[o.field, o.descending] for o in order], "k": values}
        text = json.dumps(doc, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).decode().rstrip("=")

    def after(self, order: Sequence[Order], cursor: str) -> tuple[Any, ...]:
        """The keyset values a cursor holds, checked against this view and order."""
        name = self.spec.cls.__qualname__
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            doc = json.loads(base64.urlsafe_b64decode(padded.encode()))
            view, cursor_order, values = doc["v"], doc["o"], doc["k"]
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            raise InvalidCursor(
                f"{cursor!r} is not a page cursor: pass a Page.next_cursor of a "
                f"{name} query exactly as it was returned"
            ) from None
        if view != self.spec.name:
            raise InvalidCursor(
                f"this cursor was made by a query on the view {view!r}, not on {name} "
                f"({self.spec.name!r}): use each view's own cursors"
            )
        expected = [[o.field, o.descending] for o in order]
        if cursor_order != expected or len(values) != len(order):
            raise InvalidCursor(
                f"this cursor was made by a {name} query sorted otherwise: keep the same "
                "order_by() from page to page"
            )
        return tuple(
            coerce(self.spec.column(o.field, purpose="sort"), v, what=f"{name} cursor")
            for o, v in zip(order, values, strict=True)
        )


class ViewQuery(Generic[V]):
    """A query on one view: immutable; ``where`` and ``order_by`` return new queries."""

    __slots__ = ("_conditions", "_order", "_source")

    def __init__(
        self,
        source: ViewSource[V],
        conditions: tuple[Condition, ...] = (),
        order: tuple[Order, ...] = (),
    ) -> None:
        self._source = source
        self._conditions = conditions
        self._order = order

    def __repr__(self) -> str:
        parts = [f"{c.field}__{c.op}={c.value!r}" for c in self._conditions]
        order = [("-" if o.descending else "") + o.field for o in self._order]
        return f"<ViewQuery {self._source.spec.cls.__qualname__} where {parts} order {order}>"

    def where(self, **conditions: Any) -> ViewQuery[V]:
        """Also require these conditions: ``owner="ann"``, ``balance__gte=10``..."""
        parsed = tuple(self._source.condition(k, v) for k, v in conditions.items())
        return ViewQuery(self._source, self._conditions + parsed, self._order)

    def order_by(self, *fields: str) -> ViewQuery[V]:
        """Sort by these fields (``"-field"``: descending), then by the key."""
        order = []
        for text in fields:
            descending = text.startswith("-")
            field = text[1:] if descending else text
            self._source.spec.column(field, purpose="sort")
            order.append(Order(field, descending))
        return ViewQuery(self._source, self._conditions, tuple(order))

    def _full_order(self) -> tuple[Order, ...]:
        key = self._source.spec.key.name
        if any(o.field == key for o in self._order):
            return self._order
        return (*self._order, Order(key))

    def _select(self, query: Query) -> tuple[V, ...]:
        source = self._source

        def run() -> tuple[V, ...]:
            return tuple(source.decode(r) for r in source.models.select(source.spec, query))

        return source.cache.fetch(source.spec, ("select", query), run)

    def page(self, size: int = 20, *, after: str | None = None, offset: int = 0) -> Page[V]:
        """``size`` items after the cursor ``after`` (or after skipping ``offset``)."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidQuery(f"page size must be an int >= 1, got {size!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidQuery(f"offset must be an int >= 0, got {offset!r}")
        if after is not None and offset:
            raise InvalidQuery("give a page either after=cursor or offset=n, not both")
        order = self._full_order()
        keyset = None if after is None else self._source.after(order, after)
        rows = self._select(Query(self._conditions, order, keyset, offset, size + 1))
        items = rows[:size]
        more = len(rows) > size
        return Page(items, self._source.cursor(order, items[-1]) if more else None)

    def all(self) -> list[V]:
        """Every matching item, in order."""
        return list(self._select(Query(self._conditions, self._full_order())))

    def first(self) -> V | None:
        """The first matching item in order, or None."""
        rows = self._select(Query(self._conditions, self._full_order(), limit=1))
        return rows[0] if rows else None

    def count(self) -> int:
        """How many items match."""
        source = self._source
        return source.cache.fetch(
            source.spec,
            ("count", self._conditions),
            lambda: source.models.count(source.spec, self._conditions),
        )

    def __iter__(self) -> Iterator[V]:
        """Every matching item, in order, read a page at a time."""
        cursor = None
        while True:
            page = self.page(_PAGE_ALL, after=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


class ViewReader(ViewQuery[V]):
    """All of a view: look rows up by key, query, or fetch what changed."""

    __slots__ = ()

    def get(self, key: Any) -> V | None:
        """The item with this key, or None."""
        source = self._source
        name = source.spec.cls.__qualname__
        native = coerce(source.spec.key, key, what=f"{name}.get")
        if native is None:
            raise InvalidQuery(f"{name}.get(None): a key is never None")

        def run() -> V | None:
            row = source.models.get(source.spec, native)
            return None if row is None else source.decode(row)

        return source.cache.fetch(source.spec, ("get", native), run)

    def changed_since(self, position: int) -> Changes[V]:
        """Items written and keys deleted by events above ``position``."""
        source = self._source
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidQuery(f"position must be an int >= 0, got {position!r}")
        reached = position
        if source.owner is not None:
            checkpoint = source.models.checkpoints().get(source.owner)
            reached = max(reached, 0 if checkpoint is None else checkpoint.position)
        rows = source.models.changes(source.spec, position)
        if rows:
            reached = max(reached, rows[-1].position)
        return Changes(
            items=tuple(source.decode(r) for r in rows if not r.deleted),
            deleted=tuple(r.key for r in rows if r.deleted),
            position=reached,
        )
