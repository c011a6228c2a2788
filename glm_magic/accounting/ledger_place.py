"""Where the ledger lives and who writes to it: the one rule for its path
(`$GLM_MAGIC_LEDGER` over the configured one), PostgreSQL URLs and how they are shown without
their password, the check that refuses to turn someone's file into a ledger, the folder beside
it for caches and job files, and the (user, host) on every row."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any


def chosen_path(configured: str | None = None) -> str | None:
    """The one rule for where the ledger lives: `$GLM_MAGIC_LEDGER` wins over the configured
    path (`%config GLMSettings.ledger_path`, pyproject.toml); None means the default place."""
    return os.environ.get("GLM_MAGIC_LEDGER") or configured or None


def is_url(path: Any) -> bool:
    """A PostgreSQL URL (the team ledger) rather than a SQLite file."""
    return str(path or "").startswith(("postgresql://", "postgres://"))


_USERINFO_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#@]*?:)([^/?#@]*)(@)", re.I)
_QUERY_SECRET = re.compile(r"([?&](?:password|sslpassword|passfile|sslkey)=)([^&#]*)", re.I)


def safe_url(url: str) -> str:
    """The URL without its password, in every form libpq takes: `user:pass@`, multi-host
    (`@h1:5432,h2:5432/db`) and `?password=` (`postgresql://me:…@host/db`). Pure text work: a
    URL that `urllib` cannot parse (several hosts and ports) never raises here."""
    text = _USERINFO_PASSWORD.sub(r"\1…\3", url)
    return _QUERY_SECRET.sub(r"\1…", text)


SQLITE_HEADER = b"SQLite format 3\x00"
LEDGER_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def not_a_ledger(path: str) -> str | None:
    """Why an existing file must not become the ledger (None when it may): a ledger pointed at
    someone's notes or data file would turn it into a SQLite database."""
    if not path or path == ":memory:" or is_url(path):
        return None
    target = Path(os.path.expanduser(path))
    try:
        if not target.exists():
            return None
        if target.is_dir():
            return f"ledger_path {path} is a folder, not a file"
        with target.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return None  # unreadable: the ledger's own fallback says so when it is used
    if head == SQLITE_HEADER or (not head and target.suffix.lower() in LEDGER_SUFFIXES):
        return None
    what = "an empty file" if not head else "not a SQLite database"
    return f"ledger_path {path} exists and is {what}; refusing to turn it into the ledger"


def local_dir() -> Path:
    """The folder for files that sit beside the ledger (vector cache, batch jobs, the team
    ledger's spool): the ledger file's folder, or the default one for a PostgreSQL ledger."""
    chosen = chosen_path()
    if chosen and not is_url(chosen):
        return Path(os.path.expanduser(chosen)).parent
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "glm-magic"


_WHO: tuple[str, str] | None = None


def who() -> tuple[str, str]:
    """(OS user, host) of this process, recorded on every row."""
    global _WHO
    if _WHO is None:
        import getpass
        import socket

        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment
            user = str(os.getuid()) if hasattr(os, "getuid") else ""
        _WHO = (user, socket.gethostname())
    return _WHO


def default_path() -> str:
    """`$GLM_MAGIC_LEDGER`, else `$XDG_DATA_HOME/glm-magic/ledger.sqlite`
    (`~/.local/share/glm-magic/ledger.sqlite`)."""
    env = chosen_path()
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "glm-magic" / "ledger.sqlite")
