"""@esf.view and app.view(...): typed rows, checked queries, pages, changes, cache."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import esframework as esf
from esframework.adapters.base import EventStore


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@esf.view(key="sku", indexes=("name", "price", "stock", "color", "added", "rating"))
class Item:
    sku: str
    name: str
    price: Decimal
    stock: int
    color: Color | None
    added: date
    rating: float | None = None
    notes: str = ""


@esf.view(key="id", name="tests_views_tag")
class Tag:
    id: UUID
    label: str


@esf.event(name="tests.views.ItemSet")
class ItemSet:
    item: Item


@esf.event(name="tests.views.ItemRemoved")
class ItemRemoved:
    sku: str


@esf.event(name="tests.views.Tagged")
class Tagged:
    label: str


@esf.projection(views=[Item, Tag], name="tests.views.items", mode="inline")
class Items:
    @esf.on
    def set(self, event: ItemSet, ctx: esf.ProjectionContext) -> None:
        ctx.view(Item).put(event.item)

    @esf.on
    def removed(self, event: ItemRemoved, ctx: esf.ProjectionContext) -> None:
        ctx.view(Item).delete(event.sku)

    @esf.on
    def tagged(self, event: Tagged, ctx: esf.ProjectionContext) -> None:
        ctx.view(Tag).put(Tag(ctx.stream_id, event.label))


D = date(2026, 1, 1)
ITEMS = [
    Item("a", "apple", Decimal("1.50"), 10, Color.RED, D, 4.5),
    Item("b", "banana", Decimal("0.25"), 0, Color.BLUE, date(2026, 2, 1), None),
    Item("c", "cherry", Decimal("1.50"), 3, None, D, 3.0),
    Item("d", "date", Decimal("7"), 10, Color.RED, date(2025, 12, 31), 4.5),
    Item("e", "elder", Decimal("0.25"), 5, None, date(2026, 3, 1), None, "tart"),
    Item("f", "fig", Decimal("2.10"), 10, Color.BLUE, D, 1.0),
    Item("g", "grape", Decimal("7"), 1, Color.RED, date(2026, 2, 1), 4.5),
]


@pytest.fixture
def app(store: EventStore) -> Iterator[esf.Application]:
    """An application over the test store whose Items view holds ITEMS."""
    application = esf.Application(store, projections=[Items])
    store.append(uuid4(), [ItemSet(i) for i in ITEMS])
    yield application
    application.projections.close()


# -- a reference of the query semantics, in plain Python ------------------------------


def _native(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | set | tuple):
        return [_native(v) for v in value]
    return value


def _match(value: Any, op: str, wanted: Any) -> bool:
    value, wanted = _native(value), _native(wanted)
    if op == "eq":
        return bool(value == wanted)
    if op == "ne":
        return bool(value != wanted)
    if op == "in":
        return value in wanted
    if value is None:
        return False
    return {
        "lt": value < wanted,
        "lte": value <= wanted,
        "gt": value > wanted,
        "gte": value >= wanted,
    }[op]


def reference(items: list[Item], where: dict[str, Any], order: list[str]) -> list[str]:
    """The skus a query must return: filtered, sorted (None last), then by key."""
    rows = [
        i
        for i in items
        if all(
            _match(getattr(i, k.split("__")[0]), k.split("__")[1] if "__" in k else "eq", v)
            for k, v in where.items()
        )
    ]
    rows.sort(key=lambda i: i.sku)
    for text in reversed(order):
        field = text.lstrip("-")
        desc = text.startswith("-")
        rows.sort(
            key=lambda i, f=field, d=desc: (
                (getattr(i, f) is not None) if d else (getattr(i, f) is None),
                _native(getattr(i, f)),
            ),
            reverse=desc,
        )
    return [i.sku for i in rows]


QUERIES = [
    ({}, []),
    ({"name": "fig"}, []),
    ({"price": Decimal("1.5")}, ["name"]),
    ({"price__gte": 1}, ["-price"]),
    ({"price__lt": Decimal("2")}, ["-price", "name"]),
    ({"stock__lte": 5}, ["stock"]),
    ({"stock__gt": 3}, ["-stock", "-sku"]),
    ({"stock__ne": 10}, []),
    ({"color": Color.RED}, ["-added"]),
    ({"color": None}, []),
    ({"color__ne": None}, ["color"]),
    ({"color__ne": "red"}, ["-color"]),
    ({"color__in": [Color.BLUE, None]}, ["color", "-price"]),
    ({"rating__gte": 3.0}, ["-rating"]),
    ({}, ["rating"]),
    ({}, ["-rating", "-name"]),
    ({"added": D}, ["price"]),
    ({"added__gt": D}, ["added"]),
    ({"sku__in": ("a", "c", "zz")}, ["-sku"]),
    ({"name__in": {"apple", "fig"}, "stock": 10}, []),
]


@pytest.mark.parametrize(("where", "order"), QUERIES)
def test_queries_return_what_the_reference_returns(
    app: esf.Application, where: dict[str, Any], order: list[str]
) -> None:
    """Filters and sorts give the rows, in the order, that plain Python gives."""
    query = app.view(Item).where(**where).order_by(*order)
    expected = reference(ITEMS, where, order)
    assert [i.sku for i in query.all()] == expected
    assert query.count() == len(expected)
    first = query.first()
    assert (first.sku if first else None) == (expected[0] if expected else None)


@pytest.mark.parametrize(("where", "order"), QUERIES[::3])
@pytest.mark.parametrize("size", [1, 2, 5])
def test_keyset_pages_cover_every_row_once(
    app: esf.Application, where: dict[str, Any], order: list[str], size: int
) -> None:
    """Following next_cursor from page to page yields all rows once, in order."""
    query = app.view(Item).where(**where).order_by(*order)
    seen: list[str] = []
    cursor = None
    while True:
        page = query.page(size=size, after=cursor)
        assert len(page) <= size
        seen += [i.sku for i in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == reference(ITEMS, where, order)
    assert [i.sku for i in query] == seen


def test_offset_pages(app: esf.Application) -> None:
    """page(offset=n) skips n rows of the order."""
    query = app.view(Item).order_by("-price")
    everything = [i.sku for i in query.all()]
    assert [i.sku for i in query.page(size=3, offset=2)] == everything[2:5]
    assert list(query.page(size=3, offset=7)) == []


def test_get_returns_typed_instances_or_none(app: esf.Application) -> None:
    """get(key) returns the stored instance as its class, None for a missing key."""
    items = app.view(Item)
    assert items.get("e") == ITEMS[4]
    assert items.get("zz") is None


def test_deleted_rows_disappear_and_show_in_changes(app: esf.Application) -> None:
    """A deleted row is gone from queries; changed_since reports its key."""
    items = app.view(Item)
    before = items.changed_since(0)
    assert {i.sku for i in before.items} == {i.sku for i in ITEMS}
    assert before.position == len(ITEMS)
    app.store.append(uuid4(), [ItemRemoved("c"), ItemSet(ITEMS[0])])
    assert items.get("c") is None
    assert items.count() == len(ITEMS) - 1
    after = items.changed_since(before.position)
    assert after.deleted == ("c",)
    assert [i.sku for i in after.items] == ["a"]
    assert after.position == len(ITEMS) + 2
    assert items.changed_since(after.position) == esf.Changes((), (), after.position)


def test_views_with_uuid_keys(app: esf.Application) -> None:
    """UUID keys work for put, get and cursors."""
    streams = sorted(uuid4() for _ in range(3))
    for s in streams:
        app.store.append(s, [Tagged(label=str(s)[:4])])
    tags = app.view(Tag)
    assert tags.get(streams[1]) == Tag(streams[1], str(streams[1])[:4])
    assert tags.get(str(streams[2])) == Tag(streams[2], str(streams[2])[:4])
    first = tags.page(size=2)
    rest = tags.page(size=2, after=first.next_cursor)
    assert [t.id for t in (*first, *rest)] == streams


# -- bad queries -------------------------------------------------------------------------


def test_an_unknown_field_names_the_fields(app: esf.Application) -> None:
    """Filtering on a field the view lacks raises UnknownViewField listing its fields."""
    with pytest.raises(esf.UnknownViewField, match=r"sku, name, price.*notes"):
        app.view(Item).where(colour="red")
    with pytest.raises(esf.UnknownViewField):
        app.view(Item).order_by("-colour")


def test_an_unindexed_field_names_the_indexes(app: esf.Application) -> None:
    """Filtering or sorting on a stored but unindexed field says which fields can be used."""
    with pytest.raises(esf.FieldNotIndexed, match=r"sku, name, price, stock, color, added"):
        app.view(Item).where(notes="tart")
    with pytest.raises(esf.FieldNotIndexed, match="indexes"):
        app.view(Item).order_by("notes")


@pytest.mark.parametrize(
    ("where", "match"),
    [
        ({"price__gtee": 1}, "unknown operator 'gtee'"),
        ({"price": "cheap"}, "not a Decimal"),
        ({"stock": "10"}, "not a int"),
        ({"stock": True}, "not a int"),
        ({"color": "green"}, "not a Color"),
        ({"added": datetime(2026, 1, 1, tzinfo=UTC)}, "not a date"),
        ({"stock__in": 10}, "takes a list"),
        ({"name__in": "apple"}, "takes a list"),
        ({"stock__lt": None}, "None can only"),
    ],
)
def test_bad_values_and_operators_are_refused(
    app: esf.Application, where: dict[str, Any], match: str
) -> None:
    """A bad operator or a value of the wrong type is an InvalidQuery, before any SQL."""
    with pytest.raises(esf.InvalidQuery, match=match):
        app.view(Item).where(**where)


def test_a_cursor_of_another_view_is_refused(app: esf.Application) -> None:
    """A cursor made by a query on another view raises InvalidCursor naming both."""
    for label in "xyz":
        app.store.append(uuid4(), [Tagged(label=label)])
    cursor = app.view(Tag).page(size=1).next_cursor
    assert cursor is not None
    with pytest.raises(esf.InvalidCursor, match="'tests_views_tag', not on Item"):
        app.view(Item).page(size=1, after=cursor)


def test_a_cursor_of_another_order_is_refused(app: esf.Application) -> None:
    """A cursor is tied to its order: reusing it with another order_by is refused."""
    cursor = app.view(Item).order_by("price").page(size=2).next_cursor
    assert cursor is not None
    with pytest.raises(esf.InvalidCursor, match="sorted otherwise"):
        app.view(Item).order_by("-price").page(size=2, after=cursor)


@pytest.mark.parametrize("cursor", ["", "not a cursor", "eyJ2IjoxfQ", "e30"])
def test_garbage_cursors_are_refused(app: esf.Application, cursor: str) -> None:
    """Strings that are not cursors raise InvalidCursor, never a raw decoding error."""
    with pytest.raises(esf.InvalidCursor):
        app.view(Item).page(after=cursor)


@pytest.mark.parametrize(
    "kwargs", [{"size": 0}, {"size": True}, {"offset": -1}, {"after": "x", "offset": 1}]
)
def test_bad_page_arguments_are_refused(app: esf.Application, kwargs: dict[str, Any]) -> None:
    """Page sizes below 1, negative offsets, and cursor plus offset are refused."""
    with pytest.raises(esf.InvalidQuery):
        app.view(Item).page(**kwargs)


def test_get_of_a_key_of_the_wrong_type_is_refused(app: esf.Application) -> None:
    """get() checks the key against the key's type."""
    with pytest.raises(esf.InvalidQuery, match="not a str"):
        app.view(Item).get(3)
    with pytest.raises(esf.InvalidQuery, match="not a UUID"):
        app.view(Tag).get("nope")


