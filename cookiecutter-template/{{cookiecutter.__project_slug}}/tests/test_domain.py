{%- set agg = cookiecutter.aggregate_name -%}
{%- set pkg = cookiecutter.package_name -%}
"""The {{ agg }} aggregate's rules, given-when-then: no store needed."""

from __future__ import annotations

from uuid import uuid4

import esframework as esf
from esframework.testing import given

from {{ pkg }}.domain import (
{%- for name in ["Create" ~ agg, agg, agg ~ "Created", agg ~ "NameRequired"]|sort %}
    {{ name }},
{%- endfor %}
)


def test_create_records_the_name() -> None:
    """Creating a {{ agg }} records one {{ agg }}Created with the trimmed name."""
    command = Create{{ agg }}(uuid4(), "  first  ")
    given({{ agg }}).when(command).then({{ agg }}Created(name="first"))


def test_created_state_holds_the_name() -> None:
    """After creation the aggregate's state holds the name."""
    command = Create{{ agg }}(uuid4(), "first")
    given({{ agg }}).when(command).then_state(lambda a: a.name == "first")


def test_blank_name_is_refused() -> None:
    """A blank name is a domain error, and nothing is recorded."""
    command = Create{{ agg }}(uuid4(), "   ")
    given({{ agg }}).when(command).then_raises({{ agg }}NameRequired)


def test_cannot_create_twice() -> None:
    """A {{ agg }} that already exists cannot be created again."""
    history = {{ agg }}Created(name="first")
    command = Create{{ agg }}(uuid4(), "again")
    given({{ agg }}, history).when(command).then_raises(esf.AggregateAlreadyExists)
