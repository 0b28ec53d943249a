"""Projections: classes whose ``@esf.on`` handlers turn events into views.

::

    @esf.projection(views=[Balance])
    class Balances:
        @esf.on
        def opened(self, event: AccountOpened, ctx: esf.ProjectionContext) -> None:
            ctx.view(Balance).put(Balance(ctx.stream_id, event.owner, Decimal(0)))

A handler gets the event (decoded, upcast) and a :class:`ProjectionContext`: the
stored record, its position, and writers for the projection's views. Hand
projections (classes or instances) to ``esf.Application(..., projections=[...])``;
``app.projections`` runs them (``esframework.projection_runner``).

Views are exactly-once: a projection's view writes and its checkpoint commit in one
transaction. Every row also remembers the position that last wrote it, so a
redelivered event (``esf.testing.given_events`` delivers each twice) cannot write a
row twice. Anything else a handler changes (an e-mail, another system) is
at-least-once: use ``ctx.position`` to skip what was already done.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar, overload
from uuid import UUID

import attrs
import cattrs

from esframework.adapters.read_base import Generation, ReadSession, StoredRow
from esframework.aggregate import _annotated_type
from esframework.errors import DefinitionError
from esframework.events import RecordedEvent, event_type_of, is_event_class
from esframework.views import ViewSpec, is_view_class, spec_of

__all__ = [
    "Handler",
    "ProjectionContext",
    "ProjectionSpec",
    "ViewWriter",
    "on",
    "projection",
    "projection_spec",
]

T = TypeVar("T")
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

_ON = "__esf_on__"
Mode = Literal["async", "inline"]
OnUnknown = Literal["skip", "stop"]


@attrs.frozen
class Handler:
    """A projection method and whether it takes the context."""

    function: Callable[..., Any]
    takes_context: bool


@attrs.frozen
class ProjectionSpec:
    """A projection class as declared: its name, views, mode and handlers."""

    cls: type
    name: str
    views: tuple[ViewSpec, ...]
    mode: Mode
    on_unknown: OnUnknown
    batch_size: int
    handlers: Mapping[str, Handler]


@overload
def on(function: F, /) -> F: ...


@overload
def on(*event_types: type) -> Callable[[F], F]: ...


def on(*args: Any) -> Any:
    """Mark a projection method as the handler of event types: ``@esf.on(Ev)`` or bare.

    The bare form reads the event type from the annotation of the method's parameter.
    """
    if len(args) == 1 and callable(args[0]) and not isinstance(args[0], type):
        setattr(args[0], _ON, ())
        return args[0]
    for t in args:
        if not (isinstance(t, type) and is_event_class(t)):
            raise DefinitionError(
                f"@esf.on takes event classes declared with @esf.event, not {t!r}"
            )

    def mark(function: F) -> F:
        setattr(function, _ON, tuple(args))
        return function

    return mark


def _takes_context(cls: type, name: str, function: Callable[..., Any]) -> bool:
    params = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) not in (2, 3):
        raise DefinitionError(
            f"{cls.__qualname__}.{name} must take (self, event) or (self, event, ctx), "
            f"not {len(params)} positional parameters"
        )
    return len(params) == 3


def _handlers(cls: type) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    origin: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            marked = getattr(member, _ON, None)
            if marked is None or not callable(member):
                continue
            types = marked or (_annotated_type(cls, member, "@esf.on"),)
            context = _takes_context(cls, name, member)
            for event_type in types:
                if not is_event_class(event_type):
                    raise DefinitionError(
                        f"{cls.__qualname__}.{name} handles {event_type.__qualname__}, "
                        "which is not an event: declare it with @esf.event"
                    )
                type_name = event_type_of(event_type).name
                other = origin.get(type_name)
                if other is not None and other != name and klass is cls:
                    raise DefinitionError(
                        f"{cls.__qualname__} handles {event_type.__qualname__} twice: in "
                        f"{other} and in {name}; keep one"
                    )
                origin[type_name] = name
                handlers[type_name] = Handler(member, context)
    return handlers


def _build_spec(
    cls: type,
    name: str | None,
    views: Iterable[type],
    mode: str,
    on_unknown: str,
    batch_size: int,
) -> ProjectionSpec:
    if mode not in ("async", "inline"):
        raise DefinitionError(
            f"projection {cls.__qualname__}: mode must be 'async' or 'inline', not {mode!r}"
        )
    if on_unknown not in ("skip", "stop"):
        raise DefinitionError(
            f"projection {cls.__qualname__}: on_unknown must be 'skip' (log a warning and go "
            f"on) or 'stop' (stop at the event), not {on_unknown!r}"
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise DefinitionError(
            f"projection {cls.__qualname__}: batch_size must be an int >= 1, not {batch_size!r}"
        )
    chosen = name if name is not None else cls.__qualname__
    if not isinstance(chosen, str) or not chosen.strip() or len(chosen) > 200:
        raise DefinitionError(
            f"projection {cls.__qualname__}: name must be a non-empty string, not {chosen!r}"
        )
    view_specs = tuple(spec_of(v) for v in views)
    if len({v.name for v in view_specs}) != len(view_specs):
        raise DefinitionError(f"projection {chosen!r} lists a view twice")
    return ProjectionSpec(
        cls=cls,
        name=chosen,
        views=view_specs,
        mode=mode,  # type: ignore[arg-type]
        on_unknown=on_unknown,  # type: ignore[arg-type]
        batch_size=batch_size,
        handlers=_handlers(cls),
    )


@overload
def projection(cls: type[T], /) -> type[T]: ...


@overload
def projection(
    *,
    name: str | None = None,
    views: Iterable[type] = (),
    mode: Mode = "async",
    on_unknown: OnUnknown = "skip",
    batch_size: int = 100,
) -> Callable[[type[T]], type[T]]: ...


def projection(
    cls: type[T] | None = None,
    /,
    *,
    name: str | None = None,
    views: Iterable[type] = (),
    mode: Mode = "async",
    on_unknown: OnUnknown = "skip",
    batch_size: int = 100,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Declare a projection class (the class itself is left as it is).

    - ``name``: what its checkpoint is stored under (default: the class's qualified
      name; set it, so that renaming the class does not restart the projection);
    - ``views``: the ``@esf.view`` classes it writes (and only it writes);
    - ``mode``: ``"async"`` (a runner follows the log) or ``"inline"`` (updated in the
      append's own transaction: read-your-writes);
    - ``on_unknown``: an event whose type no class is registered for is skipped with
      a warning (``"skip"``) or stops the projection (``"stop"``);
    - ``batch_size``: events per transaction when catching up.
    """
    view_list = tuple(views)

    def wrap(cls: type[T]) -> type[T]:
        if not isinstance(cls, type):
            raise DefinitionError(f"@esf.projection decorates a class, not {cls!r}")
        spec = _build_spec(cls, name, view_list, mode, on_unknown, batch_size)
        cls.__esf_projection__ = spec  # type: ignore[attr-defined]
        return cls

    if cls is None:
        return wrap
    return wrap(cls)


