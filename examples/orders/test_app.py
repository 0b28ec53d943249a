"""The orders example: the workflow's rules, and the workflow through a store."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

import esframework as esf
from esframework.testing import given, given_events

from .app import make_app, place_order
from .domain import (
    CancelOrder,
    EmptyOrder,
    InvalidLine,
    Order,
    OrderCancelled,
    OrderClosed,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    OrderSummaries,
    OrderSummary,
    PayOrder,
    PlaceOrder,
    ShipOrder,
    Status,
    WrongAmount,
    WrongStatus,
)

LINES = (OrderLine("tea", 2, Decimal("3.50")), OrderLine("mug", 1, Decimal("9.00")))
PLACED = OrderPlaced(customer="ann", lines=LINES, total=Decimal("16.00"))
PAID = OrderPaid(amount=Decimal("16.00"))
SHIPPED = OrderShipped(tracking_code="TRACK-1")
CANCELLED = OrderCancelled(reason="changed mind", refund=Decimal(0))
ANY_ID = uuid4()

# -- the rules -------------------------------------------------------------------------


def test_placing_totals_the_lines() -> None:
    """A placed order records its lines and their total."""
    given(Order).when(PlaceOrder(ANY_ID, "ann", LINES)).then(PLACED)


@pytest.mark.parametrize(
    ("lines", "error"),
    [((), EmptyOrder), ((OrderLine("tea", 0, Decimal(1)),), InvalidLine)],
)
def test_placing_needs_sensible_lines(
    lines: tuple[OrderLine, ...], error: type[esf.DomainError]
) -> None:
    """An order without lines, or with a line of no quantity, is refused."""
    given(Order).when(PlaceOrder(ANY_ID, "ann", lines)).then_raises(error)


def test_payment_must_match_the_total() -> None:
    """Paying anything but the total is refused."""
    given(Order, PLACED).when(PayOrder(ANY_ID, Decimal("15.99"))).then_raises(WrongAmount)


@pytest.mark.parametrize(
    ("history", "command", "error"),
    [
        ((PLACED,), ShipOrder(ANY_ID, "T"), WrongStatus),  # ship before pay
        ((PLACED, PAID), PayOrder(ANY_ID, Decimal(16)), WrongStatus),  # pay twice
        ((PLACED, PAID, SHIPPED), CancelOrder(ANY_ID, "late"), OrderClosed),
        ((PLACED, CANCELLED), PayOrder(ANY_ID, Decimal(16)), OrderClosed),
        ((PLACED, CANCELLED), CancelOrder(ANY_ID, "again"), OrderClosed),
    ],
    ids=["ship-unpaid", "pay-twice", "cancel-shipped", "pay-cancelled", "cancel-twice"],
)
def test_steps_out_of_order_are_refused(
    history: tuple[object, ...], command: object, error: type[esf.DomainError]
) -> None:
    """The workflow runs placed -> paid -> shipped; cancelled and shipped orders are closed."""
    given(Order, *history).when(command).then_raises(error)


def test_cancelling_a_paid_order_refunds_the_payment() -> None:
    """A cancellation after payment records the refund owed."""
    given(Order, PLACED, PAID).when(CancelOrder(ANY_ID, "out of stock")).then(
        OrderCancelled(reason="out of stock", refund=Decimal("16.00"))
    ).then_state(lambda o: o.status is Status.CANCELLED and o.paid == 0)


# -- through the application -----------------------------------------------------------


@pytest.fixture
def app() -> Iterator[esf.Application]:
    """Orders over the configured store (in memory unless ORDERS_STORE_URL says else)."""
    with make_app() as application:
        yield application


@pytest.fixture
def paid_order(app: esf.Application) -> UUID:
    """A placed and paid order."""
    order = place_order(app, "ann", LINES, user_id="ann")
    app.handle(PayOrder(order, Decimal("16.00")), user_id="payments")
    return order


def test_the_whole_workflow_is_stored(app: esf.Application, paid_order: UUID) -> None:
    """Place, pay and ship are stored in order, each attributed, and the chain verifies."""
    app.handle(ShipOrder(paid_order, "TRACK-1"), user_id="warehouse")
    order = app.load(Order, paid_order)
    assert (order.status, order.tracking_code) == (Status.SHIPPED, "TRACK-1")
    stored = list(app.store.read_stream(paid_order))
    assert [r.event for r in stored] == [PLACED, PAID, SHIPPED]
    assert [r.user_id for r in stored] == ["ann", "payments", "warehouse"]
    assert app.verify().ok


def test_a_cancellation_racing_a_shipment_is_decided_on_fresh_state(
    app: esf.Application, paid_order: UUID
) -> None:
    """When a shipment lands while a cancellation runs, the retried cancel is refused."""
    runs: list[Status] = []

    def cancel(uow: esf.UnitOfWork) -> None:
        order = uow.load(Order, paid_order)  # still paid when loaded
        if not runs:
            app.handle(ShipOrder(paid_order, "TRACK-1"), user_id="warehouse")
        runs.append(order.status)
        order.cancel(CancelOrder(paid_order, "changed mind"))

    with pytest.raises(OrderClosed):
        app.unit_of_work(cancel, user_id="ann")  # RetryCommand reruns it on the new state
    assert runs == [Status.PAID, Status.SHIPPED]
    assert [r.event for r in app.store.read_stream(paid_order)] == [PLACED, PAID, SHIPPED]


def test_the_summary_follows_each_step() -> None:
    """The projection keeps one summary per order, at its latest status (each event twice)."""
    order = uuid4()
    given_events(OrderSummaries, PLACED, PAID, SHIPPED, stream_id=order).then_view(
        OrderSummary, order, OrderSummary(order, "ann", "shipped", Decimal("16.00"))
    )


def test_orders_are_listed_by_status_as_soon_as_they_change(
    app: esf.Application, paid_order: UUID
) -> None:
    """Inline: the summary is up to date when handle() returns (read your writes)."""
    other = place_order(app, "bob", LINES, user_id="clerk")
    summaries = app.view(OrderSummary)
    assert [s.order_id for s in summaries.where(status="paid").page(size=10)] == [paid_order]
    assert summaries.where(status="placed").count() == 1
    app.handle(CancelOrder(other, "no longer needed"), user_id="clerk")
    assert summaries.get(other).status == "cancelled"  # type: ignore[union-attr]
