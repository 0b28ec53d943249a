"""Given-then tests of projections, with every event delivered twice.

::

    given_events(Balances, AccountOpened(owner="ann"), Deposited(amount=Decimal(5)),
                 stream_id=account).then_view(Balance, account, Balance(account, "ann", 5))

The events are stored in a memory store (so each gets a real position), then each is
handed to the projection twice in a row, in separate transactions, as a runner does
after a crash between a handler's effect and its checkpoint. Views are idempotent by
construction; a handler with effects elsewhere must skip what it did already, by
``ctx.position``, or the test shows the double effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from esframework.adapters.memory import MemoryStore
from esframework.adapters.read_base import Order, Query
from esframework.errors import DefinitionError
from esframework.events import RecordedEvent
from esframework.projection_engine import Engine, Registered, Stop
from esframework.projections import projection_spec
from esframework.registry import Registry, default_registry
from esframework.serialization import EventCodec
from esframework.testing.gwt import _show
from esframework.view_queries import ViewCache, ViewSource
from esframework.views import spec_of

__all__ = ["ProjectionScenario", "given_events"]

P = TypeVar("P")

_TWICE = (
    "(each event was delivered twice, at the same position: a handler with effects "
    "outside views must skip positions it has handled, see ctx.position)"
)


class ProjectionScenario(Generic[P]):
    """One projection fed some events; build it with :func:`given_events`."""

    def __init__(
        self,
        projection: P,
        events: tuple[object, ...],
        *,
        stream_id: UUID | None,
        stream_type: str,
        registry: Registry | None,
    ) -> None:
        spec = projection_spec(projection)
        self.projection: Any = projection() if isinstance(projection, type) else projection
        self.spec = spec
        self.registry = registry or default_registry
        self.store = MemoryStore(codec=EventCodec(self.registry))
        default_stream = stream_id if stream_id is not None else uuid4()
        for item in events:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], UUID):
                target, event = item
            else:
                target, event = default_stream, item
            self.store.append(target, [event], stream_type=stream_type or None)
        self.records: tuple[RecordedEvent, ...] = tuple(self.store.read_all())
        self.deliveries: list[int] = []
        self.error: BaseException | None = None
        self.failed_at: int | None = None
        models = self.store.read_models()
        models.prepare(spec.views)
        self._cache = ViewCache()
        converter = self.store.codec.converter
        engine = Engine(models, converter, self.registry, self.store.clock, self._cache)
        reg = Registered(self.projection, spec)
        for record in self.records:
            for _ in range(2):
                self.deliveries.append(record.position)
                try:
                    with models.session() as session:
                        engine.apply(reg, [record], session, "live")
                except Stop as stop:
                    self.error = stop.__cause__ or stop
                    self.failed_at = record.position
                    return

    def __repr__(self) -> str:
        return f"<ProjectionScenario {self.spec.name} given {len(self.records)} events>"

    def _require_success(self) -> None:
        if self.error is not None:
            raise AssertionError(
                f"the projection raised at position {self.failed_at}: "
                f"{type(self.error).__qualname__}: {self.error}"
            ) from self.error

    def _source(self, view: type) -> ViewSource[Any]:
        spec = spec_of(view)
        if spec not in self.spec.views:
            raise DefinitionError(
                f"projection {self.spec.name!r} does not declare the view {view.__qualname__}"
            )
        return ViewSource(spec, self.store.read_models(), self.store.codec.converter, self._cache)

    def then_view(self, view: type, key: Any, expected: object | None) -> ProjectionScenario[P]:
        """Assert the view's row with ``key`` is ``expected`` (None: there is none)."""
        self._require_success()
        source = self._source(view)
        row = source.models.get(source.spec, source.spec.key.native(key))
        actual = None if row is None else source.decode(row)
        if actual != expected:
            raise AssertionError(
                f"{view.__qualname__} {key!r} differs:\n"
                f"  expected: {_show(expected)}\n"
                f"  actual:   {_show(actual)}\n"
                f"  {_TWICE}"
            )
        return self

    def then_views(self, view: type, *expected: object) -> ProjectionScenario[P]:
        """Assert the view holds exactly these rows (in key order)."""
        self._require_success()
        source = self._source(view)
        rows = source.models.select(source.spec, Query(order=(Order(source.spec.key.name),)))
        actual = [source.decode(r) for r in rows]
        wanted = sorted(expected, key=lambda v: source.spec.key.native(source.spec.key_of(v)))
        if actual != wanted:
            first = next(
                (i for i, (w, a) in enumerate(zip(wanted, actual, strict=False)) if w != a),
                min(len(wanted), len(actual)),
            )
            raise AssertionError(
                f"{view.__qualname__} rows differ at index {first} (in key order):\n"
                f"  expected {len(wanted)}: {_show(wanted)}\n"
                f"  actual   {len(actual)}: {_show(actual)}\n"
                f"  {_TWICE}"
            )
        return self

    def then_state(self, predicate: Callable[[Any], Any]) -> ProjectionScenario[P]:
        """Assert ``predicate(projection)`` holds (for projections with their own state)."""
        self._require_success()
        if not predicate(self.projection):
            raise AssertionError(
                f"state check {getattr(predicate, '__name__', predicate)!r} failed on "
                f"{_show(self.projection)} {_TWICE}"
            )
        return self

    def then_raises(
        self, error_type: type[BaseException], match: str | None = None
    ) -> ProjectionScenario[P]:
        """Assert a handler raised ``error_type`` (whose message contains ``match``)."""
        if self.error is None:
            raise AssertionError(f"expected {error_type.__qualname__}, but no handler raised")
        if not isinstance(self.error, error_type):
            raise AssertionError(
                f"expected {error_type.__qualname__}, but a handler raised "
                f"{type(self.error).__qualname__}: {self.error}"
            ) from self.error
        if match is not None and match not in str(self.error):
            raise AssertionError(f"expected the error to mention {match!r}, got: {self.error}")
        return self


def given_events(
    projection: P,
    *events: object,
    stream_id: UUID | None = None,
    stream_type: str = "",
    registry: Registry | None = None,
) -> ProjectionScenario[P]:
    """Feed ``events`` to a projection (class or instance), each twice; then check.

    Events go to one stream (``stream_id``, default a new one); pass
    ``(stream_id, event)`` pairs to spread them over several.
    """
    return ProjectionScenario(
        projection, events, stream_id=stream_id, stream_type=stream_type, registry=registry
    )