def projection_spec(target: object) -> ProjectionSpec:
    """The spec of a projection class or instance (an undecorated class gets defaults)."""
    cls = target if isinstance(target, type) else type(target)
    spec = cls.__dict__.get("__esf_projection__")
    if isinstance(spec, ProjectionSpec):
        return spec
    if is_view_class(cls) or is_event_class(cls):
        raise DefinitionError(f"{cls.__qualname__} is not a projection: it is a view or event")
    spec = _build_spec(cls, None, (), "async", "skip", 100)
    if not spec.handlers:
        raise DefinitionError(
            f"{cls.__qualname__} is not a projection: it has no @esf.on handler methods"
        )
    return spec


class ViewWriter(Generic[V]):
    """A projection's handle on one of its views, for the event being handled."""

    __slots__ = ("_ctx", "_spec")

    def __init__(self, ctx: ProjectionContext, spec: ViewSpec) -> None:
        self._ctx = ctx
        self._spec = spec

    def __repr__(self) -> str:
        return f"<ViewWriter {self._spec.cls.__qualname__} at {self._ctx.position}>"

    def _key(self, key: Any) -> Any:
        from esframework.view_queries import coerce

        native = coerce(self._spec.key, key, what=f"{self._spec.cls.__qualname__} key")
        if native is None:
            raise DefinitionError(f"a {self._spec.cls.__qualname__} key is never None")
        return native

    def get(self, key: Any) -> V | None:
        """The row with this key as the handler's transaction sees it, or None."""
        ctx = self._ctx
        row = ctx._session.get(self._spec, self._key(key), ctx._generation)
        if row is None or row.deleted:
            return None
        instance: V = ctx._converter.structure(row.data, self._spec.cls)
        return instance

    def _write(self, key: Any, row: StoredRow, columns: Mapping[str, Any]) -> None:
        ctx = self._ctx
        written = ctx._written
        fresh = (self._spec.name, key) not in written
        ctx._session.put(self._spec, row, columns, ctx._generation, only_if_newer=fresh)
        written.add((self._spec.name, key))
        ctx._touched.add(self._spec.name)

    def put(self, instance: V) -> None:
        """Insert or replace the row of ``instance``'s key."""
        spec = self._spec
        if type(instance) is not spec.cls:
            raise DefinitionError(
                f"put() on the {spec.cls.__qualname__} view takes a {spec.cls.__qualname__}, "
                f"not {instance!r}"
            )
        key = spec.key.native(spec.key_of(instance))
        data = self._ctx._converter.unstructure(instance)
        columns = {c.name: c.native(getattr(instance, c.name)) for c in spec.columns}
        self._write(key, StoredRow(key, data, self._ctx.position), columns)

    def update(self, key: Any, **changes: Any) -> V | None:
        """Replace some fields of the row with this key; returns the new row (None if absent)."""
        current = self.get(key)
        if current is None:
            return None
        new = attrs.evolve(current, **changes)  # type: ignore[misc]
        self.put(new)
        return new

    def delete(self, key: Any) -> None:
        """Remove the row with this key (if there is one)."""
        native = self._key(key)
        columns = {c.name: None for c in self._spec.columns}
        columns[self._spec.key.name] = native
        self._write(native, StoredRow(native, {}, self._ctx.position, deleted=True), columns)


