"""The usage ledger: one row per call attempt in a SQLite file (WAL), read back as pandas.

SQLite in WAL mode with synchronous=NORMAL survives a killed kernel (every committed row is in
the file), lets several kernels append to one file at once, and commits a row in microseconds.
Prompts and answers are stored only when the user opts in (log_text); API keys never."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import operator
import os
import sqlite3
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ledger_place import (
    LEDGER_SUFFIXES,
    SQLITE_HEADER,
    chosen_path,
    default_path,
    is_url,
    local_dir,
    not_a_ledger,
    safe_url,
    who,
)
from .ledger_rows import COLUMNS, compact_insert, filters, matching, row_values, to_frame

__all__ = ["COLUMNS", "LEDGER_SUFFIXES", "SQLITE_HEADER", "Ledger", "chosen_path",
           "default_path", "is_url", "local_dir", "not_a_ledger", "patiently", "safe_url",
           "to_frame", "who"]

if TYPE_CHECKING:
    import pandas as pd

OPEN_WAIT_S = 1.0  # opening (switching a new file to WAL) waits this long for a lock
APPEND_WAIT_S = 0.05  # an append never holds the caller (often an event loop) longer
GROUP_S = 0.05  # append_soon: rows of a burst are committed together this soon
WRITE_CHUNK = 128  # rows prepared at once by a write (see `_flush`)
RETRY_S = 2.0  # a busy or broken file is tried again this long after a failure


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
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def is_busy(exc: BaseException) -> bool:
    """Another connection holds the lock (wait and retry), as opposed to a broken file."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


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
        self._lock = threading.Lock()  # writing the file, reading it, closing it
        self._queue_lock = threading.Lock()  # only `_pending`: an append never waits for a write
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
        if self._conn is not None and not is_busy(exc):
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if is_busy(exc):
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
        """Write what waits in memory (caller holds `_lock`). The rows are taken from the
        queue first, so appends made meanwhile go on queueing instead of waiting for the
        write; rows that could not be written go back to the front of the queue."""
        if not self._pending or (not force and time.monotonic() < self._retry_at):
            return
        if not self._connect(wait):
            return
        conn = self._conn
        assert conn is not None
        with self._queue_lock:
            batch, self._pending = self._pending, []
        try:
            if wait != APPEND_WAIT_S:
                conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            conn.execute("BEGIN IMMEDIATE")
            # runs of rows filling the same columns, each one executemany; a few hundred at a
            # time, so this thread never holds the interpreter for long: a caller reading
            # meanwhile (a batch re-run) waits a fraction of a millisecond, not a whole
            # switch interval each time SQLite lets go of it
            for start in range(0, len(batch), WRITE_CHUNK):
                for sql, run in itertools.groupby(
                        map(compact_insert, batch[start:start + WRITE_CHUNK]),
                        key=operator.itemgetter(0)):
                    conn.executemany(sql, [values for _, values in run])
            conn.execute("COMMIT")
        except BaseException as exc:
            with self._queue_lock:
                self._pending[:0] = batch
            if not isinstance(exc, (sqlite3.Error, OSError)):
                raise
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._degrade(exc)
            return
        finally:
            if wait != APPEND_WAIT_S and self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute(f"PRAGMA busy_timeout={int(APPEND_WAIT_S * 1000)}")
        written = len(batch)
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
            with self._queue_lock:
                self._pending.append(values)
            self._flush()

    def extend(self, rows: list[dict[str, Any]]) -> None:
        """`append` for many rows: written now, in one transaction."""
        values = list(map(row_values, rows))
        with self._lock:
            with self._queue_lock:
                self._pending.extend(values)
            self._flush()

    def append_soon(self, row: dict[str, Any]) -> None:
        """`append`, committed with the rows around it by a writer thread within `GROUP_S`
        (group commit: one transaction for a burst of calls). Every read, `close()` and the
        end of the process write it first; only a kill -9 can lose the last `GROUP_S`."""
        self.extend_soon([row])

    def extend_soon(self, rows: list[dict[str, Any]]) -> None:
        """`append_soon` for many rows at once (a batch re-run from the response cache)."""
        values = list(map(row_values, rows))
        with self._queue_lock:
            self._pending.extend(values)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_soon, daemon=True,
                                                name="glm-magic-ledger")
                self._writer.start()
        if not self._due.is_set():  # the writer is already waking for the rows before
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
            with self._queue_lock:
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



# summaries and charts live in usage_analysis.py; these names stay importable from here
from .usage_analysis import ChartFigure, plot, summarize  # noqa: E402, F401
