"""Payloads to JSON and back: make_converter, canonical_json, EventCodec and upcasters."""

from __future__ import annotations

import base64
import enum
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID, uuid4

import attrs
import pytest
from hypothesis import given, settings

import esframework as esf
from esframework.testing.strategies import any_event, events

# -- payload types -----------------------------------------------------------------------


class SerColor(enum.Enum):
    RED = "red"
    GREEN = "green"


class SerLevel(enum.IntEnum):
    LOW = 1
    HIGH = 2


class SerPlace:
    """A plain class, which the converter cannot read back from JSON."""


@attrs.frozen
class SerPoint:
    x: int
    y: int


@attrs.frozen
class SerPayload:
    id: UUID
    amount: Decimal
    at: datetime
    day: date
    color: SerColor
    level: SerLevel
    raw: bytes
    point: SerPoint
    maybe: int | None
    points: list[SerPoint]
    pair: tuple[int, str]
    many: tuple[Decimal, ...]
    prices: dict[str, Decimal]
    tags: set[str]
    numbers: frozenset[int]


@attrs.frozen
class SerTree:
    """Refers to itself, so strategies must stop somewhere."""

    label: str
    children: list[SerTree] = attrs.field(factory=list)
    parent: SerTree | None = None


@esf.event
class SerEverything:
    """An event with every field type the converter stores exactly."""

    text: str
    count: int
    flag: bool
    ratio: float
    amount: Decimal
    id: UUID
    at: datetime
    day: date
    color: SerColor
    level: SerLevel
    raw: bytes
    kind: Literal["a", "b", 3]
    maybe: Decimal | None
    either: int | str
    points: list[SerPoint]
    pair: tuple[UUID, date]
    many: tuple[int, ...]
    prices: dict[str, Decimal]
    tags: set[str]
    numbers: frozenset[int]
    tree: SerTree
    anything: Any = None


@esf.event
class SerAmount:
    amount: Decimal


@esf.event
class SerWhen:
    at: datetime


def _through_json(value: object, cls: type) -> Any:
    converter = esf.make_converter()
    return converter.structure(json.loads(json.dumps(converter.unstructure(value))), cls)


def _payload(**changes: Any) -> SerPayload:
    payload = SerPayload(
        id=uuid4(),
        amount=Decimal("1.10"),
        at=datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=-5))),
        day=date(2024, 2, 29),
        color=SerColor.GREEN,
        level=SerLevel.HIGH,
        raw=b"\x00\xffbytes",
        point=SerPoint(1, -2),
        maybe=None,
        points=[SerPoint(3, 4), SerPoint(5, 6)],
        pair=(7, "seven"),
        many=(Decimal("0.1"), Decimal("2E+3")),
        prices={"tea": Decimal("2.50")},
        tags={"x", "y"},
        numbers=frozenset({1, 2}),
    )
    return attrs.evolve(payload, **changes)


# -- make_converter ----------------------------------------------------------------------


def test_converter_round_trips_every_supported_type():
    """Every supported field type comes back equal, and as the same type, through JSON."""
    payload = _payload(maybe=3)
    back = _through_json(payload, SerPayload)
    assert back == payload
    assert type(back.tags) is set
    assert type(back.numbers) is frozenset
    assert type(back.pair) is tuple
    assert type(back.many) is tuple
    assert type(back.points[0]) is SerPoint
    assert back.color is SerColor.GREEN
    assert back.level is SerLevel.HIGH


def test_decimals_keep_their_exact_digits():
    """Decimals are stored as text and come back with the same digits and exponent."""
    for text in ["1.10", "0.000", "-12345678901234567890.123456789", "1E+3", "0E-7"]:
        back = _through_json(_payload(amount=Decimal(text)), SerPayload).amount
        assert str(back) == text
        assert back.as_tuple() == Decimal(text).as_tuple()
    assert esf.make_converter().unstructure(Decimal("1.10")) == "1.10"