class ProjectionContext:
    """What a handler knows besides the event: the record, its position, the views."""

    __slots__ = (
        "_converter",
        "_generation",
        "_session",
        "_spec",
        "_touched",
        "_written",
        "record",
    )

    def __init__(
        self,
        spec: ProjectionSpec,
        session: ReadSession,
        generation: Generation,
        converter: cattrs.Converter,
        touched: set[str],
    ) -> None:
        self._spec = spec
        self._session = session
        self._generation = generation
        self._converter = converter
        self._touched = touched
        self._written: set[tuple[str, Any]] = set()
        self.record: RecordedEvent = None  # type: ignore[assignment]

    def _deliver(self, record: RecordedEvent) -> None:
        self.record = record
        self._written = set()

    def __repr__(self) -> str:
        return f"<ProjectionContext {self._spec.name} at {self.position}>"

    @property
    def position(self) -> int:
        """The event's position: a handler with effects outside views skips those it did."""
        return self.record.position

    @property
    def stream_id(self) -> UUID:
        """The id of the stream (aggregate) the event belongs to."""
        return self.record.stream_id

    @property
    def projection(self) -> str:
        """The name of the projection being run."""
        return self._spec.name

    def view(self, cls: type[V]) -> ViewWriter[V]:
        """The writer of one of the projection's views."""
        spec = spec_of(cls)
        if spec not in self._spec.views:
            raise DefinitionError(
                f"projection {self._spec.name!r} writes to view {cls.__qualname__} without "
                f"declaring it: add it to @esf.projection(views=[...])"
            )
        return ViewWriter(self, spec)
