"""Event type name + version <-> class, and the upcasters between versions.

A :class:`Registry` is an ordinary object: the decorators write into
``default_registry`` unless given another, and applications and stores read the one
they are handed. Tests, tenants and plugins that need isolation make their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from esframework.errors import DuplicateRegistration, UnknownEventType, UpcasterChainError

__all__ = ["EventType", "Registry", "Upcaster", "default_registry"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""One step of an upcaster chain: the payload at version n -> the payload at n + 1."""


@attrs.frozen
class EventType:
    """The identity an event class is stored under."""

    name: str
    version: int


def _describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry:
    """Knows every event class by (name, version) and every upcaster step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, int], type] = {}
        self._current: dict[str, type] = {}
        self._types: dict[type, EventType] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def __repr__(self) -> str:
        return f"<Registry {len(self._by_key)} event classes, {len(self._upcasters)} upcasters>"

    # -- event classes -------------------------------------------------------------

    def register_event(self, cls: type, name: str, version: int) -> EventType:
        """Register ``cls`` under (name, version); the highest version is the current one.

        Registering a class under a key another class holds is an error naming both,
        except for a class of the same module and qualified name (a module imported
        twice, or reloaded), which replaces the old one.
        """
        key = (name, version)
        with self._lock:
            other = self._by_key.get(key)
            if other is not None and _describe(other) != _describe(cls):
                raise DuplicateRegistration(
                    f"event type {name!r} version {version} is registered twice: by "
                    f"{_describe(other)} and by {_describe(cls)}; give one of them another "
                    "name or version (@esf.event(name=..., version=...))"
                )
            if other is not None:
                del self._types[other]
            self._by_key[key] = cls
            event_type = EventType(name, version)
            self._types[cls] = event_type
            current = self._current.get(name)
            if current is None or current is other or self._types[current].version < version:
                self._current[name] = cls
            return event_type

    def type_of(self, cls: type) -> EventType:
        """The (name, version) ``cls`` is registered under."""
        try:
            return self._types[cls]
        except KeyError:
            raise UnknownEventType(
                f"{_describe(cls)} is not a registered event class: decorate it with "
                "@esf.event (or register it in this registry)"
            ) from None

    def current(self, name: str) -> type:
        """The newest class registered under ``name``."""
        try:
            return self._current[name]
        except KeyError:
            raise UnknownEventType(
                f"no event class is registered under the name {name!r}: import the module "
                "that declares it, or declare it with @esf.event(name=...)"
            ) from None

    def current_version(self, name: str) -> int:
        """The version of the newest class registered under ``name``."""
        return self._types[self.current(name)].version

    def event_classes(self) -> Iterator[type]:
        """Every registered event class, oldest registration first."""
        return iter(list(self._by_key.values()))

    # -- upcasters -----------------------------------------------------------------

    def register_upcaster(self, name: str, from_version: int, step: Upcaster) -> None:
        """Register the step that lifts ``name`` payloads from ``from_version`` by one."""
        key = (name, from_version)
        with self._lock:
            other = self._upcasters.get(key)
            anonymous = "<lambda>" in _describe_fn(step) or "<locals>" in _describe_fn(step)
            if (
                other is not None
                and other is not step
                and (anonymous or _describe_fn(other) != _describe_fn(step))
            ):
                raise DuplicateRegistration(
                    f"two upcasters lift {name!r} from version {from_version}: "
                    f"{_describe_fn(other)} and {_describe_fn(step)}; keep one"
                )
            self._upcasters[key] = step

    def upcaster(self, name: str, from_version: int) -> Upcaster | None:
        """The step from ``from_version`` to ``from_version + 1``, if registered."""
        return self._upcasters.get((name, from_version))

    def check_upcaster_chains(self) -> None:
        """Raise if any event type lacks a step between version 1 and its current version."""
        missing = [
            f"{name!r} {v} -> {v + 1}"
            for name, cls in sorted(self._current.items())
            for v in range(1, self._types[cls].version)
            if (name, v) not in self._upcasters
        ]
        if missing:
            raise UpcasterChainError(
                "upcaster chain incomplete, missing: "
                + ", ".join(missing)
                + '; add @esf.upcaster("Name", from_version=n) functions for each step'
            )


def _describe_fn(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


default_registry = Registry()
"""The registry the decorators use when not given one."""
