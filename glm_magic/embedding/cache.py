"""What `embed()` keeps and trusts: the vector cache (one SQLite file beside the ledger, keyed
on provider, endpoint, model, dimensions and text) and the check every response passes before
its vectors are used or cached."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors

NUMBER_TYPES = {int, float}  # what a vector holds (JSON numbers; never bool or text)

if TYPE_CHECKING:
    import numpy as np


class VectorCache:
    """Vectors by (provider, model, dimensions, text hash) in one SQLite file (WAL, so other
    kernels can read and write it too). Writes are transactions: a crash leaves whole rows."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False,
                                    isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # a cache: a power cut may lose the last writes (they are fetched again), never
        # corrupt the file, and no commit waits for the disk
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, "
                          "vector BLOB NOT NULL)")
        self.lock = threading.Lock()

    def get(self, keys: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        with self.lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                rows = self.conn.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})",
                    part).fetchall()
                found.update(rows)
        return found

    def put(self, items: list[tuple[str, bytes]]) -> None:
        with self.lock:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", items)
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def cache_key(provider: str, model: str, dimensions: int | None, text: str,
              endpoint: str = "") -> str:
    """The vector's key: provider, endpoint (base URL), model, dimensions and text — vectors
    from one server are never served for another (a tutorial's fake server, then the real
    one)."""
    raw = f"{provider}\0{endpoint}\0{model}\0{dimensions or ''}\0{text}".encode(
        "utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


def checked_vectors(data: list[Any], expected: int, dimensions: int | None,
                    provider: str) -> list[np.ndarray]:
    """The response's vectors, only when each is a list of finite numbers of one size (the
    asked `dimensions`, when given): anything else is a ProtocolError and nothing is cached."""
    import numpy as np

    if len(data) != expected:
        raise errors.ProtocolError(f"asked for {expected} vectors, got {len(data)}",
                                   provider=provider)
    vectors = [getattr(item, "embedding", None) for item in data]
    numbers: set[Any] = set()
    for raw in vectors:
        if not isinstance(raw, (list, tuple)) or not raw:
            numbers.add(None)
            break
        numbers.update(map(type, raw))  # C speed: bool and str are their own types
    if not numbers <= NUMBER_TYPES:
        raise errors.ProtocolError("the server sent an embedding that is not a list of "
                                   "numbers", provider=provider)
    sizes = {len(v) for v in vectors}
    if len(sizes) > 1 or (dimensions and sizes != {dimensions}):
        want = f" (asked for {dimensions})" if dimensions else ""
        raise errors.ProtocolError(f"the server sent vectors of sizes {sorted(sizes)}{want}",
                                   provider=provider)
    try:
        with np.errstate(over="ignore"):
            matrix = np.asarray(vectors, dtype=np.float32)  # one conversion for the response
    except (OverflowError, ValueError):  # an integer no float holds
        matrix = np.array([np.inf], dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise errors.ProtocolError("the server sent an embedding with values that are not "
                                   "finite (or too large for float32)", provider=provider)
    return list(matrix)
