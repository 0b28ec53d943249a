"""Checking upcasters: a step must keep every field of the old payload, or say why not.

::

    from esframework.testing import check_upcaster

    new = check_upcaster("MoneyDeposited", 1, {"amount": "5"}, drops={"legacy_flag"})
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from esframework.registry import Registry, default_registry
from esframework.serialization import EventCodec
from esframework.upcasting import upcast

__all__ = ["check_upcast_chain", "check_upcaster"]


def check_upcaster(
    name: str,
    from_version: int,
    payload: Mapping[str, Any],
    *,
    drops: Collection[str] = (),
    renames: Mapping[str, str] | None = None,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """Run one registered step and assert it lost no field of ``payload``.

    Every key of the old payload must be in the new one, under its new name when listed
    in ``renames``, unless listed in ``drops``. Returns the new payload. The step gets a
    copy, so ``payload`` is unchanged afterwards (also asserted).
    """
    reg = registry if registry is not None else default_registry
    before = dict(payload)
    new = upcast(reg, name, from_version, from_version + 1, payload)
    assert dict(payload) == before, f"the upcaster of {name!r} v{from_version} changed its input"
    _assert_kept(name, from_version, payload, new, drops, renames or {})
    return new


def check_upcast_chain(
    name: str,
    from_version: int,
    payload: Mapping[str, Any],
    *,
    drops: Collection[str] = (),
    renames: Mapping[str, str] | None = None,
    registry: Registry | None = None,
) -> Any:
    """Run the whole chain to the current class; assert no field lost and that it decodes.

    Returns the decoded event, an instance of the current class.
    """
    reg = registry if registry is not None else default_registry
    current = reg.current_version(name)
    new = upcast(reg, name, from_version, current, payload)
    _assert_kept(name, from_version, payload, new, drops, renames or {})
    return EventCodec(reg).decode(name, from_version, payload)


def _assert_kept(
    name: str,
    from_version: int,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    drops: Collection[str],
    renames: Mapping[str, str],
) -> None:
    lost = sorted(k for k in old if k not in drops and renames.get(k, k) not in new)
    assert not lost, (
        f"upcasting {name!r} from version {from_version} lost field(s) {lost}: keep them, "
        "or list them in drops= (deliberately dropped) or renames= (old -> new name)"
    )
