"""Hypothesis strategies that build events from their field types.

``events(cls)`` draws instances of one ``@esf.event`` class (or of any attrs class, a
command for instance); ``any_event()`` draws from the current class of every event
type of a registry. Use them for the properties an event-sourced model must keep::

    from uuid import uuid4

    from hypothesis import given

    import esframework as esf
    from esframework.testing.strategies import any_event

    @given(any_event())
    def test_every_event_survives_the_store(ev):
        (rec,) = esf.connect("memory://").append(uuid4(), [ev])
        assert rec.event == ev

Only values the converter stores exactly are drawn: finite floats and decimals,
timezone-aware datetimes, text without U+0000 (PostgreSQL's JSONB cannot hold it), and
JSON scalars for fields typed ``Any``. Importing this module needs hypothesis.
"""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
import weakref
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import attrs
import cattrs
from hypothesis import strategies as st

from esframework.errors import DefinitionError
from esframework.registry import Registry, default_registry
from esframework.serialization import make_converter

__all__ = ["any_event", "events", "payloads"]

T = TypeVar("T")

_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))

_FLOATS = st.floats(allow_nan=False, allow_infinity=False)

_JSON_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), _FLOATS, _TEXT
)

_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)

_SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: _TEXT,
    int: st.integers(),
    bool: st.booleans(),
    float: _FLOATS,
    Decimal: st.decimals(allow_nan=False, allow_infinity=False),
    UUID: st.uuids(),
    datetime: st.datetimes(timezones=_OFFSETS),
    date: st.dates(),
    bytes: st.binary(),
    Any: _JSON_SCALARS,
    object: _JSON_SCALARS,
}

_SEQUENCES: dict[Any, Any] = {
    list: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    set: set,
    collections.abc.Set: set,
    collections.abc.MutableSet: set,
    frozenset: frozenset,
}

_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)

_MAX_SIZE = 5
"""The most items a drawn container holds."""

_MAX_NESTING = 3
"""How deep optional nested attrs values go (a tree of a class that refers to itself)."""

_NESTING_LIMIT = 30
"""Deeper than this, a class must refer to itself through fields that cannot be empty."""


def _nests(tp: Any) -> bool:
    """Whether values of ``tp`` can contain an attrs instance."""
    return _is_attrs_class(tp) or any(_nests(arg) for arg in typing.get_args(tp))


def _for_type(tp: Any, depth: int) -> st.SearchStrategy[Any]:
    """Values of the annotation ``tp`` that survive the converter's round trip.

    Past ``_MAX_NESTING`` levels of attrs classes, optional members and containers of
    nested classes are drawn empty, so that self-referring classes stay finite.
    """
    if tp in _SCALARS:
        return _SCALARS[tp]
    if tp is None or tp is type(None):
        return st.none()
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    shallow = depth < _MAX_NESTING
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is typing.Union or origin is types.UnionType:
        members = args if shallow else [a for a in args if not _nests(a)] or args
        return st.one_of(*(_for_type(arg, depth) for arg in members))
    if origin is typing.Annotated:
        return _for_type(args[0], depth)
    variadic = origin in _SEQUENCES or origin in _MAPPINGS
    variadic = variadic or (origin is tuple and len(args) == 2 and args[1] is Ellipsis)
    if variadic and not shallow and _nests(tp):
        empty = tuple if origin is tuple else _SEQUENCES.get(origin, dict)
        return st.builds(empty)
    if origin in _SEQUENCES:
        items = _for_type(args[0], depth) if args else _JSON_SCALARS
        if _SEQUENCES[origin] is list:
            return st.lists(items, max_size=_MAX_SIZE)
        return st.sets(items, max_size=_MAX_SIZE).map(_SEQUENCES[origin])
    if origin is tuple:
        if variadic:
            return st.lists(_for_type(args[0], depth), max_size=_MAX_SIZE).map(tuple)
        return st.tuples(*(_for_type(arg, depth) for arg in args))
    if origin in _MAPPINGS:
        key, value = args if args else (str, Any)
        return st.dictionaries(_for_type(key, depth), _for_type(value, depth), max_size=_MAX_SIZE)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    if _is_attrs_class(tp):
        return _attrs_instances(tp, depth + 1)
    return st.from_type(tp)


def _is_attrs_class(tp: object) -> bool:
    return isinstance(tp, type) and attrs.has(tp)


_FIELD_TYPES: weakref.WeakKeyDictionary[type, tuple[tuple[str, Any], ...]] = (
    weakref.WeakKeyDictionary()
)


def _field_types(cls: type) -> tuple[tuple[str, Any], ...]:
    """(init argument, annotation) of each field of an attrs class that __init__ takes."""
    known = _FIELD_TYPES.get(cls)
    if known is not None:
        return known
    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        raise DefinitionError(
            f"cannot resolve the field types of {cls.__module__}.{cls.__qualname__} ({exc}): "
            "declare it, and the types it names, at module level"
        ) from exc
    fields = attrs.fields(typing.cast("type[attrs.AttrsInstance]", cls))
    known = tuple((f.alias, hints.get(f.name, Any)) for f in fields if f.init)
    _FIELD_TYPES[cls] = known
    return known


def _attrs_instances(cls: type[T], depth: int) -> st.SearchStrategy[T]:
    if depth > _NESTING_LIMIT:
        raise DefinitionError(
            f"cannot build {cls.__qualname__}: it contains itself through fields that "
            "cannot be left empty, so no finite instance exists"
        )
    return st.builds(cls, **{name: _for_type(tp, depth) for name, tp in _field_types(cls)})


def events(cls: type[T]) -> st.SearchStrategy[T]:
    """Instances of ``cls``, an ``@esf.event`` (or other attrs) class, built field by field.

    Field types are read with ``typing.get_type_hints``; nested attrs classes, enums,
    ``Literal``, ``Optional`` and unions, and the standard containers are followed, and
    anything else falls back to ``hypothesis.strategies.from_type``.
    """
    if not _is_attrs_class(cls):
        raise DefinitionError(
            f"events() builds @esf.event (attrs) classes, not {cls!r}: declare it with @esf.event"
        )
    return _attrs_instances(cls, 0)


def any_event(registry: Registry | None = None) -> st.SearchStrategy[Any]:
    """Instances of the current class of every event type in ``registry``.

    The classes are looked up when the first example is drawn, so a strategy made at
    import time also covers events declared after it. Older versions of a type are
    left out: code records the current one (use ``events(OldClass)`` for upcasters).
    """
    chosen = registry if registry is not None else default_registry

    def build() -> st.SearchStrategy[Any]:
        current = [
            cls
            for cls in chosen.event_classes()
            if chosen.current(chosen.type_of(cls).name) is cls
        ]
        if not current:
            raise DefinitionError(f"{chosen!r} has no event classes to draw from")
        return st.one_of(*(events(cls) for cls in current))

    return st.deferred(build)


def payloads(
    spec: type | Mapping[str, Any], *, converter: cattrs.Converter | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Stored payloads (JSON-compatible dicts) of an event version, old ones included.

    ``spec`` is an event class (e.g. the old class kept for tests) or, once that class
    is gone, a mapping of its field names to their types. Feed the payloads to an
    upcaster and check that it keeps every field
    (``esframework.testing.check_upcaster``).
    """
    conv = converter if converter is not None else make_converter()
    if isinstance(spec, Mapping):
        fields = {name: _for_type(tp, 0) for name, tp in spec.items()}
        return st.fixed_dictionaries(fields).map(conv.unstructure)
    return events(spec).map(conv.unstructure)
