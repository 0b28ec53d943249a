"""Typed read models: ``@esf.view`` classes that projections keep and queries return.

::

    @esf.view(key="account_id", indexes=("owner", "balance"))
    class Balance:
        account_id: UUID
        owner: str
        balance: Decimal

A view is a frozen, slotted attrs class (like an event). Each instance is one row,
identified by its ``key`` field. The key and the declared ``indexes`` are real, typed
columns in SQL, so queries can filter and sort on them; the whole instance is stored
as JSON beside them. Queries live in ``esframework.view_queries``.
"""

from __future__ import annotations

import enum
import hashlib
import re
import threading
import types
import typing
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, overload
from uuid import UUID

import attrs
from typing_extensions import dataclass_transform

from esframework.errors import DefinitionError, DuplicateRegistration

__all__ = ["Column", "ViewSpec", "is_view_class", "spec_of", "view"]

T = TypeVar("T")

KINDS: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    Decimal: "decimal",
    datetime: "datetime",
    date: "date",
    UUID: "uuid",
}
"""Field types a key or index column can have, and the kind of column each becomes."""

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")


@attrs.frozen
class Column:
    """A field stored as a real column: the key or an index."""

    name: str
    kind: str
    type: type
    nullable: bool

    def native(self, value: Any) -> Any:
        """``value`` as the column holds it (an enum as its value)."""
        if self.kind == "enum" and isinstance(value, enum.Enum):
            return value.value
        return value


