"""The pytest plugin's fixtures, and the FakeClock behind them."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

import esframework as esf
from esframework.testing import FakeClock

pytest_plugins = ["pytester"]

START = datetime(2026, 1, 1, tzinfo=UTC)


@esf.event
class PluginPinged:
    text: str


# -- the fixtures, used as any project's tests use them ----------------------------------


def test_event_store_fixture_is_a_fresh_store(event_store):
    """event_store is an empty EventStore that takes appends."""
    assert isinstance(event_store, esf.EventStore)
    assert list(event_store.read_all()) == []
    (record,) = event_store.append(uuid4(), [PluginPinged("a")], expected_version=0)
    assert record.position == 1
    assert record.event == PluginPinged("a")


def test_event_store_fixture_is_fresh_in_every_test(event_store):
    """A second test gets a store of its own, not the one the first test wrote to."""
    assert list(event_store.read_all()) == []
    (record,) = event_store.append(uuid4(), [PluginPinged("b")], expected_version=0)
    assert record.position == 1


def test_event_store_runs_on_the_fake_clock(event_store, fake_clock):
    """The store's recorded times come from the test's fake_clock."""
    assert fake_clock.now() == START
    first = event_store.append(uuid4(), [PluginPinged("a")])[0]
    later = fake_clock.advance(minutes=5)
    second = event_store.append(uuid4(), [PluginPinged("b")])[0]
    assert (first.recorded_at, first.occurred_at) == (START, START)
    assert (second.recorded_at, second.occurred_at) == (later, later)


def test_fixtures_work_in_a_project_without_configuration(pytester):
    """A project's tests get event_store and fake_clock without conftest or ini settings."""
    pytester.makepyfile(
        test_project=textwrap.dedent(
            """
            from uuid import uuid4

            import pytest

            import esframework as esf

            @esf.event(name="project.Noted")
            class Noted:
                text: str

            OPENED = []

            def test_first(event_store, fake_clock):
                OPENED.append(event_store)
                (rec,) = event_store.append(uuid4(), [Noted("x")], expected_version=0)
                assert rec.recorded_at == fake_clock.now()

            def test_second(event_store):
                assert event_store is not OPENED[0]
                with pytest.raises(esf.StoreClosed):
                    OPENED[0].stream_version(uuid4())
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


# -- FakeClock ---------------------------------------------------------------------------


def test_fake_clock_starts_at_a_fixed_time_and_stands_still():
    """A FakeClock returns its start time on every call until it is moved."""
    clock = FakeClock()
    assert [clock(), clock(), clock.now()] == [START, START, START]
    other = datetime(2030, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert FakeClock(other)() == other


def test_fake_clock_advance():
    """advance() moves forward by a timedelta or by units, and returns the new time."""
    clock = FakeClock()
    assert clock.advance(timedelta(seconds=30)) == START + timedelta(seconds=30)
    assert clock.advance(hours=1, minutes=1) == START + timedelta(hours=1, minutes=1, seconds=30)
    assert clock() == clock.now() == START + timedelta(hours=1, minutes=1, seconds=30)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(seconds=-1)


def test_fake_clock_set_jumps_anywhere():
    """set() jumps to any aware time, backwards too; a naive one is refused."""
    clock = FakeClock()
    earlier = datetime(2020, 2, 2, tzinfo=UTC)
    clock.set(earlier)
    assert clock() == earlier
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2020, 2, 2))
    assert clock.now() == earlier


def test_fake_clock_tick_moves_on_every_read():
    """With tick=..., each call returns the current time and then moves on by the tick."""
    clock = FakeClock(tick=timedelta(seconds=1))
    assert [clock(), clock(), clock()] == [START + timedelta(seconds=n) for n in range(3)]
    assert clock.now() == START + timedelta(seconds=3)
    assert clock.now() == START + timedelta(seconds=3)


def test_fake_clock_refuses_a_naive_start():
    """A FakeClock needs a timezone-aware start."""
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 1, 1))


def test_ticking_clock_orders_a_store_events():
    """A store on a ticking clock gives successive appends strictly later times; the
    events of one append occur together."""
    clock = FakeClock(tick=timedelta(milliseconds=1))
    store = esf.connect("memory://", clock=clock)
    store.append(uuid4(), [PluginPinged("a"), PluginPinged("b")])
    store.append(uuid4(), [PluginPinged("c")])
    times = [r.occurred_at for r in store.read_all()]
    assert times == sorted(times)
    assert times[0] == times[1] < times[2]
