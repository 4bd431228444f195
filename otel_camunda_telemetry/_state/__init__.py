"""The installation state store (SPEC section 7): SQLite embedded, a server for clusters."""

from __future__ import annotations

from ._model import InstallationState, OutboxItem
from ._sql import SqlStateStore
from ._sqlite import SQLiteStateStore

StateStore = SqlStateStore

__all__ = ["InstallationState", "OutboxItem", "SQLiteStateStore", "StateStore", "open_store"]


def open_store(location: str, *, fallback: bool = True) -> StateStore:
    """The store for a ``CAMUNDA_TELEMETRY_STATE`` value: a file path or a database URL.

    Nothing is opened until first use, so this is cheap and never fails on I/O. With
    ``fallback=False`` an unusable SQLite location is an error instead of a warning and a
    temporary location (for the CLI, where the user named the file).
    """
    if location.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresStateStore  # an optional extra: import on demand

        return PostgresStateStore(location)
    if location.startswith("sqlite:///"):
        location = location[len("sqlite:///") :]
    return SQLiteStateStore(location, fallback=fallback)