def test_aware_datetimes_keep_their_offset():
    """A datetime comes back at the same instant and with the same UTC offset."""
    for offset in [timedelta(hours=-5), timedelta(hours=5, minutes=30), timedelta(0)]:
        at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(offset))
        back = _through_json(_payload(at=at), SerPayload).at
        assert back == at
        assert back.utcoffset() == offset
        assert back.microsecond == 891011


def test_naive_datetime_is_refused():
    """A datetime without a timezone cannot be stored unambiguously: SerializationError."""
    with pytest.raises(esf.SerializationError, match="timezone-aware"):
        esf.make_converter().unstructure(_payload(at=datetime(2026, 1, 1)))


def test_enums_and_bytes_are_stored_as_json_values():
    """Enums are stored by value and bytes as base64 text."""
    raw = esf.make_converter().unstructure(_payload())
    assert (raw["color"], raw["level"]) == ("green", 2)
    assert base64.b64decode(raw["raw"], validate=True) == b"\x00\xffbytes"
    assert json.loads(json.dumps(raw)) == {**raw, "pair": list(raw["pair"])}


# -- canonical_json ----------------------------------------------------------------------


def test_canonical_json_sorts_keys_without_whitespace():
    """canonical_json sorts keys at every depth and uses no whitespace."""
    text = esf.canonical_json({"b": [1, {"d": 2, "c": "x y"}], "a": "é"})
    assert text == '{"a":"é","b":[1,{"c":"x y","d":2}]}'


def test_canonical_json_is_independent_of_key_order():
    """Two dicts with the same items give the same text whatever their insertion order."""
    first = {"x": 1, "y": {"p": 1, "q": 2}}
    second = {"y": {"q": 2, "p": 1}, "x": 1}
    assert esf.canonical_json(first) == esf.canonical_json(second)


def test_integral_floats_hash_as_ints():
    """1.0 and 1 give the same text (PostgreSQL's JSONB returns 1.0 as 1)."""
    assert esf.canonical_json({"n": 1.0, "m": [1e16]}) == esf.canonical_json(
        {"n": 1, "m": [10**16]}
    )
    assert esf.canonical_json({"n": 1.5}) != esf.canonical_json({"n": 1})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), object()])
def test_canonical_json_refuses_what_json_cannot_hold(bad):
    """NaN, infinities and non-JSON objects are a SerializationError."""
    with pytest.raises(esf.SerializationError):
        esf.canonical_json({"value": [bad]})


# -- EventCodec --------------------------------------------------------------------------


def test_codec_encodes_to_type_and_payload():
    """encode gives the registered type and the JSON-compatible payload."""
    event_type, data = esf.EventCodec().encode(SerAmount(Decimal("2.50")))
    assert event_type == esf.EventType("SerAmount", 1)
    assert data == {"amount": "2.50"}


def test_decoding_an_unregistered_type_is_unknown():
    """A stored type name no class is registered for is UnknownEventType."""
    with pytest.raises(esf.UnknownEventType, match="NoSuchEvent"):
        esf.EventCodec().decode("NoSuchEvent", 1, {})


def test_decoding_a_newer_version_is_unknown():
    """A payload stored by newer code than this one is UnknownEventType, not a guess."""
    with pytest.raises(esf.UnknownEventType, match="version 2") as info:
        esf.EventCodec().decode("SerAmount", 2, {"amount": "1"})
    assert "upgrade" in str(info.value)


def test_payload_that_does_not_fit_is_a_readable_serialization_error():
    """A current-version payload that does not fit its class names the field and why."""
    codec = esf.EventCodec()
    with pytest.raises(esf.SerializationError) as info:
        codec.decode("SerAmount", 1, {"amount": "lots"}, where="position 9: ")
    message = str(info.value)
    assert message.startswith("position 9: stored 'SerAmount' (version 1)")
    assert "$.amount" in message
    with pytest.raises(esf.SerializationError, match=r"required field missing @ \$\.amount"):
        codec.decode("SerAmount", 1, {})


