"""Commands: ``@esf.command``, ``@esf.handles`` and the router that dispatches them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload
from uuid import UUID

import attrs
from typing_extensions import dataclass_transform

from esframework.aggregate import Aggregate, HandlerSpec, handles_mark, options_of
from esframework.errors import DefinitionError, InvalidTarget, NoHandler

__all__ = ["CommandRouter", "CommandSpec", "Route", "command", "handles", "target_of"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class CommandSpec:
    """What ``@esf.command`` was told: the field that names the target aggregate."""

    target: str


@overload
def command(cls: type[T], /) -> type[T]: ...


@overload
def command(*, target: str | None = None) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field,))
def command(
    cls: type[T] | None = None, /, *, target: str | None = None
) -> type[T] | Callable[[type[T]], type[T]]:
    """Declare a command: a frozen, slotted attrs class aimed at one aggregate.

    ``target`` names the field holding the aggregate's id; bare ``@esf.command`` uses a
    field called ``id``.
    """

    def wrap(cls: type[T]) -> type[T]:
        new_cls = attrs.frozen(cls, slots=True)
        names = [f.name for f in attrs.fields(new_cls)]  # type: ignore[arg-type]
        field = target if target is not None else "id"
        if field not in names:
            hint = (
                f"no field {field!r}"
                if target is not None
                else "no field 'id' and no target was named"
            )
            raise DefinitionError(
                f"command {cls.__qualname__} has {hint}: name the field holding the "
                f"aggregate id, e.g. @esf.command(target={names[0] if names else 'id'!r})"
            )
        new_cls.__esf_command__ = CommandSpec(field)  # type: ignore[attr-defined]
        return new_cls

    if cls is None:
        return wrap
    return wrap(cls)


def _spec(command_type: type) -> CommandSpec:
    spec = command_type.__dict__.get("__esf_command__")
    if not isinstance(spec, CommandSpec):
        raise DefinitionError(
            f"{command_type.__qualname__} is not a command: declare it with "
            "@esf.command(target='the_id_field')"
        )
    return spec


def target_of(cmd: object) -> UUID:
    """The id of the aggregate a command is aimed at, or a typed error saying why not."""
    spec = _spec(type(cmd))
    value = getattr(cmd, spec.target, None)
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidTarget(
        f"{type(cmd).__qualname__}.{spec.target} is {value!r}: a command must name its "
        "aggregate with a uuid.UUID"
    )


# The class overload comes first: a class is callable too, and would otherwise match
# the bare form and turn the decorated method into the command class.
@overload
def handles(command_type: type, /, *, create: bool = False) -> Callable[[F], F]: ...


@overload
def handles(function: F, /) -> F: ...


@overload
def handles(*, create: bool = False) -> Callable[[F], F]: ...


def handles(arg: Any = None, /, *, create: bool = False) -> Any:
    """Mark an aggregate method as the handler of a command type.

    ``@esf.handles(Cmd)``, ``@esf.handles(Cmd, create=True)`` (runs on a new, empty
    aggregate), or bare ``@esf.handles`` (the type read from the parameter annotation).
    """
    if arg is None or isinstance(arg, type):
        command_type = arg

        def mark(function: F) -> F:
            handles_mark(function, command_type, create)
            return function

        return mark
    if callable(arg):
        handles_mark(arg, None, create)
        return arg
    raise DefinitionError(f"@esf.handles takes a command class or decorates a method, not {arg!r}")


@attrs.frozen
class Route:
    """Where one command type goes: the aggregate class and its handler."""

    aggregate: type[Aggregate]
    handler: HandlerSpec
    target: str


class CommandRouter:
    """Maps each command type to the one aggregate handler that handles it."""

    def __init__(self, aggregates: Iterable[type[Aggregate]]) -> None:
        self._routes: dict[type, Route] = {}
        for agg in aggregates:
            options_of(agg)
            for command_type, spec in agg.__esf_handlers__.items():
                cmd_spec = _spec(command_type)
                other = self._routes.get(command_type)
                if other is not None:
                    raise DefinitionError(
                        f"{command_type.__qualname__} is handled twice: by "
                        f"{other.aggregate.__qualname__}.{other.handler.function.__name__} and "
                        f"by {agg.__qualname__}.{spec.function.__name__}; keep one"
                    )
                self._routes[command_type] = Route(agg, spec, cmd_spec.target)

    def __repr__(self) -> str:
        return f"<CommandRouter {len(self._routes)} command types>"

    def route(self, cmd: object) -> Route:
        """The route of ``cmd``'s type, or ``NoHandler``."""
        found = self._routes.get(type(cmd))
        if found is None:
            raise NoHandler(
                f"no aggregate of this application handles {type(cmd).__qualname__}: add a "
                "method decorated with @esf.handles to an aggregate and pass that aggregate "
                "to esf.Application(..., aggregates=[...])"
            )
        return found
