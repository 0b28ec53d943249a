{%- set agg = cookiecutter.aggregate_name -%}
{%- set pkg = cookiecutter.package_name -%}
{%- set snake = cookiecutter.__aggregate_snake -%}
"""The {{ cookiecutter.project_name }} domain: the {{ agg }} aggregate, its commands, events and rules.

An aggregate changes only by recording events; its appliers turn each event into
state, so replaying the stored events rebuilds exactly what the handlers saw. Events
are stored under the names given here ("{{ pkg }}.{{ agg }}Created"): keep a name once
events of it are stored, and raise its version with an upcaster when its fields change.
"""

from __future__ import annotations

from uuid import UUID

import esframework as esf

__all__ = ["Create{{ agg }}", "{{ agg }}", "{{ agg }}Created", "{{ agg }}NameRequired"]


class {{ agg }}NameRequired(esf.DomainError):
    """A {{ agg }} needs a name that is not blank."""


@esf.command(target="{{ snake }}_id")
class Create{{ agg }}:
    """Create a new {{ agg }} under the given id."""

    {{ snake }}_id: UUID
    name: str


@esf.event(name="{{ pkg }}.{{ agg }}Created")
class {{ agg }}Created:
    """A {{ agg }} was created."""

    name: str


@esf.aggregate
class {{ agg }}(esf.Aggregate):
    """A {{ agg }}: its state is these fields, changed only by its appliers."""

    name: str = ""

    @esf.handles(Create{{ agg }}, create=True)
    def create(self, cmd: Create{{ agg }}) -> None:
        name = cmd.name.strip()
        if not name:
            raise {{ agg }}NameRequired(f"a {{ agg }} needs a name, got {cmd.name!r}")
        self.record({{ agg }}Created(name=name))

    @esf.applies
    def _created(self, event: {{ agg }}Created) -> None:
        self.name = event.name
