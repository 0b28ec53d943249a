"""Aggregates: ``esf.Aggregate``, ``@esf.aggregate`` and ``@esf.applies``.

An aggregate's state is its attrs fields. It changes only by recording events, and a
recorded event changes the state only through the aggregate's applier for its type,
so replaying the stored events rebuilds exactly the state the handlers saw.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload
from uuid import UUID, uuid4

import attrs
from typing_extensions import dataclass_transform

from esframework.conflicts import ConflictResolved
from esframework.errors import DefinitionError, MissingApplier, RecordOutsideHandler
from esframework.events import is_event_class

__all__ = ["Aggregate", "AggregateOptions", "HandlerSpec", "aggregate", "applies", "state_fields"]

A = TypeVar("A", bound="Aggregate")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_APPLIES = "__esf_applies__"
_HANDLES = "__esf_handles__"
_NOT_GIVEN: Any = object()


@attrs.frozen
class HandlerSpec:
    """A command handler of an aggregate class."""

    command_type: type
    function: Callable[[Any, Any], Any]
    create: bool


@attrs.frozen
class AggregateOptions:
    """What ``@esf.aggregate(...)`` was told."""

    name: str
    snapshot_every: int | None = None
    conflicts: Any = None


def _applier_of(event_type: type) -> Callable[[F], F]:
    def mark(function: F) -> F:
        setattr(function, _APPLIES, event_type)
        return function

    return mark


@dataclass_transform(field_specifiers=(attrs.field,))
def _base(cls: type[T]) -> type[T]:
    """``attrs.define``, seen by type checkers as the same transform as ``@aggregate``.

    Declared through ``dataclass_transform`` rather than the attrs plugin, the base
    class's ``id`` and ``version`` become part of every aggregate's typed constructor,
    so ``Account(id=some_uuid)`` checks.
    """
    return attrs.define(cls, slots=True)


@_base
class Aggregate:
    """The base class of every aggregate: an id, a version, and recorded events.

    ``version`` counts every event applied, stored or only recorded; the events recorded
    but not stored yet are ``pending_events``.
    """

    # Declared for type checkers (attrs sets it), so that attrs.fields(cls) accepts
    # aggregate classes.
    __attrs_attrs__: ClassVar[tuple[Any, ...]]
    __esf_appliers__: ClassVar[dict[type, Callable[[Any, Any], Any]]] = {}
    __esf_handlers__: ClassVar[dict[type, HandlerSpec]] = {}
    __esf_options__: ClassVar[AggregateOptions | None] = None

    id: UUID = attrs.field(factory=uuid4, kw_only=True)
    version: int = attrs.field(default=0, kw_only=True)
    _esf_pending: list[Any] = attrs.field(factory=list, init=False, repr=False, eq=False)
    _esf_writable: bool = attrs.field(default=False, init=False, repr=False, eq=False)

    @property
    def pending_events(self) -> tuple[Any, ...]:
        """Events recorded since the aggregate was loaded and not yet stored."""
        return tuple(self._esf_pending)

    def record(self, event: object) -> None:
        """Apply ``event`` to the state now and queue it to be stored."""
        cls = type(self)
        if not self._esf_writable:
            raise RecordOutsideHandler(
                f"{cls.__qualname__}.record({type(event).__qualname__}) was called outside "
                "a command handler: aggregates change only inside app.handle(), a unit of "
                "work (app.unit_of_work()) or esf.testing.given(), so that what is recorded "
                "is stored"
            )
        applier = cls.__esf_appliers__.get(type(event))
        if applier is None:
            raise _missing_applier(cls, event)
        applier(self, event)
        self._esf_pending.append(event)
        self.version += 1

    @_applier_of(ConflictResolved)
    def _esf_conflict_resolved(self, event: ConflictResolved) -> None:
        """A resolved conflict changes no state: it is there for the audit trail."""

    def _esf_replay(self, event: object) -> None:
        """Apply a stored event without queueing it."""
        applier = type(self).__esf_appliers__.get(type(event))
        if applier is None:
            raise _missing_applier(type(self), event)
        applier(self, event)
        self.version += 1


def _missing_applier(cls: type, event: object) -> MissingApplier:
    name = type(event).__qualname__
    if not is_event_class(type(event)):
        return MissingApplier(
            f"{cls.__qualname__} recorded {event!r}, which is not an event: declare "
            f"{name} with @esf.event and give {cls.__qualname__} an @esf.applies({name}) method"
        )
    return MissingApplier(
        f"{cls.__qualname__} has no applier for {name}: add a method decorated with "
        f"@esf.applies({name}) that updates the state from the event"
    )


def state_fields(cls: type[Aggregate]) -> tuple[attrs.Attribute[Any], ...]:
    """The attrs fields that make up an aggregate's state (not id, version, internals)."""
    return tuple(f for f in attrs.fields(cls) if f.name not in ("id", "version") and f.init)


@overload
def applies(event_type: type, /) -> Callable[[F], F]: ...


@overload
def applies(function: F, /) -> F: ...


def applies(arg: Any, /) -> Any:
    """Mark a method as the applier of an event type: ``@esf.applies(Ev)`` or bare.

    The bare form reads the event type from the annotation of the method's parameter.
    """
    if isinstance(arg, type):
        return _applier_of(arg)
    if callable(arg):
        setattr(arg, _APPLIES, None)
        return arg
    raise DefinitionError(f"@esf.applies takes an event class or decorates a method, not {arg!r}")


