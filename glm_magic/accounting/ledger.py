"""The usage ledger: one row per call attempt in a SQLite file (WAL), read back as pandas.

SQLite in WAL mode with synchronous=NORMAL survives a killed kernel (every committed row is in
the file), lets several kernels append to one file at once, and commits a row in microseconds.
Prompts and answers are stored only when the user opts in (log_text); API keys never."""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import re
import sqlite3
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._secrets import scrub

if TYPE_CHECKING:
    import pandas as pd

COLUMNS: dict[str, str] = {
    "time": "REAL",  # unix seconds; a UTC datetime in the DataFrame
    "call_id": "TEXT", "request_id": "TEXT", "attempt": "INTEGER",
    "provider": "TEXT", "model": "TEXT", "source": "TEXT", "conversation": "TEXT",
    "status": "TEXT", "finish_reason": "TEXT", "error": "TEXT",
    "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER", "total_tokens": "INTEGER",
    "cached_tokens": "INTEGER", "usage_estimated": "INTEGER",
    "latency_s": "REAL", "ttft_s": "REAL", "cost": "REAL", "currency": "TEXT",
    "cost_status": "TEXT", "cell": "INTEGER", "tags": "TEXT", "images": "INTEGER",
    "pid": "INTEGER", "prompt": "TEXT", "answer": "TEXT",
    "reasoning_tokens": "INTEGER",  # of completion_tokens, spent thinking (GLM-4.5 and later)
    "os_user": "TEXT", "host": "TEXT",  # who made the call: a team splits costs by these
}
_INSERT = (f"INSERT INTO calls ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")


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


def row_values(row: dict[str, Any]) -> list[Any]:
    """A row as the values of COLUMNS: defaults filled in, secrets scrubbed, each value of
    its column's type."""
    row = dict(row)
    row.setdefault("time", time.time())
    row.setdefault("pid", os.getpid())
    user, host = who()
    row.setdefault("os_user", user)
    row.setdefault("host", host)
    for k in ("error", "prompt", "answer"):
        if row.get(k):
            row[k] = scrub(str(row[k]))
    if isinstance(row.get("tags"), (list, tuple, set)):
        row["tags"] = ",".join(map(str, row["tags"]))
    return [_scalar(kind, k, row.get(k)) for k, kind in COLUMNS.items()]


def filters(since: Any = None, **equal: Any) -> tuple[str, tuple]:
    """`WHERE time >= ? AND col = ?` for `frame()`'s filters (`user` is the os_user column)."""
    clauses, args = [], []
    if since is not None:
        clauses.append("time >= ?")
        args.append(_to_epoch(since))
    for col, val in equal.items():
        if val is not None:
            clauses.append(f"{'os_user' if col == 'user' else col} = ?")
            args.append(val)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)


def default_path() -> str:
    """`$GLM_MAGIC_LEDGER`, else `$XDG_DATA_HOME/glm-magic/ledger.sqlite`
    (`~/.local/share/glm-magic/ledger.sqlite`)."""
    env = chosen_path()
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "glm-magic" / "ledger.sqlite")


OPEN_WAIT_S = 1.0  # opening (switching a new file to WAL) waits this long for a lock
APPEND_WAIT_S = 0.05  # an append never holds the caller (often an event loop) longer
GROUP_S = 0.05  # append_soon: rows of a burst are committed together this soon
RETRY_S = 2.0  # a busy or broken file is tried again this long after a failure
TEXT_LIMIT = 8192  # characters kept of a short text column (errors, ids, tags)
_LONG_TEXT = ("prompt", "answer")


def patiently(action: Any, seconds: float = OPEN_WAIT_S) -> Any:
    """Run a SQLite action, waiting out another process's lock. Switching a new file to WAL
    needs an exclusive lock and does not honour busy_timeout, so two kernels opening one new
    ledger at once would otherwise see 'database is locked'."""
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _scalar(kind: str, name: str, value: Any) -> Any:
    """A value SQLite stores as the column's type: a dict `request_id`, a NaN or 2**70 token
    count, bytes or a numpy number never break the row."""
    if value is None:
        return None
    t = type(value)  # the common cases first: a row is built for every call
    if t is int and kind == "INTEGER" and -(2**63) <= value < 2**63:
        return value
    if t is float and kind == "REAL" and math.isfinite(value):
        return value
    if t is str and kind == "TEXT" and value.isascii() and (
            name in _LONG_TEXT or len(value) <= TEXT_LIMIT):
        return value  # ASCII holds no lone surrogate
    if kind in ("INTEGER", "REAL"):
        if isinstance(value, (str, bytes, dict, list, tuple, set)):
            try:
                value = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return None
        try:
            f = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if not math.isfinite(f):
            return None
        if kind == "REAL":
            return f
        return int(max(min(f, 2**63 - 1), -(2**63)))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, (dict, list, tuple)):
        import json

        value = json.dumps(value, ensure_ascii=False, default=str)
    elif not isinstance(value, str):
        value = str(value)
    value = value.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    return value if name in _LONG_TEXT else value[:TEXT_LIMIT]