# -- declarations ------------------------------------------------------------------------


def test_view_classes_are_frozen_and_typed() -> None:
    """@esf.view makes a frozen attrs class; instances compare by value."""
    item = ITEMS[0]
    with pytest.raises(AttributeError):
        item.name = "pear"  # type: ignore[misc]
    assert Item("a", "apple", Decimal("1.5"), 10, Color.RED, D, 4.5) == item


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"key": "nope"}, "not one of its fields"),
        ({"indexes": ("nope",)}, "not one of its fields"),
        ({"indexes": "label"}, "sequence of field names"),
        ({"indexes": ("label", "label")}, "each index once"),
        ({"key": "id", "indexes": ("id",)}, "each index once"),
        ({"indexes": ("tags",)}, "must be one of"),
        ({"key": "maybe"}, "cannot be optional"),
        ({"name": "Bad Name"}, "lower-case"),
        ({"cache_ttl": 0}, "cache_ttl"),
        ({"key": "score"}, "must compare exactly"),
        ({"indexes": ("mixed",)}, "not all str or all int"),
    ],
)
def test_bad_declarations_are_refused(options: dict[str, Any], match: str) -> None:
    """Keys and indexes must be fields of column types; names must be table-safe."""
    with pytest.raises(esf.DefinitionError, match=match):

        @esf.view(**options)
        class Bad:
            id: int
            label: str
            tags: list[str]
            score: float = 0.0
            mixed: Mixed = Mixed.ONE
            maybe: int | None = None