def test_float_for_a_decimal_is_refused():
    """A float where a Decimal is stored would have lost digits: it is refused."""
    with pytest.raises(esf.SerializationError, match=r"expected Decimal @ \$\.amount"):
        esf.EventCodec().decode("SerAmount", 1, {"amount": 1.1})


def test_naive_datetime_payload_is_refused():
    """A stored datetime without an offset is refused rather than guessed."""
    with pytest.raises(esf.SerializationError, match=r"expected datetime @ \$\.at"):
        esf.EventCodec().decode("SerWhen", 1, {"at": "2026-01-01T00:00:00"})
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert esf.EventCodec().decode("SerWhen", 1, {"at": at.isoformat()}) == SerWhen(at)


def test_event_that_cannot_be_read_back_is_refused_before_it_is_stored():
    """An event class the converter cannot structure is refused at append, not at read."""
    registry = esf.Registry()

    @esf.event(name="Unreadable", registry=registry)
    class Unreadable:
        where: SerPlace  # a plain class: cattrs has no structure hook for it

    store = esf.connect("memory://", codec=esf.EventCodec(registry))
    stream = uuid4()
    with pytest.raises(esf.SerializationError, match="cannot be read back") as info:
        store.append(stream, [Unreadable(SerPlace())], expected_version=0)
    assert "Unreadable" in str(info.value)
    assert store.stream_version(stream) == 0
    with pytest.raises(esf.SerializationError, match="cannot be read back"):
        esf.EventCodec(registry).decode("Unreadable", 1, {"where": {}})


# -- upcasting ---------------------------------------------------------------------------


def _versioned_registry() -> tuple[esf.Registry, type, type]:
    """Name 'Moved' at versions 1 and 3, with the steps 1 -> 2 and 2 -> 3."""
    registry = esf.Registry()

    @esf.event(name="Moved", version=1, registry=registry)
    class MovedV1:
        where: str

    @esf.event(name="Moved", version=3, registry=registry)
    class MovedV3:
        city: str
        country: str

    @esf.upcaster("Moved", from_version=1, registry=registry)
    def split(data: dict[str, Any]) -> dict[str, Any]:
        city, _, country = data.pop("where").partition(", ")
        return {**data, "city": city, "country_name": country}

    @esf.upcaster("Moved", from_version=2, registry=registry)
    def rename(data: dict[str, Any]) -> dict[str, Any]:
        data["country"] = data.pop("country_name")
        return data

    return registry, MovedV1, MovedV3


def test_upcasting_runs_every_step_in_order():
    """A v1 payload is lifted through 1 -> 2 -> 3 and structured as the v3 class."""
    registry, _, moved_v3 = _versioned_registry()
    stored = {"where": "Lyon, France"}
    event = esf.EventCodec(registry).decode("Moved", 1, stored)
    assert event == moved_v3(city="Lyon", country="France")
    assert stored == {"where": "Lyon, France"}


def test_upcasters_cannot_change_what_is_stored():
    """A step that mutates its input in place, even nested, leaves the stored payload as is."""
    registry = esf.Registry()

    @esf.event(name="Tagged", version=2, registry=registry)
    class TaggedV2:
        tags: list[str]

    @esf.upcaster("Tagged", from_version=1, registry=registry)
    def add_tag(data: dict[str, Any]) -> dict[str, Any]:
        data["tags"].append("migrated")
        return data

    stored = {"tags": ["a"]}
    codec = esf.EventCodec(registry)
    assert codec.decode("Tagged", 1, stored) == TaggedV2(["a", "migrated"])
    assert codec.decode("Tagged", 1, stored) == TaggedV2(["a", "migrated"])
    assert stored == {"tags": ["a"]}


