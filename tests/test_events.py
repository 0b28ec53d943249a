"""@esf.event: frozen, slotted attrs classes registered under (name, version)."""

from __future__ import annotations

import pickle
from decimal import Decimal
from uuid import uuid4

import attrs
import pytest

import esframework as esf


@esf.event
class EventsBare:
    text: str
    count: int = 0


@esf.event(name="test_events.Renamed")
class EventsNamed:
    amount: Decimal


def test_bare_form_registers_under_the_class_name_at_version_one():
    """@esf.event with no arguments stores the class as (its name, 1)."""
    assert esf.default_registry.type_of(EventsBare) == esf.EventType("EventsBare", 1)
    assert esf.default_registry.current("EventsBare") is EventsBare


def test_argument_form_registers_under_the_given_name():
    """@esf.event(name=...) stores the class under that name instead of its own."""
    assert esf.default_registry.type_of(EventsNamed) == esf.EventType("test_events.Renamed", 1)
    assert esf.default_registry.current("test_events.Renamed") is EventsNamed
    with pytest.raises(esf.UnknownEventType):
        esf.default_registry.current("EventsNamed")


def test_argument_form_with_a_version():
    """@esf.event(version=n) stores the class as version n of its name."""
    registry = esf.Registry()

    @esf.event(name="Versioned", version=3, registry=registry)
    class Versioned:
        x: int

    assert registry.type_of(Versioned) == esf.EventType("Versioned", 3)
    assert registry.current_version("Versioned") == 3


def test_events_are_attrs_classes_with_a_keyword_and_positional_init():
    """The decorated class is an attrs class; fields keep their order and defaults."""
    assert attrs.has(EventsBare)
    assert [f.name for f in attrs.fields(EventsBare)] == ["text", "count"]
    assert EventsBare("a") == EventsBare(text="a", count=0)


def test_events_are_frozen():
    """Assigning to a field of an event raises attrs' FrozenInstanceError."""
    ev = EventsBare(text="a")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ev.text = "b"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del ev.text  # type: ignore[misc]
    assert ev.text == "a"


def test_events_are_slotted():
    """Events have __slots__ and no __dict__, so no stray attribute can be set."""
    ev = EventsBare(text="a")
    assert "__slots__" in vars(EventsBare)
    assert not hasattr(ev, "__dict__")
    with pytest.raises(AttributeError):
        ev.extra = 1  # type: ignore[attr-defined]


def test_events_compare_and_hash_by_value():
    """Two events with equal fields are equal and hash alike (given/then relies on it)."""
    assert EventsBare("a", 1) == EventsBare("a", 1)
    assert EventsBare("a", 1) != EventsBare("a", 2)
    assert len({EventsBare("a", 1), EventsBare("a", 1)}) == 1


def test_events_pickle():
    """Events survive pickling (process pools, caches)."""
    ev = EventsNamed(amount=Decimal("1.10"))
    assert pickle.loads(pickle.dumps(ev)) == ev  # noqa: S301


def test_private_registry_keeps_the_default_one_clean():
    """@esf.event(registry=r) registers in r only."""
    registry = esf.Registry()

    @esf.event(name="test_events.Private", registry=registry)
    class Private:
        x: int

    assert registry.type_of(Private).name == "test_events.Private"
    with pytest.raises(esf.UnknownEventType):
        esf.default_registry.type_of(Private)
    with pytest.raises(esf.UnknownEventType):
        esf.default_registry.current("test_events.Private")


def test_two_classes_under_one_key_is_an_error_naming_both():
    """A second class under a taken (name, version) is DuplicateRegistration naming both."""
    registry = esf.Registry()

    @esf.event(name="Taken", registry=registry)
    class First:
        x: int

    with pytest.raises(esf.DuplicateRegistration) as info:

        @esf.event(name="Taken", registry=registry)
        class Second:
            y: int

    message = str(info.value)
    assert f"{__name__}.{First.__qualname__}" in message
    assert "Second" in message
    assert "'Taken' version 1" in message
    assert registry.current("Taken") is First
    assert isinstance(info.value, esf.DefinitionError)
    assert isinstance(info.value, TypeError)


def test_same_name_in_another_version_is_no_duplicate():
    """Versions of one name coexist; the highest is current whatever the order."""
    registry = esf.Registry()

    @esf.event(name="Multi", version=2, registry=registry)
    class MultiV2:
        x: int

    @esf.event(name="Multi", version=1, registry=registry)
    class MultiV1:
        x: int

    assert registry.current("Multi") is MultiV2
    assert registry.type_of(MultiV1) == esf.EventType("Multi", 1)
    assert list(registry.event_classes()) == [MultiV2, MultiV1]


def _declare_same_class(registry: esf.Registry) -> type:
    @esf.event(name="Reloaded", registry=registry)
    class Reloaded:
        x: int

    return Reloaded


def test_the_same_class_declared_again_replaces_the_old_one():
    """A class of the same module and qualname (a reload) replaces its earlier self."""
    registry = esf.Registry()
    old = _declare_same_class(registry)
    new = _declare_same_class(registry)
    assert new is not old
    assert registry.current("Reloaded") is new
    assert registry.type_of(new) == esf.EventType("Reloaded", 1)
    assert list(registry.event_classes()) == [new]
    with pytest.raises(esf.UnknownEventType):
        registry.type_of(old)


@pytest.mark.parametrize("name", ["", " padded", "padded ", 42])
def test_invalid_name_is_a_definition_error(name):
    """The name must be a non-empty string without surrounding spaces."""
    registry = esf.Registry()
    with pytest.raises(esf.DefinitionError, match="name must be"):

        @esf.event(name=name, registry=registry)
        class BadName:
            x: int

    assert list(registry.event_classes()) == []


@pytest.mark.parametrize("version", [0, -1, True, "1", 1.0])
def test_invalid_version_is_a_definition_error(version):
    """The version must be an int >= 1 (not a bool, str or float)."""
    registry = esf.Registry()
    with pytest.raises(esf.DefinitionError, match="version must be an int >= 1"):

        @esf.event(version=version, registry=registry)
        class BadVersion:
            x: int

    assert list(registry.event_classes()) == []


def test_unregistered_class_is_unknown():
    """Asking the registry about a plain class is UnknownEventType, also a LookupError."""

    class Plain:
        pass

    with pytest.raises(esf.UnknownEventType, match=r"@esf\.event") as info:
        esf.default_registry.type_of(Plain)
    assert isinstance(info.value, LookupError)


def test_recorded_event_without_a_decoder_says_how_to_get_the_event():
    """A RecordedEvent built by hand has .data but .event explains it needs a store."""
    (stored,) = esf.connect("memory://").append(uuid4(), [EventsBare("a")], expected_version=0)
    by_hand = attrs.evolve(stored, decoder=None)
    assert by_hand == stored
    assert by_hand.data == {"text": "a", "count": 0}
    with pytest.raises(esf.DefinitionError, match="decoder"):
        by_hand.event


def test_two_anonymous_upcasters_for_one_step_are_refused():
    """Registering a second lambda for the same step is an error, not a silent swap."""
    reg = esf.Registry()
    esf.upcaster("Thing", from_version=1, registry=reg)(lambda d: d)
    with pytest.raises(esf.DuplicateRegistration):
        esf.upcaster("Thing", from_version=1, registry=reg)(lambda d: {**d, "x": 1})