class Mixed(enum.Enum):
    ONE = 1
    TWO = "two"


def test_field_names_of_esframework_columns_are_refused() -> None:
    """Fields named esf_... would clash with the columns esframework adds."""
    with pytest.raises(esf.DefinitionError, match="esf_row"):

        @esf.view
        class Clash:
            id: int
            esf_row: str


def test_two_views_cannot_share_a_name() -> None:
    """A view name names tables, so two classes cannot take the same one."""
    with pytest.raises(esf.DuplicateRegistration, match="tests_views_tag"):

        @esf.view(name="tests_views_tag")
        class Other:
            id: int


# -- the cache ----------------------------------------------------------------------------


@esf.view(key="id", indexes=("label",), name="tests_views_cached", cache_ttl=3600)
class Cached:
    id: UUID
    label: str


@esf.projection(views=[Cached], name="tests.views.cached")
class CachedLabels:
    @esf.on
    def tagged(self, event: Tagged, ctx: esf.ProjectionContext) -> None:
        ctx.view(Cached).put(Cached(ctx.stream_id, event.label))


def test_a_cached_view_is_refreshed_when_its_projection_writes(store: EventStore) -> None:
    """Results are kept for the TTL, but dropped as soon as this app's projection writes."""
    reader = esf.Application(store, projections=[CachedLabels])
    writer = esf.Application(store, projections=[CachedLabels])
    key = uuid4()
    store.append(key, [Tagged(label="one")])
    writer.projections.catch_up()
    assert reader.view(Cached).get(key) == Cached(key, "one")
    assert reader.view(Cached).where(label="one").count() == 1
    store.append(key, [Tagged(label="two")])
    writer.projections.catch_up()  # another application: this one's cache cannot know
    assert writer.view(Cached).get(key) == Cached(key, "two")
    assert reader.view(Cached).get(key) == Cached(key, "one")
    assert reader.view(Cached).where(label="one").count() == 1
    store.append(key, [Tagged(label="three")])
    reader.projections.catch_up()  # its own projection wrote: the cache is dropped
    assert reader.view(Cached).get(key) == Cached(key, "three")
    assert reader.view(Cached).where(label="one").count() == 0


