"""The store contract, run over every store the project ships."""

from esframework.testing.contract import EventStoreContract


class TestStoreContract(EventStoreContract):
    """Every contract test, once per store kind (see the store fixture)."""