@attrs.frozen
class ViewSpec:
    """What ``@esf.view`` declared: the class, its stored name, key and index columns."""

    cls: type
    name: str
    key: Column
    indexes: tuple[Column, ...]
    fields: tuple[str, ...]
    cache_ttl: float | None

    @property
    def columns(self) -> tuple[Column, ...]:
        """The key, then the indexes: every field a query can filter and sort on."""
        return (self.key, *self.indexes)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the stored shape (name, fields, columns) changes."""
        text = repr(
            (
                self.name,
                self.fields,
                [(c.name, c.kind, c.nullable) for c in self.columns],
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def column(self, name: str, *, purpose: str) -> Column:
        """The column for field ``name``, or an error that lists what can be used."""
        from esframework.errors import FieldNotIndexed, UnknownViewField

        for col in self.columns:
            if col.name == name:
                return col
        usable = ", ".join(c.name for c in self.columns)
        if name not in self.fields:
            raise UnknownViewField(
                f"view {self.cls.__qualname__} has no field {name!r}: its fields are "
                f"{', '.join(self.fields)} (of which {usable} can be used to {purpose})"
            )
        raise FieldNotIndexed(
            f"view {self.cls.__qualname__} cannot {purpose} on {name!r}: only the key "
            f"and indexed fields are columns ({usable}); add {name!r} to "
            f"@esf.view(indexes=...) and rebuild the projection that keeps it"
        )

    def key_of(self, instance: object) -> Any:
        """The key of a view instance."""
        return getattr(instance, self.key.name)


_views: dict[str, type] = {}
_views_lock = threading.Lock()


def _describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _column(cls: type, field: attrs.Attribute[Any], hint: Any, role: str) -> Column:
    nullable = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            hint, nullable = args[0], True
    kind = KINDS.get(hint) if isinstance(hint, type) else None
    if kind is None and isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = {type(m.value) for m in hint}
        if not (values <= {str} or values <= {int}):
            raise DefinitionError(
                f"view {cls.__qualname__}: the {role} {field.name!r} is the enum "
                f"{hint.__qualname__}, whose values are not all str or all int; a column "
                "holds one type"
            )
        kind = "enum"
    if kind is None:
        allowed = ", ".join(t.__name__ for t in KINDS)
        raise DefinitionError(
            f"view {cls.__qualname__}: the {role} {field.name!r} is a {hint!r}; a key or "
            f"index must be one of {allowed}, an enum, or an optional one of those"
        )
    if nullable and role == "key":
        raise DefinitionError(
            f"view {cls.__qualname__}: the key {field.name!r} cannot be optional; every "
            "row needs a key"
        )
    if role == "key" and kind in ("bool", "float", "decimal"):
        raise DefinitionError(
            f"view {cls.__qualname__}: the key {field.name!r} is a {hint.__name__}; a key "
            "must compare exactly everywhere: str, int, UUID, date, datetime or an enum"
        )
    return Column(field.name, kind, hint, nullable)


def _spec(
    cls: type,
    key: str | None,
    indexes: Sequence[str],
    name: str | None,
    cache_ttl: float | None,
) -> ViewSpec:
    fields = attrs.fields(cls)
    if not fields:
        raise DefinitionError(f"view {cls.__qualname__} has no fields: declare at least its key")
    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        raise DefinitionError(
            f"cannot resolve the annotations of view {cls.__qualname__} ({exc}): define "
            "the types it uses before it"
        ) from exc
    by_name = {f.name: f for f in fields}
    reserved = [n for n in by_name if n.startswith("esf_")]
    if reserved:
        raise DefinitionError(
            f"view {cls.__qualname__}: field names starting with esf_ are kept for the "
            f"columns esframework adds; rename {', '.join(reserved)}"
        )
    key_name = key if key is not None else fields[0].name
    if isinstance(indexes, str):
        raise DefinitionError(
            f"view {cls.__qualname__}: indexes must be a sequence of field names, like "
            f"indexes=({indexes!r},)"
        )
    indexes = tuple(indexes)
    for wanted, role in [(key_name, "key"), *((i, "index") for i in indexes)]:
        if wanted not in by_name:
            raise DefinitionError(
                f"view {cls.__qualname__}: the {role} {wanted!r} is not one of its fields "
                f"({', '.join(by_name)})"
            )
    if key_name in indexes or len(set(indexes)) != len(indexes):
        raise DefinitionError(
            f"view {cls.__qualname__}: list each index once, and not the key "
            f"{key_name!r} (it is always a column)"
        )
    stored = name if name is not None else _snake(cls.__name__)
    if not isinstance(stored, str) or not _NAME.fullmatch(stored):
        raise DefinitionError(
            f"view {cls.__qualname__}: name {stored!r} must be 1 to 40 lower-case letters, "
            "digits and underscores, starting with a letter or underscore (it names tables)"
        )
    if cache_ttl is not None and (
        not isinstance(cache_ttl, int | float) or isinstance(cache_ttl, bool) or cache_ttl <= 0
    ):
        raise DefinitionError(
            f"view {cls.__qualname__}: cache_ttl must be seconds > 0 or None, got {cache_ttl!r}"
        )
    key_col = _column(cls, by_name[key_name], hints.get(key_name), "key")
    index_cols = tuple(_column(cls, by_name[i], hints.get(i), "index") for i in indexes)
    return ViewSpec(
        cls=cls,
        name=stored,
        key=key_col,
        indexes=index_cols,
        fields=tuple(by_name),
        cache_ttl=None if cache_ttl is None else float(cache_ttl),
    )


@overload
def view(cls: type[T], /) -> type[T]: ...


@overload
def view(
    *,
    key: str | None = None,
    indexes: Sequence[str] = (),
    name: str | None = None,
    cache_ttl: float | None = None,
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field,))
def view(
    cls: type[T] | None = None,
    /,
    *,
    key: str | None = None,
    indexes: Sequence[str] = (),
    name: str | None = None,
    cache_ttl: float | None = None,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Declare a view (read model): a frozen, slotted attrs class kept by a projection.

    ``key`` names the field that identifies a row (default: the first field);
    ``indexes`` the fields queries may filter and sort on; ``name`` the stored name
    (default: the class name in snake_case); ``cache_ttl`` keeps query results for
    that many seconds in each application, dropped as soon as its projections write.
    """

    def wrap(cls: type[T]) -> type[T]:
        new_cls = attrs.frozen(cls, slots=True)
        spec = _spec(new_cls, key, indexes, name, cache_ttl)
        with _views_lock:
            other = _views.get(spec.name)
            if other is not None and _describe(other) != _describe(new_cls):
                raise DuplicateRegistration(
                    f"view name {spec.name!r} is taken by {_describe(other)} and "
                    f"{_describe(new_cls)}: give one of them another @esf.view(name=...)"
                )
            _views[spec.name] = new_cls
        new_cls.__esf_view__ = spec  # type: ignore[attr-defined]
        return new_cls

    if cls is None:
        return wrap
    return wrap(cls)


def is_view_class(cls: object) -> bool:
    """Whether ``cls`` was declared with ``@esf.view``."""
    return isinstance(cls, type) and isinstance(cls.__dict__.get("__esf_view__"), ViewSpec)


def spec_of(cls: type) -> ViewSpec:
    """The spec of an ``@esf.view`` class, or an error saying how to declare one."""
    spec = cls.__dict__.get("__esf_view__") if isinstance(cls, type) else None
    if not isinstance(spec, ViewSpec):
        raise DefinitionError(
            f"{cls!r} is not a view: declare it with @esf.view(key=..., indexes=(...))"
        )
    return spec