# -- the memory backend against the reference, for any data -----------------------------

names = st.sampled_from(["ann", "bob", "cy", "dee"])
items = st.builds(
    Item,
    sku=st.text("abcdef", min_size=1, max_size=3),
    name=names,
    price=st.decimals(0, 20, places=2),
    stock=st.integers(-3, 3),
    color=st.none() | st.sampled_from(Color),
    added=st.dates(date(2026, 1, 1), date(2026, 1, 5)),
    rating=st.none() | st.sampled_from([0.5, 1.0, 2.5]),
)
orders = st.lists(
    st.sampled_from(["name", "-name", "price", "-price", "color", "-color", "rating", "-rating"]),
    max_size=3,
    unique_by=lambda s: s.lstrip("-"),
)
conditions = st.dictionaries(
    st.sampled_from(["stock__gte", "rating__lt", "color", "name__in", "price__ne"]),
    st.none(),
    max_size=2,
)
VALUES = {
    "stock__gte": 0,
    "rating__lt": 2.0,
    "color": Color.BLUE,
    "name__in": ["ann", "cy"],
    "price__ne": Decimal("1"),
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(items, max_size=12, unique_by=lambda i: i.sku),
    conditions,
    orders,
    st.integers(1, 4),
)
def test_memory_views_match_the_reference(
    rows: list[Item], where: dict[str, Any], order: list[str], size: int
) -> None:
    """For any rows and query, memory views filter, sort and page like the reference."""
    where = {k: VALUES[k] for k in where}
    with esf.connect("memory://") as store:
        app = esf.Application(store, projections=[Items])
        if rows:
            store.append(uuid4(), [ItemSet(i) for i in rows])
        query = app.view(Item).where(**where).order_by(*order)
        expected = reference(rows, where, order)
        assert [i.sku for i in query.all()] == expected
        paged, cursor = [], None
        while True:
            page = query.page(size=size, after=cursor)
            paged += [i.sku for i in page]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert paged == expected
