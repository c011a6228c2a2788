"""What a ledger row is, whatever stores it: its columns and their types, a row's values (secrets
scrubbed, each value of its column's type, so a dict request id or a NaN token count never
breaks the row), `frame()`'s filters, and the typed DataFrame. SQLite and PostgreSQL share it."""

from __future__ import annotations

import math
import operator
import os
import re
import time
from collections.abc import Callable
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
    "saved": "REAL",  # a cached answer's cost had it been sent (status "cached", cost 0)
}


_KINDS = tuple(COLUMNS.items())
_NAMES = tuple(COLUMNS)
_AT = {name: i for i, name in enumerate(COLUMNS)}
_TIME, _PID, _USER, _HOST = _AT["time"], _AT["pid"], _AT["os_user"], _AT["host"]
_SCRUBBED = tuple(_AT[name] for name in ("error", "prompt", "answer"))
_PYTHON_TYPE = {"INTEGER": int, "REAL": float, "TEXT": str}


def row_values(row: dict[str, Any]) -> list[Any]:
    """A row as the values of COLUMNS: defaults filled in, secrets scrubbed, each value of
    its column's type. Every call makes one, so the common row — each value already of its
    column's type, in range — is recognised at C speed by its shape (`Shape`) and only an
    unusual one goes value by value through `scalar`."""
    values = list(map(row.get, _NAMES))
    if values[_TIME] is None:
        values[_TIME] = time.time()
    if values[_PID] is None:
        values[_PID] = os.getpid()
    if values[_USER] is None or values[_HOST] is None:
        user, host = who()
        values[_USER] = user if values[_USER] is None else values[_USER]
        values[_HOST] = host if values[_HOST] is None else values[_HOST]
    for at in _SCRUBBED:
        if values[at]:
            values[at] = scrub(str(values[at]))
    tags = values[_AT["tags"]]
    if isinstance(tags, (list, tuple, set)):
        values[_AT["tags"]] = ",".join(map(str, tags))
    shape = shape_of(values)
    if not shape.plain(values):
        values = [None if v is None else scalar(kind, name, v)
                  for v, (name, kind) in zip(values, _KINDS, strict=True)]
        shape = shape_of(values)
    return RowValues(values, shape)


class RowValues(list):
    """A row's values (a plain list to every reader) that remember their `Shape`, so the
    write (`compact_insert`) does not work it out again — a cached batch re-run books
    thousands of rows at once, and the second look was a twentieth of its time."""

    __slots__ = ("shape",)

    def __init__(self, values: list[Any], shape: Shape) -> None:
        super().__init__(values)
        self.shape = shape


def _getter(positions: tuple[int, ...]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """`operator.itemgetter` that always returns a tuple."""
    if not positions:
        return lambda values: ()
    if len(positions) == 1:
        at = positions[0]
        return lambda values: (values[at],)
    return operator.itemgetter(*positions)


class Shape:
    """What the rows of one type signature (which columns are filled, with which Python
    types) share: whether the types are the columns' own, where the numbers and texts are to
    check, and the INSERT of only the filled columns with the getter of their values."""

    def __init__(self, types: tuple[type, ...]) -> None:
        self.typed = all(t is type(None) or t is _PYTHON_TYPE[kind]
                         for t, (_, kind) in zip(types, _KINDS, strict=True))
        where = {kind: tuple(i for i, t in enumerate(types) if t is _PYTHON_TYPE[kind])
                 for kind in _PYTHON_TYPE}
        self.ints = _getter(where["INTEGER"])
        self.floats = _getter(where["REAL"])
        self.texts = _getter(where["TEXT"])
        self.short_texts = _getter(tuple(i for i in where["TEXT"]
                                         if _NAMES[i] not in LONG_TEXT))
        filled = tuple(i for i, t in enumerate(types) if t is not type(None))
        self.insert = (f"INSERT INTO calls ({', '.join(_NAMES[i] for i in filled)}) "
                       f"VALUES ({', '.join('?' for _ in filled)})")
        self.filled = _getter(filled)

    def plain(self, values: list[Any]) -> bool:
        """True when SQLite can store `values` as they are: every value of its column's type,
        integers within 64 bits, floats finite, texts ASCII (so no lone surrogate) and short
        columns within TEXT_LIMIT — each test one C-level pass."""
        if not self.typed:
            return False
        ints, floats = self.ints(values), self.floats(values)
        if ints and not (min(ints) >= -(2**63) and max(ints) < 2**63):
            return False
        if floats and not math.isfinite(sum(floats)):  # a NaN or inf makes the sum one
            return False
        text = "".join(self.texts(values))
        if not text.isascii():
            return False
        return len(text) <= TEXT_LIMIT or \
            max(map(len, self.short_texts(values)), default=0) <= TEXT_LIMIT


_SHAPES: dict[tuple[type, ...], Shape] = {}


def shape_of(values: list[Any]) -> Shape:
    """The `Shape` of a row's values (a few kinds of row exist; each is worked out once)."""
    types = tuple(map(type, values))
    shape = _SHAPES.get(types)
    if shape is None:
        if len(_SHAPES) > 4096:  # rows of odd types (a fuzz test): keep the cache bounded
            _SHAPES.clear()
        shape = _SHAPES[types] = Shape(types)
    return shape


def compact_insert(values: list[Any]) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of only the columns a row fills, and its values: binding a NULL costs SQLite
    almost as much as a value, and a typical row leaves a third of the columns empty (2.7 µs
    a row instead of 7.2 µs measured). Statements are few (one per shape) and cached, here
    and by sqlite3."""
    shape = values.shape if type(values) is RowValues else shape_of(values)
    return shape.insert, shape.filled(values)


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
    for c in ("latency_s", "ttft_s", "cost", "saved"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    for c in ("call_id", "request_id", "provider", "model", "source", "conversation", "status",
              "finish_reason", "error", "currency", "cost_status", "tags", "prompt", "answer",
              "os_user", "host"):
        col = df[c].astype("object")
        df[c] = col.where(col.notna(), None)  # one kind of missing: None, never NaN
    return df
