"""Upcasters: explicit ``dict -> dict`` steps that lift old payloads, run on read.

Stored events are never rewritten. When a payload stored at version n is read and its
class is now at version m > n, the steps n -> n+1, ..., m-1 -> m run in order, and
cattrs structures the result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from esframework.errors import DefinitionError, UpcasterChainError, UpcastError
from esframework.registry import Registry, Upcaster, default_registry

__all__ = ["upcast", "upcaster"]


def upcaster(
    name: str, *, from_version: int, registry: Registry | None = None
) -> Callable[[Upcaster], Upcaster]:
    """Register a function that lifts ``name`` payloads from ``from_version`` by one.

    The function receives a copy of the old payload and returns the new one; it is
    returned unchanged, so it can be unit-tested directly.
    """
    if not isinstance(from_version, int) or isinstance(from_version, bool) or from_version < 1:
        raise DefinitionError(f"from_version must be an int >= 1, got {from_version!r}")

    def wrap(step: Upcaster) -> Upcaster:
        if not callable(step):
            raise DefinitionError(f"@esf.upcaster decorates a function, not {step!r}")
        (registry or default_registry).register_upcaster(name, from_version, step)
        return step

    return wrap


def upcast(
    registry: Registry,
    name: str,
    from_version: int,
    to_version: int,
    data: Mapping[str, Any],
    *,
    where: str = "",
) -> dict[str, Any]:
    """Run the chain of steps from ``from_version`` up to ``to_version``."""
    payload: dict[str, Any] = copy.deepcopy(dict(data))
    for version in range(from_version, to_version):
        step = registry.upcaster(name, version)
        if step is None:
            raise UpcasterChainError(
                f"{where}cannot read {name!r} version {from_version}: no upcaster from "
                f"version {version} to {version + 1}; add "
                f'@esf.upcaster("{name}", from_version={version})'
            )
        try:
            result = step(payload)
        except Exception as exc:
            raise UpcastError(
                f"{where}upcaster {getattr(step, '__qualname__', step)!r} for {name!r} "
                f"version {version} -> {version + 1} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, dict):
            raise UpcastError(
                f"{where}upcaster {getattr(step, '__qualname__', step)!r} for {name!r} "
                f"version {version} -> {version + 1} returned {type(result).__name__}, "
                "not a dict"
            )
        payload = result
    return payload