def handles_mark(function: Callable[..., Any], command_type: type | None, create: bool) -> None:
    """Record on ``function`` that it handles ``command_type`` (None: from annotation)."""
    setattr(function, _HANDLES, (command_type, create))


def _annotated_type(cls: type, function: Callable[..., Any], decorator: str) -> type:
    params = list(inspect.signature(function).parameters.values())
    if len(params) < 2:
        raise DefinitionError(
            f"{cls.__qualname__}.{function.__name__} takes no event or command parameter "
            f"for {decorator} to read its type from"
        )
    try:
        hints = typing.get_type_hints(function)
    except NameError as exc:
        raise DefinitionError(
            f"cannot resolve the annotations of {cls.__qualname__}.{function.__name__} "
            f"({exc}); name the type: {decorator}(TheType)"
        ) from exc
    hint = hints.get(params[1].name)
    if not isinstance(hint, type):
        raise DefinitionError(
            f"{cls.__qualname__}.{function.__name__}: annotate the parameter "
            f"{params[1].name!r} with a class, or name the type: {decorator}(TheType)"
        )
    return hint


def _collect(cls: type[Aggregate]) -> tuple[dict[type, Any], dict[type, HandlerSpec]]:
    appliers: dict[type, Any] = {}
    handlers: dict[type, HandlerSpec] = {}
    declared_in: dict[type, tuple[type, str]] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            applied = getattr(member, _APPLIES, _NOT_GIVEN)
            if applied is not _NOT_GIVEN:
                event_type = applied or _annotated_type(cls, member, "@esf.applies")
                if not is_event_class(event_type):
                    raise DefinitionError(
                        f"{cls.__qualname__}.{name} applies {event_type.__qualname__}, which "
                        "is not an event: declare it with @esf.event"
                    )
                appliers[event_type] = getattr(cls, name)
            handled = getattr(member, _HANDLES, None)
            if handled is not None:
                command_type, create = handled
                command_type = command_type or _annotated_type(cls, member, "@esf.handles")
                other = declared_in.get(command_type)
                if other is not None and other[0] is klass and other[1] != name:
                    raise DefinitionError(
                        f"{cls.__qualname__} handles {command_type.__qualname__} twice: in "
                        f"{other[1]} and in {name}; keep one"
                    )
                declared_in[command_type] = (klass, name)
                handlers[command_type] = HandlerSpec(command_type, getattr(cls, name), create)
    return appliers, handlers


_OPTIONS = frozenset({"name", "snapshot_every", "conflicts"})


@overload
def aggregate(cls: type[A], /) -> type[A]: ...


@overload
def aggregate(
    *, name: str | None = None, snapshot_every: int | None = None, conflicts: Any = None
) -> Callable[[type[A]], type[A]]: ...


@dataclass_transform(field_specifiers=(attrs.field,))
def aggregate(cls: type[A] | None = None, /, **options: Any) -> Any:
    """Declare an aggregate: a mutable attrs subclass of ``esf.Aggregate``.

    ``name`` is the stream type it is stored under (default: the class name);
    ``snapshot_every`` takes a snapshot every N events; ``conflicts`` is the strategy
    for concurrent writes (default: the application's, ``RetryCommand(attempts=3)``).
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise DefinitionError(
            f"@esf.aggregate got unknown option(s) {', '.join(unknown)}; it takes "
            f"{', '.join(sorted(_OPTIONS))}"
        )
    snapshot_every = options.get("snapshot_every")
    if snapshot_every is not None and (
        not isinstance(snapshot_every, int)
        or isinstance(snapshot_every, bool)
        or snapshot_every < 1
    ):
        raise DefinitionError(
            f"snapshot_every must be an int >= 1 or None, got {snapshot_every!r}"
        )

    def wrap(cls: type[A]) -> type[A]:
        if not (isinstance(cls, type) and issubclass(cls, Aggregate)):
            raise DefinitionError(
                f"@esf.aggregate decorates a subclass of esf.Aggregate, not {cls!r}"
            )
        new_cls = attrs.define(cls, slots=True)
        for f in state_fields(new_cls):
            if f.default is attrs.NOTHING:
                raise DefinitionError(
                    f"{cls.__qualname__}.{f.name} needs a default: an aggregate starts "
                    "empty and takes its state from events"
                )
        appliers, handlers = _collect(new_cls)
        new_cls.__esf_appliers__ = appliers
        new_cls.__esf_handlers__ = handlers
        new_cls.__esf_options__ = AggregateOptions(
            name=options.get("name") or cls.__name__,
            snapshot_every=snapshot_every,
            conflicts=options.get("conflicts"),
        )
        return new_cls

    if cls is None:
        return wrap
    return wrap(cls)


def options_of(cls: type[Aggregate]) -> AggregateOptions:
    """The options of a decorated aggregate class, or a clear error if undecorated."""
    opts = cls.__dict__.get("__esf_options__")
    if not isinstance(opts, AggregateOptions):
        raise DefinitionError(
            f"{cls.__qualname__} is not a declared aggregate: decorate it with @esf.aggregate"
        )
    return opts