_LEDGERS: weakref.WeakSet[Ledger] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for led in list(_LEDGERS):
        with contextlib.suppress(Exception):
            led.close()


class Ledger:
    """Append-only call log that never loses a row and never holds its caller for long.

    A row that cannot be written now (another process holds the write lock, the disk is
    full, the file is read-only or broken) is kept in memory, shown in every read, and
    written when the file works again: the next append or read retries, and so does
    `close()` and the end of the process. `path` is `":memory:"` while rows wait there;
    `file` is always where they belong."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.file = str(path) if path else default_path()
        self.path = self.file
        self.local_dir = Path(self.file).expanduser().parent
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pending: list[list[Any]] = []
        self._retry_at = 0.0
        self._warned = False
        self.fallback_reason: str | None = None
        self._writer: threading.Thread | None = None  # started by the first append_soon
        self._due = threading.Event()
        with self._lock:
            self._connect()
        _LEDGERS.add(self)

    def _open(self, path: str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(os.path.expanduser(path), timeout=APPEND_WAIT_S,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(APPEND_WAIT_S * 1000)}")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
            conn.execute(f"CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, {cols})")
            have = {r[1] for r in conn.execute("PRAGMA table_info(calls)")}
            for k, v in COLUMNS.items():  # files from older versions gain new columns
                if k not in have:
                    conn.execute(f"ALTER TABLE calls ADD COLUMN {k} {v}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self, wait: float = OPEN_WAIT_S) -> bool:
        if self._conn is not None:
            return True
        if self.file == ":memory:":
            self._conn = self._open(":memory:")
            return True
        problem = not_a_ledger(self.file)
        try:
            if problem:  # rows wait in memory; the file is never touched
                raise ValueError(problem)
            self._conn = patiently(lambda: self._open(self.file), wait)
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._degrade(exc)
            return False
        return True

    def _degrade(self, exc: BaseException) -> None:
        """Rows wait in memory; say so once, and try the file again later."""
        self._retry_at = time.monotonic() + RETRY_S
        if self._conn is not None and not _is_busy(exc):
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if _is_busy(exc):
            return  # another writer holds the lock for now: the rows go in shortly
        self.fallback_reason = f"{type(exc).__name__}: {exc}"
        self.path = ":memory:"
        if not self._warned:
            self._warned = True
            print(f"glm-magic: cannot use the ledger at {self.file} ({self.fallback_reason}); "
                  "keeping usage in memory and retrying the file (rows are written when it "
                  "works again). Set GLM_MAGIC_LEDGER to a writable file to move it.",
                  file=sys.stderr)

    def _flush(self, force: bool = False, wait: float = APPEND_WAIT_S) -> None:
        """Write what waits in memory (caller holds the lock)."""
        if not self._pending or (not force and time.monotonic() < self._retry_at):
            return
        if not self._connect(wait):
            return
        conn = self._conn
        assert conn is not None
        try:
            if wait != APPEND_WAIT_S:
                conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, self._pending)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._degrade(exc)
            return
        finally:
            if wait != APPEND_WAIT_S and self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute(f"PRAGMA busy_timeout={int(APPEND_WAIT_S * 1000)}")
        written = len(self._pending)
        self._pending.clear()
        if self.path != self.file:
            self.path, self.fallback_reason = self.file, None
            if self._warned:
                print(f"glm-magic: the ledger at {self.file} works again; {written} row(s) "
                      "kept in memory were written to it.", file=sys.stderr)
                self._warned = False

    @property
    def pending(self) -> int:
        """Rows kept in memory, not yet in the file."""
        return len(self._pending)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row (a missing column is NULL). Errors and text are scrubbed of secrets;
        every value is stored as its column's type."""
        values = row_values(row)
        with self._lock:
            self._pending.append(values)
            self._flush()

    def append_soon(self, row: dict[str, Any]) -> None:
        """`append`, committed with the rows around it by a writer thread within `GROUP_S`
        (group commit: one transaction for a burst of calls). Every read, `close()` and the
        end of the process write it first; only a kill -9 can lose the last `GROUP_S`."""
        values = row_values(row)
        with self._lock:
            self._pending.append(values)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_soon, daemon=True,
                                                name="glm-magic-ledger")
                self._writer.start()
        self._due.set()

    def _write_soon(self) -> None:
        me = threading.current_thread()
        while self._writer is me:  # close() retires it; a later append_soon starts another
            self._due.wait()
            if self._writer is not me:
                return
            time.sleep(GROUP_S)  # let the burst gather
            self._due.clear()
            with self._lock:
                self._flush()

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows from the file: the open connection, else a read-only one (a ledger on a
        read-only disk still shows its history)."""
        if self._conn is not None:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error:
                pass
        if self.file == ":memory:" or not Path(self.file).expanduser().exists():
            return []
        target = Path(self.file).expanduser().resolve().as_uri()
        for mode in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                ro = sqlite3.connect(target + mode, uri=True, timeout=APPEND_WAIT_S)
            except sqlite3.Error:
                continue
            try:
                return ro.execute(sql, args).fetchall()
            except sqlite3.Error:
                continue
            finally:
                ro.close()
        return []

    def rows(self, where: str = "", args: tuple = ()) -> list[dict[str, Any]]:
        names = list(COLUMNS)
        with self._lock:
            self._flush()
            found = self._read(f"SELECT {', '.join(names)} FROM calls {where} ORDER BY id", args)
            out = [dict(zip(names, r, strict=True)) for r in found]
            if self._pending:
                out += matching(self._pending, names, where, args)
            return out

    def count(self) -> int:
        with self._lock:
            self._flush()
            found = self._read("SELECT COUNT(*) FROM calls")
            return (found[0][0] if found else 0) + len(self._pending)

    def close(self) -> None:
        """Write what waits in memory (waiting up to a few seconds for a lock), then close."""
        with self._lock:
            self._writer = None  # the writer thread ends; close() writes what waits
            self._due.set()
            if self._pending:
                self._flush(force=True, wait=3.0)
            if self._pending:
                print(f"glm-magic: {len(self._pending)} ledger row(s) could not be written to "
                      f"{self.file} ({self.fallback_reason or 'the file stayed locked'}).",
                      file=sys.stderr)
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def frame(self, since: Any = None, model: str | None = None, source: str | None = None,
              provider: str | None = None, status: str | None = None,
              conversation: str | None = None, user: str | None = None) -> pd.DataFrame:
        """The ledger as a DataFrame, oldest first, with typed columns."""
        where, args = filters(since, model=model, source=source, provider=provider,
                              status=status, conversation=conversation, user=user)
        return to_frame(self.rows(where, args))



def matching(pending: list[list[Any]], names: list[str], where: str, args: tuple
              ) -> list[dict[str, Any]]:
    """Rows kept in memory that satisfy `frame()`'s simple filters (col = ?, time >= ?)."""
    import re

    rows = [dict(zip(names, v, strict=True)) for v in pending]
    if not where:
        return rows
    tests = re.findall(r"(\w+) (=|>=) \?", where)
    out = []
    for r in rows:
        ok = True
        for (col, op), val in zip(tests, args, strict=False):
            have = r.get(col)
            ok = ok and (have == val if op == "=" else have is not None and have >= val)
        if ok:
            out.append(r)
    return out


