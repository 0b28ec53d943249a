"""Helpers for testing esframework applications: given-when-then and a fake clock.

``given`` tests aggregates; ``given_events`` tests projections.

``esframework.testing.strategies`` (hypothesis strategies) and
``esframework.testing.contract`` (the store contract suite) are imported on demand, so
that importing esframework does not need the test dependencies.
"""

from __future__ import annotations

from esframework.testing.clock import FakeClock
from esframework.testing.gwt import Scenario, given
from esframework.testing.projections import ProjectionScenario, given_events
from esframework.testing.upcasters import check_upcast_chain, check_upcaster

__all__ = [
    "FakeClock",
    "ProjectionScenario",
    "Scenario",
    "check_upcast_chain",
    "check_upcaster",
    "given",
    "given_events",
]
