"""What a ledger row is, whatever stores it: its columns and their types, a row's values (secrets
scrubbed, each value of its column's type, so a dict request id or a NaN token count never
breaks the row), `frame()`'s filters, and the typed DataFrame. SQLite and PostgreSQL share it."""

from __future__ import annotations

import math
import os
import re
import time
from typing import TYPE_CHECKING, Any

from .._secrets import scrub
from .ledger_place import who

if TYPE_CHECKING:
    import pandas as pd

TEXT_LIMIT = 8192  # characters kept of a short text column (errors, ids, tags)
LONG_TEXT = ("prompt", "answer")

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
INSERT = (f"INSERT INTO calls ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")


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
    return [scalar(kind, k, row.get(k)) for k, kind in COLUMNS.items()]


def filters(since: Any = None, **equal: Any) -> tuple[str, tuple]:
    """`WHERE time >= ? AND col = ?` for `frame()`'s filters (`user` is the os_user column)."""
    clauses, args = [], []
    if since is not None:
        clauses.append("time >= ?")
        args.append(to_epoch(since))
    for col, val in equal.items():
        if val is not None:
            clauses.append(f"{'os_user' if col == 'user' else col} = ?")
            args.append(val)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)


def scalar(kind: str, name: str, value: Any) -> Any:
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
            name in LONG_TEXT or len(value) <= TEXT_LIMIT):
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
    return value if name in LONG_TEXT else value[:TEXT_LIMIT]


def matching(pending: list[list[Any]], names: list[str], where: str, args: tuple
              ) -> list[dict[str, Any]]:
    """Rows kept in memory that satisfy `frame()`'s simple filters (col = ?, time >= ?)."""
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


def to_epoch(value: Any) -> float:
    """`since=` as unix seconds: a number, a timestamp or date text (UTC unless it says), or
    "today"."""
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
    """Rows as the ledger's DataFrame: UTC times, integer counts, one kind of missing."""
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
