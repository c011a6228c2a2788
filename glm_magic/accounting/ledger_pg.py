"""The team ledger in PostgreSQL (`GLM_MAGIC_LEDGER=postgresql://user@host:port/db`): the same
rows, columns and dtypes as the SQLite ledger, written by many kernels, processes and Dask
workers at once. The schema is created on first use and versioned. While the server cannot be
reached, rows wait in a local SQLite spool (with one warning) and are sent, in order, when it
is back. The URL's password never appears in a message or a repr."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from typing import Any

from .ledger_place import local_dir, safe_url
from .ledger_rows import COLUMNS, filters, matching, row_values, to_frame

SCHEMA_VERSION = 1
RETRY_S = 2.0  # after a failure, the server is tried again this long later
CONNECT_TIMEOUT_S = 3
_PG_TYPES = {"REAL": "DOUBLE PRECISION", "INTEGER": "BIGINT", "TEXT": "TEXT"}
_LOCK_KEY = 0x676C6D  # the advisory lock that serialises schema creation across processes


class _Spool:
    """Rows waiting for the server, in a SQLite file beside the other local files (shared by
    the processes of this machine; replayed under a write lock, so once)."""

    def __init__(self, url: str) -> None:
        import hashlib

        digest = hashlib.sha256(safe_url(url).encode()).hexdigest()[:16]
        self.path = local_dir() / f"ledger-spool-{digest}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, row TEXT)")

    def add(self, values: list[Any]) -> None:
        self.conn.execute("INSERT INTO spool (row) VALUES (?)", (json.dumps(values),))

    def rows(self) -> list[list[Any]]:
        return [json.loads(r) for (r,) in self.conn.execute("SELECT row FROM spool ORDER BY id")]

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0]

    def drain(self, send: Any) -> int:
        """Send every waiting row with `send(rows)`; delete them only once it returned."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            found = self.conn.execute("SELECT id, row FROM spool ORDER BY id").fetchall()
            if found:
                send([json.loads(r) for _, r in found])
                self.conn.execute("DELETE FROM spool WHERE id <= ?", (found[-1][0],))
            self.conn.execute("COMMIT")
            return len(found)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


class PostgresLedger:
    """The `Ledger` interface (append, rows, count, frame, close) on a PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.file = self.path = safe_url(url)
        self.local_dir = local_dir()
        self.fallback_reason: str | None = None
        self._lock = threading.Lock()
        self._conn: Any = None
        self._retry_at = 0.0
        self._warned = False
        self._spool = _Spool(url)
        self._spooled = True  # rows may wait in the spool (from this or an earlier process)
        with self._lock:
            self._connect()

    def __repr__(self) -> str:
        return f"PostgresLedger({self.file!r})"

    # --- the connection ---------------------------------------------------------------------
    def _connect(self) -> bool:
        import psycopg

        if self._conn is not None and not self._conn.closed:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            conn = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
            # a commit need not wait for the server's disk: like SQLite's synchronous=NORMAL,
            # only a crash of the server's machine could lose the last moments of rows
            conn.execute("SET synchronous_commit = off")
            self._schema(conn)
        except psycopg.Error as exc:
            self._failed(exc)
            return False
        self._conn = conn
        self._spooled = True  # a new connection looks for rows left waiting
        return True

    @staticmethod
    def _schema(conn: Any) -> None:
        """Create or upgrade the tables (one process at a time, by an advisory lock)."""
        cols = ", ".join(f"{k} {_PG_TYPES[v]}" for k, v in COLUMNS.items())
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute("CREATE TABLE IF NOT EXISTS glm_magic_meta "
                         "(key TEXT PRIMARY KEY, value TEXT)")
            conn.execute(f"CREATE TABLE IF NOT EXISTS calls (id BIGSERIAL PRIMARY KEY, {cols})")
            for k, v in COLUMNS.items():  # servers of older versions gain the new columns
                conn.execute(f"ALTER TABLE calls ADD COLUMN IF NOT EXISTS {k} {_PG_TYPES[v]}")
            conn.execute("CREATE INDEX IF NOT EXISTS calls_time ON calls (time)")
            conn.execute("INSERT INTO glm_magic_meta VALUES ('schema_version', %s) "
                         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         (str(SCHEMA_VERSION),))

    def _failed(self, exc: BaseException) -> None:
        import contextlib

        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._retry_at = time.monotonic() + RETRY_S
        self.fallback_reason = type(exc).__name__
        if not self._warned:
            self._warned = True
            print(f"glm-magic: the team ledger at {self.file} cannot be reached "
                  f"({type(exc).__name__}); rows wait in {self._spool.path} and are sent "
                  "when it is back.", file=sys.stderr)

    def _insert(self, rows: list[list[Any]]) -> None:
        names = ", ".join(COLUMNS)
        marks = ", ".join(["%s"] * len(COLUMNS))
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(f"INSERT INTO calls ({names}) VALUES ({marks})", rows)

    def _flush(self) -> bool:
        """Send what the spool holds; True when the server took it (or there was nothing)."""
        import psycopg

        if not self._connect():
            return False
        if not self._spooled:
            return True
        try:
            sent = self._spool.drain(self._insert)
        except psycopg.Error as exc:
            self._failed(exc)
            return False
        self._spooled = False
        if sent and self._warned:
            self._warned = False
            print(f"glm-magic: the team ledger at {self.file} is back; {sent} waiting row(s) "
                  "were sent.", file=sys.stderr)
        return True

    # --- the Ledger interface -----------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Rows waiting in the local spool."""
        return self._spool.count()

    def append(self, row: dict[str, Any]) -> None:
        import psycopg

        values = row_values(row)
        with self._lock:
            if self._flush():
                try:
                    self._insert([values])
                    return
                except psycopg.Error as exc:
                    self._failed(exc)
            self._spool.add(values)
            self._spooled = True

    def rows(self, where: str = "", args: tuple = ()) -> list[dict[str, Any]]:
        import psycopg

        names = list(COLUMNS)
        with self._lock:
            found: list[tuple] = []
            if self._flush():
                try:
                    found = self._conn.execute(
                        f"SELECT {', '.join(names)} FROM calls {where.replace('?', '%s')} "
                        "ORDER BY id", args).fetchall()
                except psycopg.Error as exc:
                    self._failed(exc)
            out = [dict(zip(names, r, strict=True)) for r in found]
            waiting = self._spool.rows()
            if waiting:
                out += matching(waiting, names, where, args)
            return out

    def count(self) -> int:
        import psycopg

        with self._lock:
            found = 0
            if self._flush():
                try:
                    found = self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
                except psycopg.Error as exc:
                    self._failed(exc)
            return found + self._spool.count()

    def frame(self, since: Any = None, model: str | None = None, source: str | None = None,
              provider: str | None = None, status: str | None = None,
              conversation: str | None = None, user: str | None = None) -> Any:
        """The ledger as a DataFrame; the filters run on the server."""
        where, args = filters(since, model=model, source=source, provider=provider,
                              status=status, conversation=conversation, user=user)
        return to_frame(self.rows(where, args))

    def close(self) -> None:
        import contextlib

        with self._lock:
            self._flush()
            if self._spool.count():
                print(f"glm-magic: {self._spool.count()} ledger row(s) wait in "
                      f"{self._spool.path} for {self.file}; they are sent by the next kernel "
                      "that reaches it.", file=sys.stderr)
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

