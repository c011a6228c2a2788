"""The response cache: a request already answered is answered again from a SQLite file, so a
re-run notebook costs nothing and gives the same answers, and a committed cache file lets
anyone replay the notebook without a key.

The key is a SHA-256 of everything that determines the answer — the provider, its endpoint
(base URL) and the whole request body — never the API key (it is not in the body) and never
bookkeeping (`stream`, `stream_options`, `request_id`). A cache file may come from a cloned
project, so it is untrusted input: an entry whose stored request does not hash to its key is
ignored, entries are size- and depth-checked before use, text is scrubbed of known secrets
before it is stored, and a file that cannot be used (wrong schema, corrupt, locked, a full disk)
is one warning and an empty cache — never a crash, never a lost answer or ledger row."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._json import loads, nesting, text_dicts_json
from .._secrets import scrub
from .ledger import is_busy, patiently

MODES = ("off", "on", "replay", "refresh")
BOOKKEEPING = frozenset({"stream", "stream_options", "request_id"})
SCHEMA_VERSION = 1
MAX_ENTRY_BYTES = 8 * 1024 * 1024  # a stored answer larger than this is ignored
MAX_DEPTH = 64
DEFAULT_MAX_MB = 512.0
CACHE_NAME = "responses.sqlite"
RECENT = 64  # answers of single lookups kept in memory while the file is unchanged
RECENT_BYTES = 256 * 1024  # ...each at most this large
FLUSH_EVERY = 256  # hit counts are written in groups (a replayed batch reads thousands),
FLUSH_S = 5.0  # and at most this often while reading: each write updates a row per key (a
# 2,000-row re-run spent a fifth of its time on it); stats, eviction and close write the rest


# one encoder for every key (json.dumps with options builds a new one per call)
_canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=str).encode


def request_text(provider: str, endpoint: str, body: dict[str, Any]) -> str:
    """The canonical text of a request: what the key hashes and the entry stores."""
    shown = {k: v for k, v in body.items() if k not in BOOKKEEPING}
    return _canonical({"provider": provider, "endpoint": endpoint, "request": shown})


def cache_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_HOLE = "\x00glm-magic: the messages go here\x00"
_HOLE_TEXT = _canonical(_HOLE)


class MessageKeys:
    """The keys of requests that differ only in their messages (a batch's rows): the canonical
    text around the messages is encoded and hashed once, and each row adds only its messages
    — the same key `cache_key(request_text(...))` gives, at a fraction of the cost (JSON is
    written piece by piece, and SHA-256 hashes a text in order). A body in which the
    placeholder could be confused with a value is keyed the long way."""

    def __init__(self, provider: str, endpoint: str, body: dict[str, Any]) -> None:
        self._provider, self._endpoint, self._body = provider, endpoint, body
        text = request_text(provider, endpoint, {**body, "messages": _HOLE})
        head, _, tail = text.partition(_HOLE_TEXT)
        self._exact = text.count(_HOLE_TEXT) == 1
        self._head = hashlib.sha256(head.encode("utf-8", "surrogatepass"))
        self._tail = tail.encode("utf-8", "surrogatepass")

    def key(self, messages: list[dict[str, Any]]) -> str:
        if not self._exact:
            return cache_key(request_text(self._provider, self._endpoint,
                                          {**self._body, "messages": messages}))
        h = self._head.copy()
        encoded = text_dicts_json(messages)
        h.update(_canonical(messages).encode("utf-8", "surrogatepass") if encoded is None
                 else encoded)
        h.update(self._tail)
        return h.hexdigest()


READ_COLUMNS = {"key", "request", "answer", "cost", "currency"}  # what replay reads
WRITE_COLUMNS = READ_COLUMNS | {"used", "hits", "size"}  # and what storing keeps up to date


def require_columns(conn: sqlite3.Connection, needed: set[str], problem: str) -> None:
    """A file whose `responses` table lacks these columns is not a cache (a hostile or
    foreign file): say so, and the caller treats it as an empty cache."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(responses)")}
    if not needed <= cols:
        raise sqlite3.DatabaseError(problem)


