{%- set agg = cookiecutter.aggregate_name -%}
{%- set pkg = cookiecutter.package_name -%}
{%- set snake = cookiecutter.__aggregate_snake -%}
"""The application through a real store: commands in, events stored, state loaded.

The tests run on a throwaway SQLite file; set ``{{ cookiecutter.__test_store_url_variable }}``
to run them on another store, e.g. a scratch PostgreSQL database (they write to it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

import esframework as esf

from {{ pkg }}.app import DEFAULT_STORE_URL, STORE_URL_VARIABLE, make_app, store_url
from {{ pkg }}.domain import (
{%- for name in ["Create" ~ agg, agg, agg ~ "Created", agg ~ "NameRequired"]|sort %}
    {{ name }},
{%- endfor %}
)

TEST_STORE_URL_VARIABLE = "{{ cookiecutter.__test_store_url_variable }}"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[esf.Application]:
    """The application as it runs in production, over a fresh test store."""
    configured = os.environ.get(TEST_STORE_URL_VARIABLE)
    url = configured or f"sqlite:///{tmp_path / 'events.db'}"
    monkeypatch.setenv(STORE_URL_VARIABLE, url)
    try:
        application = make_app()
    except esf.InvalidStoreUrl:
        if configured:
            raise
        pytest.skip(
            f"esframework {esf.__version__} has no SQLite store: upgrade esframework, "
            f"or set {TEST_STORE_URL_VARIABLE} to a store it has"
        )
    with application:
        yield application


def test_store_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """{{ cookiecutter.__store_url_variable }} names the store, with a default when unset."""
    monkeypatch.setenv(STORE_URL_VARIABLE, "memory://")
    assert store_url() == "memory://"
    monkeypatch.delenv(STORE_URL_VARIABLE)
    assert store_url() == DEFAULT_STORE_URL == "{{ cookiecutter.__default_store_url }}"


def test_created_{{ snake }}_is_stored_and_loads(app: esf.Application) -> None:
    """A handled command is stored, attributed, hash-chained, and loads back as state."""
    {{ snake }}_id = uuid4()
    command = Create{{ agg }}({{ snake }}_id, "first")
    result = app.handle(command, user_id="tester")
    assert result.version == 1
    assert app.load({{ agg }}, {{ snake }}_id).name == "first"
    (stored,) = app.store.read_stream({{ snake }}_id)
    assert stored.event == {{ agg }}Created(name="first")
    assert stored.user_id == "tester"
    assert app.verify().ok


def test_refused_command_stores_nothing(app: esf.Application) -> None:
    """A command refused by a domain rule leaves the store as it was."""
    {{ snake }}_id = uuid4()
    with pytest.raises({{ agg }}NameRequired):
        app.handle(Create{{ agg }}({{ snake }}_id, ""))
    assert app.store.stream_version({{ snake }}_id) == 0
