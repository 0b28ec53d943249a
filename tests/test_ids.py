"""New ids are time-ordered UUIDs; ids read back from storage are exact UUIDs."""

from __future__ import annotations

import time
from uuid import RFC_4122, UUID, uuid4

import esframework as esf
from esframework.ids import new_id, uuid_from_bytes, uuid_from_hex
from esframework.testing.contract import Noted


def test_new_ids_are_version_7_uuids_like_any_other() -> None:
    """A new id is a standard version 7 UUID: equal, hashed and printed like a parsed one."""
    made = new_id()
    parsed = UUID(str(made))
    assert (made.version, made.variant) == (7, RFC_4122)
    assert made == parsed
    assert (hash(made), str(made)) == (hash(parsed), str(parsed))


def test_new_ids_carry_the_time_and_sort_by_it() -> None:
    """An id's first 48 bits are the Unix milliseconds it was made at; later ids sort after."""
    before = time.time_ns() // 1_000_000
    first = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= first.int >> 80 <= after
    time.sleep(0.002)
    assert all(new_id() > first for _ in range(100))


def test_new_ids_do_not_repeat() -> None:
    """Ids made in the same millisecond differ in their 74 random bits."""
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)


def test_events_get_new_ids_unless_given_one() -> None:
    """Appended events and NewEvent get time-ordered ids; an id given is kept."""
    store = esf.connect("memory://")
    given = uuid4()
    a, b = store.append(uuid4(), [Noted("a"), esf.NewEvent(Noted("b"), event_id=given)])
    assert a.event_id.version == 7
    assert b.event_id == given
    assert esf.NewEvent(Noted("c")).event_id.version == 7


def test_stored_ids_read_back_exactly() -> None:
    """Ids parsed from stored hex text or bytes equal the UUIDs they came from."""
    for value in (uuid4(), new_id(), UUID(int=0), UUID(int=2**128 - 1)):
        for made in (uuid_from_hex(value.hex), uuid_from_bytes(value.bytes)):
            assert made == value
            assert (hash(made), str(made), made.version) == (
                hash(value),
                str(value),
                value.version,
            )
