"""Ids for the hot paths: new event and command ids, and stored ids read back.

New ids are time-ordered UUIDs (version 7, RFC 9562): 48 bits of Unix milliseconds,
then 74 random bits. They are as unique as version 4 ids, and consecutive ones sort
together, so each append adds its event ids at the end of the ``event_id`` index
instead of at a random place in it: on SQLite a batch of 100 events then writes a few
index pages instead of up to a hundred, and PostgreSQL's B-tree stays as compact.

``uuid.UUID(...)`` validates and cleans its input in Python (about 2 us), which an
append pays for every event id it makes and a read for every id it parses. Where
``UUID`` keeps its value in the ``int`` and ``is_safe`` slots, as CPython has since
3.7, the value is set directly instead, and a probe at import checks that the result
is the same UUID the ordinary constructor makes; anywhere else the ordinary
constructor is used.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

__all__ = ["new_id", "uuid_from_bytes", "uuid_from_hex"]

_RAND_B = (1 << 62) - 1
_VERSION_7 = (0x7 << 76) | (0b10 << 62)  # the version nibble and the RFC 4122 variant


def _v7_int(now_ns: Callable[[], int], urandom: Callable[[int], bytes]) -> int:
    rand = int.from_bytes(urandom(10))  # 80 random bits, of which 74 are used
    return (now_ns() // 1_000_000) << 80 | (rand >> 68) << 64 | rand & _RAND_B | _VERSION_7


def _slow_new_id() -> uuid.UUID:
    return uuid.UUID(int=_v7_int(time.time_ns, os.urandom))


def _slow_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(int=int(text, 16))


def _slow_uuid_bytes(data: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=data)


def _fast_constructors() -> tuple[
    Callable[[str], uuid.UUID], Callable[[bytes], uuid.UUID], Callable[[], uuid.UUID]
]:
    slots = getattr(uuid.UUID, "__slots__", ())
    if "int" not in slots or "is_safe" not in slots:
        return _slow_uuid, _slow_uuid_bytes, _slow_new_id
    new, set_slot, cls, unknown, urandom, now_ns = (
        object.__new__,
        object.__setattr__,
        uuid.UUID,
        uuid.SafeUUID.unknown,
        os.urandom,
        time.time_ns,
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

    def time_ordered_id() -> uuid.UUID:
        value = new(cls)
        set_slot(value, "int", _v7_int(now_ns, urandom))
        set_slot(value, "is_safe", unknown)
        return value

    probe = uuid.uuid4()
    for made in (from_hex(probe.hex), from_bytes(probe.bytes)):
        if made != probe or hash(made) != hash(probe) or str(made) != str(probe):
            return _slow_uuid, _slow_uuid_bytes, _slow_new_id
    fresh = time_ordered_id()
    if fresh.version != 7 or fresh.variant != uuid.RFC_4122 or uuid.UUID(str(fresh)) != fresh:
        return from_hex, from_bytes, _slow_new_id
    return from_hex, from_bytes, time_ordered_id


uuid_from_hex: Callable[[str], uuid.UUID]
"""A ``uuid.UUID`` from its 32-digit hex text, as SQLite stores ids."""
uuid_from_bytes: Callable[[bytes], uuid.UUID]
"""A ``uuid.UUID`` from its 16 bytes, as PostgreSQL's ``uuid_send`` gives them."""
new_id: Callable[[], uuid.UUID]
"""A new time-ordered (version 7) ``uuid.UUID``: Unix milliseconds, then 74 random bits."""
uuid_from_hex, uuid_from_bytes, new_id = _fast_constructors()