def test_upcasting_starts_at_the_stored_version():
    """A v2 payload runs only the 2 -> 3 step."""
    registry, _, moved_v3 = _versioned_registry()
    event = esf.EventCodec(registry).decode("Moved", 2, {"city": "Oslo", "country_name": "NO"})
    assert event == moved_v3(city="Oslo", country="NO")


def test_stored_old_events_are_read_as_the_current_class():
    """An old event stays stored as written; reading it gives the current class."""
    registry, moved_v1, moved_v3 = _versioned_registry()
    store = esf.connect("memory://", codec=esf.EventCodec(registry))
    stream = uuid4()
    store.append(stream, [moved_v1(where="Kyiv, Ukraine")], expected_version=0)
    (record,) = store.read_stream(stream)
    assert (record.schema_version, record.data) == (1, {"where": "Kyiv, Ukraine"})
    assert record.event == moved_v3(city="Kyiv", country="Ukraine")
    assert esf.Application(store, registry=registry).verify().ok


def test_upcaster_returning_a_non_dict_is_an_upcast_error():
    """A step that returns something other than a dict is UpcastError naming the step."""
    registry = esf.Registry()

    @esf.event(name="Bad", version=2, registry=registry)
    class BadV2:
        x: int

    @esf.upcaster("Bad", from_version=1, registry=registry)
    def to_list(data: dict[str, Any]) -> dict[str, Any]:
        return list(data.items())  # type: ignore[return-value]

    with pytest.raises(esf.UpcastError, match=r"to_list.*1 -> 2.*returned list"):
        esf.EventCodec(registry).decode("Bad", 1, {"x": 1})


def test_upcaster_that_raises_is_an_upcast_error():
    """An exception in a step becomes UpcastError naming the step and the cause."""
    registry = esf.Registry()

    @esf.event(name="Broken", version=2, registry=registry)
    class BrokenV2:
        x: int

    @esf.upcaster("Broken", from_version=1, registry=registry)
    def needs_y(data: dict[str, Any]) -> dict[str, Any]:
        return {"x": data["y"]}

    with pytest.raises(esf.UpcastError, match=r"needs_y.*KeyError") as info:
        esf.EventCodec(registry).decode("Broken", 1, {"x": 1})
    assert isinstance(info.value.__cause__, KeyError)


def test_upcast_payload_that_does_not_fit_is_an_upcast_error():
    """A payload that does not fit after upcasting blames the upcasting."""
    registry = esf.Registry()

    @esf.event(name="Lossy", version=2, registry=registry)
    class LossyV2:
        x: int
        y: int

    esf.upcaster("Lossy", from_version=1, registry=registry)(lambda data: data)
    with pytest.raises(esf.UpcastError, match=r"after upcasting from version 1.*\$\.y"):
        esf.EventCodec(registry).decode("Lossy", 1, {"x": 1})


def test_missing_step_when_reading_names_it():
    """Reading a payload whose chain has a gap is UpcasterChainError naming the step."""
    registry = esf.Registry()

    @esf.event(name="Gappy", version=3, registry=registry)
    class GappyV3:
        x: int

    esf.upcaster("Gappy", from_version=1, registry=registry)(lambda data: data)
    with pytest.raises(esf.UpcasterChainError, match="from version 2 to 3"):
        esf.EventCodec(registry).decode("Gappy", 1, {"x": 1})


def test_upcaster_decorator_returns_the_function():
    """@esf.upcaster leaves the function callable as is, for unit tests of its own."""
    registry = esf.Registry()

    def step(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "n": 1}

    assert esf.upcaster("Any", from_version=1, registry=registry)(step) is step
    assert registry.upcaster("Any", 1) is step


@pytest.mark.parametrize("version", [0, -1, True, "1"])
def test_upcaster_needs_a_valid_from_version(version):
    """from_version must be an int >= 1."""
    with pytest.raises(esf.DefinitionError):
        esf.upcaster("Any", from_version=version, registry=esf.Registry())


