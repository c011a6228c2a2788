"""Which ledger a path names: a SQLite file (`ledger.Ledger`) or, for a postgresql:// URL, the
team ledger (`ledger_pg.PostgresLedger`). Apart from both backends, so neither imports the
other's module."""

from __future__ import annotations

from typing import Any

from .ledger import Ledger, default_path, is_url


def open_ledger(path: str | None = None) -> Any:
    """A `Ledger` on a SQLite file, or a `PostgresLedger` for a postgresql:// URL."""
    target = path or default_path()
    if is_url(target):
        from .ledger_pg import PostgresLedger

        return PostgresLedger(target)
    return Ledger(path)
