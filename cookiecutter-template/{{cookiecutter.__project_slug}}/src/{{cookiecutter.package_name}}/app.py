{%- set agg = cookiecutter.aggregate_name -%}
{%- set pkg = cookiecutter.package_name -%}
"""The {{ cookiecutter.project_name }} application: the domain wired to an event store.

The store is named by a URL in the environment variable
``{{ cookiecutter.__store_url_variable }}`` (default ``{{ cookiecutter.__default_store_url }}``),
so the same code runs on a developer's machine, in the tests and in production.
"""

from __future__ import annotations

import os

import esframework as esf

from {{ pkg }}.domain import {{ agg }}

__all__ = ["DEFAULT_STORE_URL", "STORE_URL_VARIABLE", "make_app", "store_url"]

STORE_URL_VARIABLE = "{{ cookiecutter.__store_url_variable }}"
DEFAULT_STORE_URL = "{{ cookiecutter.__default_store_url }}"


def store_url() -> str:
    """The store URL from ``{{ cookiecutter.__store_url_variable }}``, else the default."""
    return os.environ.get(STORE_URL_VARIABLE) or DEFAULT_STORE_URL


def make_app(url: str | None = None) -> esf.Application:
    """An application over the store at ``url`` (default: :func:`store_url`).

    Close it when done (``with make_app() as app: ...``): that closes the store.
    """
    return esf.Application(esf.connect(url or store_url()), aggregates=[{{ agg }}])
