"""{{ cookiecutter.project_name }}: an event-sourced domain built on esframework.

``{{ cookiecutter.package_name }}.domain`` holds the aggregates, commands, events and rules;
``{{ cookiecutter.package_name }}.app`` wires them to an event store.
"""

__version__ = "0.1.0"