def _to_epoch(value: Any) -> float:
    import pandas as pd

    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.lower() in ("today",):
        value = pd.Timestamp.now(tz="UTC").normalize()
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.timestamp()


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    cols = [c for c in COLUMNS if c not in ("pid",)]
    df = pd.DataFrame(rows, columns=list(COLUMNS))[cols]
    df["time"] = pd.to_datetime(df["time"].astype("float64"), unit="s", utc=True)
    df["time"] = df["time"].astype("datetime64[ns, UTC]")
    for c in ("attempt", "prompt_tokens", "completion_tokens", "total_tokens"):
        df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    for c in ("cached_tokens", "cell", "images", "reasoning_tokens"):
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    df["usage_estimated"] = df["usage_estimated"].fillna(0).astype(bool)
    for c in ("latency_s", "ttft_s", "cost"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    for c in ("call_id", "request_id", "provider", "model", "source", "conversation", "status",
              "finish_reason", "error", "currency", "cost_status", "tags", "prompt", "answer",
              "os_user", "host"):
        col = df[c].astype("object")
        df[c] = col.where(col.notna(), None)  # one kind of missing: None, never NaN
    return df


# summaries and charts live in usage_analysis.py; these names stay importable from here
from .usage_analysis import ChartFigure, plot, summarize  # noqa: E402, F401
