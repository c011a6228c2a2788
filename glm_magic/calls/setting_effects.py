"""What a changed setting sets in motion in the session (most settings are simply read when
used): the ledger moves, the budget and rate are parsed, clients are rebuilt, the recorder's
cache settings follow."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sessions import Session


def apply_setting(self: Session, change: Any) -> None:
    """What a changed setting sets in motion (most are simply read when used)."""
    from ..accounting.ledger import chosen_path
    from .settings import parse_budget, parse_rate

    name, new = change["name"], change["new"]
    if name == "ledger_path":
        path = chosen_path(new)
        if path != self.ledger_path:
            self.set_ledger(path)
    elif name == "log_text":
        self.recorder.log_text = bool(new)
    elif name == "budget":
        self.set_budget(*parse_budget(new)) if new else self.set_budget(None)
    elif name == "exchange_rate":
        self.exchange_rate = parse_rate(new) if new else None
    elif name == "providers":
        from .._secrets import register_options

        self.provider_options = register_options(new or {})  # masked from this moment on
        self.reset_clients()
    elif name in ("timeout", "max_retries"):
        self.reset_clients()
    elif name == "cache":
        self.recorder.cache_mode = new or "off"
    elif name == "cache_path":
        self.recorder.cache_path = os.path.expanduser(new) if new else None
    elif name == "cache_max_mb":
        self.recorder.cache_max_mb = float(new)
