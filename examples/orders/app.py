"""The order application: the store from ORDERS_STORE_URL, and placing an order."""

from __future__ import annotations

import os
from collections.abc import Iterable
from uuid import UUID, uuid4

import esframework as esf

from .domain import Order, OrderLine, OrderSummaries, PlaceOrder

__all__ = ["STORE_URL_VARIABLE", "make_app", "place_order"]

STORE_URL_VARIABLE = "ORDERS_STORE_URL"


def make_app(url: str | None = None) -> esf.Application:
    """Orders over the store at ``url``, else ``$ORDERS_STORE_URL``, else in memory."""
    url = url or os.environ.get(STORE_URL_VARIABLE) or "memory://"
    return esf.Application(esf.connect(url), aggregates=[Order], projections=[OrderSummaries])


def place_order(
    app: esf.Application, customer: str, lines: Iterable[OrderLine], *, user_id: str
) -> UUID:
    """Place a new order; returns its id."""
    order_id = uuid4()
    app.handle(PlaceOrder(order_id, customer, tuple(lines)), user_id=user_id)
    return order_id
