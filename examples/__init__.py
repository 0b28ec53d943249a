"""Example domains built on esframework, each laid out as domain.py / app.py / test_app.py."""
