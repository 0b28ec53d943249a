"""esframework.testing.given_events: projections tested with every event delivered twice."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.testing import given_events


@esf.event(name="tests.gwt_projections.Opened")
class Opened:
    owner: str


@esf.event(name="tests.gwt_projections.Deposited")
class Deposited:
    amount: int


@esf.event(name="tests.gwt_projections.Closed")
class Closed:
    pass


@esf.view(key="account_id", indexes=("owner",), name="tests_gwt_balance")
class Balance:
    account_id: UUID
    owner: str
    balance: int


@esf.projection(views=[Balance], name="tests.gwt.balances")
class Balances:
    @esf.on
    def opened(self, event: Opened, ctx: esf.ProjectionContext) -> None:
        ctx.view(Balance).put(Balance(ctx.stream_id, event.owner, 0))

    @esf.on
    def deposited(self, event: Deposited, ctx: esf.ProjectionContext) -> None:
        if event.amount < 0:
            raise ValueError("negative")
        current = ctx.view(Balance).get(ctx.stream_id)
        assert current is not None
        ctx.view(Balance).update(ctx.stream_id, balance=current.balance + event.amount)

    @esf.on
    def closed(self, event: Closed, ctx: esf.ProjectionContext) -> None:
        ctx.view(Balance).delete(ctx.stream_id)


class NaiveMailer:
    """Sends a welcome on every delivery: a redelivery sends it again."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @esf.on
    def welcome(self, event: Opened) -> None:
        self.sent.append(event.owner)


class Mailer(NaiveMailer):
    """Skips positions it has handled."""

    def __init__(self) -> None:
        super().__init__()
        self.done = 0

    @esf.on
    def welcome(self, event: Opened, ctx: esf.ProjectionContext) -> None:  # type: ignore[override]
        if ctx.position > self.done:
            self.sent.append(event.owner)
            self.done = ctx.position


def test_then_view_checks_one_row() -> None:
    """then_view(View, key, expected) passes when the row is as expected."""
    account = uuid4()
    given_events(Balances, Opened("ann"), Deposited(5), Deposited(7), stream_id=account).then_view(
        Balance, account, Balance(account, "ann", 12)
    )


def test_increments_survive_double_delivery() -> None:
    """Each event reaches the handler twice, yet view rows are written once per event."""
    scenario = given_events(Balances, Opened("ann"), Deposited(5))
    assert scenario.deliveries == [1, 1, 2, 2]
    (record,) = [r for r in scenario.records if r.position == 2]
    scenario.then_view(Balance, record.stream_id, Balance(record.stream_id, "ann", 5))


def test_then_view_with_none_checks_absence() -> None:
    """then_view(View, key, None) passes when there is no row (deleted here)."""
    account = uuid4()
    given_events(Balances, Opened("ann"), Closed(), stream_id=account).then_view(
        Balance, account, None
    )


def test_then_views_checks_every_row_across_streams() -> None:
    """(stream_id, event) pairs spread events over streams; then_views checks all rows."""
    a, b = sorted([uuid4(), uuid4()])
    given_events(Balances, (a, Opened("ann")), (b, Opened("bob")), (b, Deposited(3))).then_views(
        Balance, Balance(b, "bob", 3), Balance(a, "ann", 0)
    )


def test_a_wrong_view_fails_with_both_sides_and_the_double_delivery_hint() -> None:
    """A mismatch shows expected and actual, and says events were delivered twice."""
    account = uuid4()
    with pytest.raises(AssertionError, match=r"(?s)expected:.*balance=99.*actual:.*twice"):
        given_events(Balances, Opened("ann"), Deposited(5), stream_id=account).then_view(
            Balance, account, Balance(account, "ann", 99)
        )
    with pytest.raises(AssertionError, match=r"rows differ at index \d.*\n.*expected 2"):
        given_events(Balances, Opened("ann"), stream_id=account).then_views(
            Balance, Balance(account, "ann", 0), Balance(uuid4(), "bob", 0)
        )


def test_a_handler_that_is_not_idempotent_shows_up() -> None:
    """Effects outside views are repeated by a redelivery unless the handler uses ctx.position."""
    with pytest.raises(AssertionError, match="twice"):
        given_events(NaiveMailer(), Opened("ann")).then_state(lambda m: m.sent == ["ann"])
    given_events(Mailer(), Opened("ann"), Opened("bob")).then_state(
        lambda m: m.sent == ["ann", "bob"]
    )


def test_then_raises_checks_a_failing_handler() -> None:
    """then_raises names the handler's error; other checks report it instead of passing."""
    scenario = given_events(Balances, Opened("ann"), Deposited(-1))
    scenario.then_raises(ValueError, match="negative")
    with pytest.raises(AssertionError, match="raised at position 2"):
        scenario.then_view(Balance, uuid4(), None)
    with pytest.raises(AssertionError, match="expected KeyError"):
        scenario.then_raises(KeyError)
    with pytest.raises(AssertionError, match="no handler raised"):
        given_events(Balances, Opened("ann")).then_raises(ValueError)


def test_a_view_the_projection_does_not_declare_is_refused() -> None:
    """Checking a view the projection does not write is a mistake in the test."""

    @esf.view(key="id", name="tests_gwt_other")
    class Other:
        id: int

    with pytest.raises(esf.DefinitionError, match="does not declare"):
        given_events(Balances, Opened("ann")).then_view(Other, 1, None)