class CacheEntry:
    """A stored answer: the completion as the SDKs print it, and what it cost when it was
    made (the money a hit saves)."""

    __slots__ = ("answer", "cost", "currency")

    def __init__(self, answer: dict[str, Any], cost: float | None, currency: str | None):
        self.answer, self.cost, self.currency = answer, cost, currency


class ResponseCache:
    """One cache file. Thread-safe; every failure is a warning and a miss."""

    def __init__(self, path: str | os.PathLike[str], max_mb: float = DEFAULT_MAX_MB) -> None:
        self.path = str(path)
        self.max_bytes = int(max(1.0, max_mb) * 1024 * 1024)
        self.hits = 0  # this session's
        self.misses = 0
        self.saved: dict[str, float] = {}  # this session's, by currency
        self.problem: str | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._used: dict[str, int] = {}  # hits not yet written
        self._flushed = time.time()  # when they were last written
        import atexit
        import weakref

        alive = weakref.ref(self)  # the last hit counts are written when the kernel ends
        atexit.register(lambda: (cache := alive()) is not None and cache.flush())
        self._puts = 0
        # the last answers a single lookup read (key -> answer text, cost, currency), valid
        # while the file's `PRAGMA data_version` stays what it was when they were read
        self._recent: dict[str, tuple[str, float | None, str | None]] = {}
        self._version: int | None = None
        self._read_only = False
        self._opened_read_only = False

    @property
    def read_only(self) -> bool:
        """Replay: the file is only read (opened read-only when first opened in replay, and
        hits are not counted in it), so replaying a committed cache file leaves it — and the
        repository it lives in — unchanged."""
        return self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        value = bool(value)
        if value == self._read_only:
            return
        with self._lock:
            self._read_only = value
            if value:
                self._used = {}
            elif self._opened_read_only and self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()  # opened for replay: reopened for writing
                self._conn = None

    # --- the file -----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection | None:
        if self._conn is not None or self.problem is not None:
            return self._conn
        if self._read_only:
            return self._open_read_only()
        return self._checked_open(self._connect_for_writing, self._prepare_for_writing,
                                  read_only=False)

    def _connect_for_writing(self) -> sqlite3.Connection:
        Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(os.path.expanduser(self.path), timeout=2.0,
                               isolation_level=None, check_same_thread=False)

    @staticmethod
    def _prepare_for_writing(conn: sqlite3.Connection) -> None:
        # switching a new file to WAL ignores the busy timeout: two kernels opening one new
        # file at once take turns
        patiently(lambda: conn.execute("PRAGMA journal_mode=WAL"), 5.0)
        conn.execute("PRAGMA synchronous=NORMAL")  # a cache: a power cut may lose
        conn.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, "
                     "request TEXT NOT NULL, answer TEXT NOT NULL, cost REAL, "
                     "currency TEXT, created REAL, used REAL, hits INTEGER DEFAULT 0, "
                     "size INTEGER)")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value)")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                     (SCHEMA_VERSION,))
        require_columns(conn, WRITE_COLUMNS, "its responses table is not a cache's")

    def _open_read_only(self) -> sqlite3.Connection | None:
        """The file as it is, read-only: no journal switch, no tables created, nothing
        written (a missing file is one warning and an empty cache)."""
        def connect() -> sqlite3.Connection:
            uri = Path(self.path).expanduser().absolute().as_uri() + "?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=2.0, isolation_level=None,
                                   check_same_thread=False)

        return self._checked_open(connect, lambda conn: require_columns(
            conn, READ_COLUMNS, "it has no responses table of a cache"), read_only=True)

    def _checked_open(self, connect: Callable[[], sqlite3.Connection],
                      prepare: Callable[[sqlite3.Connection], None], *, read_only: bool
                      ) -> sqlite3.Connection | None:
        """Open and check the file; any failure is one warning and an empty cache."""
        try:
            conn = connect()
            try:
                prepare(conn)
            except BaseException:
                conn.close()
                raise
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._fail(exc)
            return None
        self._conn = conn
        self._opened_read_only = read_only
        self._recent, self._version = {}, None  # versions are per connection
        return conn

    def _fail(self, exc: BaseException) -> None:
        """One warning; the cache then answers nothing and stores nothing. A file another
        kernel holds locked for longer than the timeout only costs this one entry."""
        if is_busy(exc):
            return
        if self.problem is None:
            self.problem = f"{type(exc).__name__}: {scrub(str(exc))[:200]}"
            print(f"glm-magic: the response cache at {self.path} cannot be used "
                  f"({self.problem}); calls are sent as without a cache", file=sys.stderr)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    # --- reading and writing ---------------------------------------------------------------
    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None (a miss, a tampered or oversized entry, a broken
        file)."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str], *, count_misses: bool = True
                 ) -> dict[str, CacheEntry]:
        """The entries for many keys at once (a batch re-run): one query per 500 keys.
        `count_misses=False` when the missing ones are looked up again one by one."""
        found: dict[str, CacheEntry] = {}
        with self._lock:
            conn = self._open()
            if conn is None:
                return found
            wanted = list(dict.fromkeys(keys))
            single = len(wanted) == 1  # a cell's lookup: answered from memory if it can be
            try:
                if single:
                    wanted = self._from_recent(conn, wanted[0], found)
                for i in range(0, len(wanted), 500):
                    part = wanted[i:i + 500]
                    rows = conn.execute(
                        "SELECT key, CASE WHEN length(request) <= ? THEN request END, "
                        "CASE WHEN length(answer) <= ? THEN answer END, cost, currency FROM "
                        f"responses WHERE key IN ({','.join('?' * len(part))})",
                        (MAX_ENTRY_BYTES, MAX_ENTRY_BYTES, *part)).fetchall()
                    for key, *row in rows:
                        entry = self._checked(key, row)
                        if entry is not None:
                            found[key] = entry
                            if single:
                                self._remember(key, row[1], entry)
            except sqlite3.Error as exc:
                self._fail(exc)
                return {}
            for key in keys:
                entry = found.get(key)
                if entry is None:
                    self.misses += count_misses
                    continue
                self.hits += 1
                if isinstance(entry.cost, float) and entry.cost == entry.cost and \
                        entry.currency:
                    self.saved[entry.currency] = self.saved.get(entry.currency, 0.0) + \
                        entry.cost
                if not self._read_only:
                    self._used[key] = self._used.get(key, 0) + 1
            if self._flush_due():
                self._write_used()
        return found

    def _from_recent(self, conn: sqlite3.Connection, key: str, found: dict[str, CacheEntry]
                     ) -> list[str]:
        """A re-run cell asks for the answer it read a moment ago: served from memory while
        no other connection (another kernel, a `%glm cache clear` elsewhere) changed the file
        since — SQLite's data_version says so, in a fraction of the query's time. Returns the
        keys still to read (caller holds the lock)."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._recent, self._version = {}, version
        kept = self._recent.get(key)
        if kept is None:
            return [key]
        text, cost, currency = kept
        found[key] = CacheEntry(loads(text), cost, currency)  # a fresh copy for each caller
        return []

    def _remember(self, key: str, text: str, entry: CacheEntry) -> None:
        if len(text) > RECENT_BYTES:
            return
        if len(self._recent) >= RECENT:
            del self._recent[next(iter(self._recent))]
        self._recent[key] = (text, entry.cost, entry.currency)

    @staticmethod
    def _checked(key: str, row: Any) -> CacheEntry | None:
        """A stored row as an entry, only when it is what it claims to be."""
        if row is None:
            return None
        request, answer, cost, currency = row
        if not isinstance(request, str) or not isinstance(answer, str) or \
                len(answer) > MAX_ENTRY_BYTES or cache_key(request) != key:
            return None  # another request's answer filed under this key: ignored
        try:
            data = loads(answer)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            return None
        if answer.count("[") + answer.count("{") > MAX_DEPTH and \
                nesting(data, MAX_DEPTH) > MAX_DEPTH:  # few brackets cannot nest deeply
            return None
        cost = float(cost) if isinstance(cost, (int, float)) else None
        return CacheEntry(data, cost, currency if isinstance(currency, str) else None)

    def put(self, key: str, request: str, answer: dict[str, Any], cost: float | None,
            currency: str | None) -> None:
        """Store an answer (replacing one under the same key); a request or answer that
        carries a known secret is not stored at all."""
        try:
            text = json.dumps(answer, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return
        if scrub(request) != request or scrub(text) != text or len(text) > MAX_ENTRY_BYTES:
            return
        now = time.time()
        with self._lock:
            if self._read_only:
                return
            conn = self._open()
            if conn is None:
                return
            self._recent.pop(key, None)
            try:
                conn.execute("INSERT OR REPLACE INTO responses (key, request, answer, cost, "
                             "currency, created, used, hits, size) VALUES (?, ?, ?, ?, ?, ?, "
                             "?, 0, ?)", (key, request, text,
                                          cost if cost == cost else None, currency, now, now,
                                          len(text) + len(request)))
            except sqlite3.Error as exc:
                self._fail(exc)
                return
            self._puts += 1
            if self._puts % 64 == 1:
                self._evict(conn)

    def _evict(self, conn: sqlite3.Connection) -> None:
        """Least recently used entries go while the file holds more than the cap."""
        self._recent = {}
        try:
            total = conn.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
            if total <= self.max_bytes:
                return
            drop, freed = [], 0
            for key, size in conn.execute("SELECT key, size FROM responses ORDER BY used"):
                if total - freed <= self.max_bytes * 0.9:
                    break
                drop.append((key,))
                freed += size or 0
            conn.executemany("DELETE FROM responses WHERE key = ?", drop)
        except sqlite3.Error as exc:
            self._fail(exc)

    def flush(self) -> None:
        """Write the hit counts not written yet (they order eviction; answers never wait)."""
        with self._lock:
            self._write_used()

    def _flush_due(self) -> bool:
        return len(self._used) >= FLUSH_EVERY and time.time() - self._flushed >= FLUSH_S

    def _write_used(self) -> None:
        """The hits counted since the last write, in one transaction (caller holds the
        lock)."""
        if not self._used or self._conn is None or self._opened_read_only:
            return
        used, self._used = self._used, {}
        now = self._flushed = time.time()
        try:
            self._conn.execute("BEGIN")
            self._conn.executemany("UPDATE responses SET used = ?, hits = hits + ? WHERE "
                                   "key = ?", [(now, n, k) for k, n in used.items()])
            self._conn.execute("COMMIT")
        except sqlite3.Error:  # bookkeeping only: the entries stay usable
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    # --- what %glm cache shows and does -------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Entries, size, hits and money saved (all time, from the file; and this session)."""
        with self._lock:
            self._write_used()
            conn = self._open()
            out: dict[str, Any] = {"path": self.path, "session_hits": self.hits,
                                   "session_misses": self.misses,
                                   "session_saved": dict(self.saved), "problem": self.problem}
            if conn is None:
                return {**out, "entries": 0, "bytes": 0, "hits": 0, "saved": {}}
            try:
                entries, size, hits = conn.execute(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(hits), 0) "
                    "FROM responses").fetchone()
                saved = dict(conn.execute(
                    "SELECT currency, SUM(hits * cost) FROM responses WHERE cost IS NOT NULL "
                    "AND currency IS NOT NULL GROUP BY currency").fetchall())
            except sqlite3.Error as exc:
                self._fail(exc)
                return {**out, "entries": 0, "bytes": 0, "hits": 0, "saved": {}}
            return {**out, "entries": entries, "bytes": size, "hits": hits,
                    "saved": {k: v for k, v in saved.items() if v}}

    def clear(self, older_than_s: float | None = None) -> int:
        """Remove every entry (or those not used for `older_than_s` seconds); how many went."""
        with self._lock:
            self._write_used()
            conn = self._open()
            if conn is None:
                return 0
            self._recent = {}
            try:
                if older_than_s is None:
                    cur = conn.execute("DELETE FROM responses")
                else:
                    cur = conn.execute("DELETE FROM responses WHERE used < ?",
                                       (time.time() - older_than_s,))
                return cur.rowcount
            except sqlite3.Error as exc:
                self._fail(exc)
                return 0

    def close(self) -> None:
        with self._lock:
            self._write_used()
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None