def test_two_upcasters_for_one_step_are_refused():
    """Two different functions for the same step are a DuplicateRegistration."""
    registry = esf.Registry()

    @esf.upcaster("Twice", from_version=1, registry=registry)
    def first(data: dict[str, Any]) -> dict[str, Any]:
        return data

    def second(data: dict[str, Any]) -> dict[str, Any]:
        return {}

    with pytest.raises(esf.DuplicateRegistration, match=r"'Twice' from version 1.*first.*second"):
        esf.upcaster("Twice", from_version=1, registry=registry)(second)
    assert registry.upcaster("Twice", 1) is first


# -- properties --------------------------------------------------------------------------


def _current_classes(registry: esf.Registry) -> list[type]:
    return [
        cls
        for cls in registry.event_classes()
        if registry.current(registry.type_of(cls).name) is cls
    ]


def test_every_registered_event_round_trips():
    """Every current event class of the default registry survives encode -> JSON -> decode."""
    codec = esf.EventCodec()
    classes = _current_classes(esf.default_registry)
    assert SerEverything in classes

    for cls in classes:

        @settings(max_examples=30, deadline=None)
        @given(events(cls))
        def round_trip(event: object) -> None:
            event_type, data = codec.encode(event)
            text = json.dumps(data)
            back = codec.decode(event_type.name, event_type.version, json.loads(text))
            assert back == event
            assert type(back) is type(event)

        round_trip()


@settings(max_examples=50, deadline=None)
@given(any_event())
def test_every_event_survives_the_memory_store(event):
    """Any registered event appended to a store reads back equal, in a valid chain."""
    store = esf.connect("memory://")
    stream = uuid4()
    store.append(stream, [event], expected_version=0)
    (record,) = store.read_stream(stream)
    reread = esf.EventCodec().decode(record.event_type, record.schema_version, record.data)
    assert reread == event
    assert esf.Application(store).verify().ok


# -- the strategies ----------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(events(SerEverything))
def test_events_strategy_builds_instances_of_the_class(event):
    """events(cls) draws instances of cls whose fields have their declared types."""
    assert type(event) is SerEverything
    assert event.at.tzinfo is not None
    assert event.amount.is_finite()
    assert event.kind in ("a", "b", 3)
    assert isinstance(event.tree, SerTree)
    assert "\x00" not in event.text


def test_events_strategy_refuses_a_plain_class():
    """events() of a class that is not an attrs class says what to do."""

    class Plain:
        pass

    with pytest.raises(esf.DefinitionError, match=r"@esf\.event"):
        events(Plain)


def test_any_event_draws_only_current_classes():
    """any_event(registry) draws from the newest class of each name in that registry."""
    registry, _, moved_v3 = _versioned_registry()

    @esf.event(name="Other", registry=registry)
    class Other:
        n: int

    seen: set[type] = set()

    @settings(max_examples=60, deadline=None)
    @given(any_event(registry))
    def draw(event: object) -> None:
        assert type(event) in (moved_v3, Other)
        seen.add(type(event))

    draw()
    assert seen == {moved_v3, Other}


def test_any_event_of_an_empty_registry_is_an_error():
    """any_event() over a registry without events fails clearly when drawn."""

    @given(any_event(esf.Registry()))
    def draw(event: object) -> None:
        pass

    with pytest.raises(esf.DefinitionError, match="no event classes"):
        draw()


def test_sets_are_stored_in_one_order_whatever_the_process():
    """A set payload serialises identically in every process (sorted), so retries match."""
    import subprocess
    import sys

    code = (
        "import esframework as esf; c = esf.make_converter(); "
        "print(esf.canonical_json(c.unstructure({'pear', 'apple', 'fig', 'kiwi', 'lime'})))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert outputs == {'["apple","fig","kiwi","lime","pear"]\n'}
