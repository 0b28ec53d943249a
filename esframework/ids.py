"""Fast, exact ``uuid.UUID`` construction for the hot paths: new event ids, stored ids.

``uuid.UUID(...)`` validates and cleans its input in Python (about 2 us), which an
append pays for every event id it makes and a read for every id it parses. Where
``UUID`` keeps its value in the ``int`` and ``is_safe`` slots, as CPython has since
3.7, the value is set directly instead, and a probe at import checks that the result
is the same UUID the ordinary constructor makes; anywhere else the ordinary
constructor is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

__all__ = ["new_id", "uuid_from_bytes", "uuid_from_hex"]

_VERSION_4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_4_SET = (0x8000 << 48) | (4 << 76)


def _slow_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(int=int(text, 16))


def _slow_uuid_bytes(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=data)


def _fast_constructors() -> tuple[
    Callable[[str], uuid.UUID], Callable[[bytes], uuid.UUID], Callable[[], uuid.UUID]
]:
    slots = getattr(uuid.UUID, "__slots__", ())
    if "int" not in slots or "is_safe" not in slots:
        return _slow_uuid, _slow_uuid_bytes, uuid.uuid4
    new, set_slot, cls, unknown, urandom = (
        object.__new__,
        object.__setattr__,
        uuid.UUID,
        uuid.SafeUUID.unknown,
        os.urandom,
    )

    def from_hex(text: str) -> uuid.UUID:
        value = new(cls)
        set_slot(value, "int", int(text, 16))
        set_slot(value, "is_safe", unknown)
        return value

    def from_bytes(data: bytes) -> uuid.UUID:
        value = new(cls)
        set_slot(value, "int", int.from_bytes(data))
        set_slot(value, "is_safe", unknown)
        return value

    def random_id() -> uuid.UUID:
        value = new(cls)
        number = int.from_bytes(urandom(16)) & _VERSION_4_CLEAR | _VERSION_4_SET
        set_slot(value, "int", number)
        set_slot(value, "is_safe", unknown)
        return value

    probe = uuid.uuid4()
    for made in (from_hex(probe.hex), from_bytes(probe.bytes)):
        if made != probe or hash(made) != hash(probe) or str(made) != str(probe):
            return _slow_uuid, _slow_uuid_bytes, uuid.uuid4
    fresh = random_id()
    if fresh.version != 4 or fresh.variant != uuid.RFC_4122 or uuid.UUID(str(fresh)) != fresh:
        return from_hex, from_bytes, uuid.uuid4
    return from_hex, from_bytes, random_id


uuid_from_hex: Callable[[str], uuid.UUID]
"""A ``uuid.UUID`` from its 32-digit hex text, as SQLite stores ids."""
uuid_from_bytes: Callable[[bytes], uuid.UUID]
"""A ``uuid.UUID`` from its 16 bytes, as PostgreSQL's ``uuid_send`` gives them."""
new_id: Callable[[], uuid.UUID]
"""A new random (version 4) ``uuid.UUID``, as ``uuid.uuid4()`` makes it."""
uuid_from_hex, uuid_from_bytes, new_id = _fast_constructors()
