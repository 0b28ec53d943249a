"""Orders: placed, paid, shipped or cancelled, in that order and no other.

Each step is a command whose handler checks the order's status first: paying twice,
shipping unpaid goods or cancelling a shipped order is a ``DomainError`` and stores
nothing. Cancelling a paid order records the refund owed.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from uuid import UUID

import attrs

import esframework as esf

__all__ = [
    "CancelOrder",
    "EmptyOrder",
    "InvalidLine",
    "Order",
    "OrderCancelled",
    "OrderClosed",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "OrderShipped",
    "OrderSummaries",
    "OrderSummary",
    "PayOrder",
    "PlaceOrder",
    "ShipOrder",
    "Status",
    "WrongAmount",
    "WrongStatus",
]


class Status(enum.Enum):
    NEW = "new"
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class EmptyOrder(esf.DomainError):
    """An order needs at least one line."""


class InvalidLine(esf.DomainError):
    """A line with no quantity or a negative price."""


class WrongAmount(esf.DomainError):
    """A payment that is not the order's total."""


class WrongStatus(esf.DomainError):
    """A step the order's status does not allow (ship before pay, pay twice...)."""


class OrderClosed(WrongStatus):
    """Any step on a cancelled order, or cancelling a shipped one."""


@attrs.frozen
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@esf.event(name="orders.OrderPlaced")
class OrderPlaced:
    customer: str
    lines: tuple[OrderLine, ...]
    total: Decimal


@esf.event(name="orders.OrderPaid")
class OrderPaid:
    amount: Decimal


@esf.event(name="orders.OrderShipped")
class OrderShipped:
    tracking_code: str


@esf.event(name="orders.OrderCancelled")
class OrderCancelled:
    reason: str
    refund: Decimal


@esf.command(target="order_id")
class PlaceOrder:
    order_id: UUID
    customer: str
    lines: tuple[OrderLine, ...]


@esf.command(target="order_id")
class PayOrder:
    order_id: UUID
    amount: Decimal


@esf.command(target="order_id")
class ShipOrder:
    order_id: UUID
    tracking_code: str


@esf.command(target="order_id")
class CancelOrder:
    order_id: UUID
    reason: str


@esf.aggregate(name="orders.Order")
class Order(esf.Aggregate):
    customer: str = ""
    total: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)
    status: Status = Status.NEW
    tracking_code: str = ""

    def _require(self, *allowed: Status, step: str) -> None:
        if self.status is Status.CANCELLED:
            raise OrderClosed(f"order {self.id} is cancelled: it cannot be {step}")
        if self.status not in allowed:
            raise WrongStatus(f"order {self.id} is {self.status.value}: it cannot be {step}")

    @esf.handles(PlaceOrder, create=True)
    def place(self, cmd: PlaceOrder) -> None:
        if not cmd.lines:
            raise EmptyOrder("an order needs at least one line")
        for line in cmd.lines:
            if line.quantity < 1 or line.unit_price < 0:
                raise InvalidLine(f"{line} needs a quantity of 1 or more and a price >= 0")
        total = sum((line.amount for line in cmd.lines), Decimal(0))
        self.record(OrderPlaced(customer=cmd.customer, lines=cmd.lines, total=total))

    @esf.handles
    def pay(self, cmd: PayOrder) -> None:
        self._require(Status.PLACED, step="paid")
        if cmd.amount != self.total:
            raise WrongAmount(f"order {self.id} totals {self.total}, not {cmd.amount}")
        self.record(OrderPaid(amount=cmd.amount))

    @esf.handles
    def ship(self, cmd: ShipOrder) -> None:
        self._require(Status.PAID, step="shipped")
        self.record(OrderShipped(tracking_code=cmd.tracking_code))

    @esf.handles
    def cancel(self, cmd: CancelOrder) -> None:
        if self.status is Status.SHIPPED:
            raise OrderClosed(f"order {self.id} is shipped: return it instead of cancelling")
        self._require(Status.PLACED, Status.PAID, step="cancelled")
        self.record(OrderCancelled(reason=cmd.reason, refund=self.paid))

    @esf.applies
    def _placed(self, e: OrderPlaced) -> None:
        self.customer = e.customer
        self.total = e.total
        self.status = Status.PLACED

    @esf.applies
    def _paid(self, e: OrderPaid) -> None:
        self.paid = e.amount
        self.status = Status.PAID

    @esf.applies
    def _shipped(self, e: OrderShipped) -> None:
        self.tracking_code = e.tracking_code
        self.status = Status.SHIPPED

    @esf.applies
    def _cancelled(self, e: OrderCancelled) -> None:
        self.paid -= e.refund
        self.status = Status.CANCELLED


@esf.view(key="order_id", indexes=("status", "customer"))
class OrderSummary:
    """One row per order, to list and count orders by status or customer."""

    order_id: UUID
    customer: str
    status: str
    total: Decimal


@esf.projection(name="orders.summaries", views=[OrderSummary], mode="inline")
class OrderSummaries:
    """Keeps OrderSummary in step with the orders, in the same transaction (inline)."""

    @esf.on
    def placed(self, e: OrderPlaced, ctx: esf.ProjectionContext) -> None:
        ctx.view(OrderSummary).put(
            OrderSummary(ctx.stream_id, e.customer, Status.PLACED.value, e.total)
        )

    @esf.on
    def paid(self, e: OrderPaid, ctx: esf.ProjectionContext) -> None:
        ctx.view(OrderSummary).update(ctx.stream_id, status=Status.PAID.value)

    @esf.on
    def shipped(self, e: OrderShipped, ctx: esf.ProjectionContext) -> None:
        ctx.view(OrderSummary).update(ctx.stream_id, status=Status.SHIPPED.value)

    @esf.on
    def cancelled(self, e: OrderCancelled, ctx: esf.ProjectionContext) -> None:
        ctx.view(OrderSummary).update(ctx.stream_id, status=Status.CANCELLED.value)
