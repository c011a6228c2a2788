"""The usage ledger: one row per call attempt in a SQLite file (WAL), read back as pandas.

SQLite in WAL mode with synchronous=NORMAL survives a killed kernel (every committed row is in
the file), lets several kernels append to one file at once, and commits a row in microseconds.
Prompts and answers are stored only when the user opts in (log_text); API keys never."""

from __future__ import annotations

import math
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._secrets import scrub

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

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
}
_INSERT = (f"INSERT INTO calls ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")


def default_path() -> str:
    """`$GLM_MAGIC_LEDGER`, else `$XDG_DATA_HOME/glm-magic/ledger.sqlite`
    (`~/.local/share/glm-magic/ledger.sqlite`)."""
    env = os.environ.get("GLM_MAGIC_LEDGER")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "glm-magic" / "ledger.sqlite")


def _patiently(action: Any, seconds: float = 30.0) -> Any:
    """Run a SQLite action, waiting out another process's lock. Switching a new file to WAL
    needs an exclusive lock and does not honour busy_timeout, so two kernels opening one new
    ledger at once would otherwise see 'database is locked'."""
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class Ledger:
    """Append-only call log. A path that cannot be used warns once and falls back to memory,
    so the user's call still works."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path) if path else default_path()
        self._lock = threading.Lock()
        self.fallback_reason: str | None = None
        try:
            self._conn = _patiently(lambda: self._open(self.path))
        except (sqlite3.Error, OSError) as exc:
            self._fall_back(exc)

    def _open(self, path: str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(os.path.expanduser(path), timeout=30.0, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
        conn.execute(f"CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, {cols})")
        have = {r[1] for r in conn.execute("PRAGMA table_info(calls)")}
        for k, v in COLUMNS.items():  # files from older versions gain new columns
            if k not in have:
                conn.execute(f"ALTER TABLE calls ADD COLUMN {k} {v}")
        return conn

    def _fall_back(self, exc: BaseException) -> None:
        self.fallback_reason = f"{type(exc).__name__}: {exc}"
        print(f"glm-magic: cannot use the ledger at {self.path} ({self.fallback_reason}); "
              "keeping usage in memory for this session. Set GLM_MAGIC_LEDGER to a writable "
              "file.", file=sys.stderr)
        self.path = ":memory:"
        self._conn = self._open(":memory:")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row (a missing column is NULL). Errors and text are scrubbed of secrets."""
        row = dict(row)
        row.setdefault("time", time.time())
        row.setdefault("pid", os.getpid())
        for k in ("error", "prompt", "answer"):
            if row.get(k):
                row[k] = scrub(str(row[k]))
        if isinstance(row.get("tags"), (list, tuple, set)):
            row["tags"] = ",".join(map(str, row["tags"]))
        c = row.get("cost")
        if isinstance(c, float) and math.isnan(c):
            row["cost"] = None
        values = [row.get(k) for k in COLUMNS]
        with self._lock:
            try:
                _patiently(lambda: self._conn.execute(_INSERT, values))
            except sqlite3.Error as exc:
                if self.path == ":memory:":
                    raise
                self._fall_back(exc)
                self._conn.execute(_INSERT, values)

    def rows(self, where: str = "", args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(f"SELECT {', '.join(COLUMNS)} FROM calls {where} "
                                     "ORDER BY id", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def frame(self, since: Any = None, model: str | None = None, source: str | None = None,
              provider: str | None = None, status: str | None = None,
              conversation: str | None = None) -> pd.DataFrame:
        """The ledger as a DataFrame, oldest first, with typed columns."""
        clauses, args = [], []
        if since is not None:
            clauses.append("time >= ?")
            args.append(_to_epoch(since))
        for col, val in (("model", model), ("source", source), ("provider", provider),
                         ("status", status), ("conversation", conversation)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return to_frame(self.rows(where, tuple(args)))


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
    for c in ("cached_tokens", "cell", "images"):
        df[c] = pd.to_numeric(df[c]).astype("Int64")
    df["usage_estimated"] = df["usage_estimated"].fillna(0).astype(bool)
    for c in ("latency_s", "ttft_s", "cost"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    for c in ("call_id", "request_id", "provider", "model", "source", "conversation", "status",
              "finish_reason", "error", "currency", "cost_status", "tags", "prompt", "answer"):
        df[c] = df[c].astype("object")
    return df


def summarize(df: pd.DataFrame, by: str = "model") -> pd.DataFrame:
    """Calls, tokens, cost and mean latency grouped by model, day, conversation or source."""
    import pandas as pd

    keys = {"model": ["provider", "model"], "day": ["day"], "conversation": ["conversation"],
            "source": ["source"], "provider": ["provider"], "status": ["status"]}
    if by not in keys:
        raise ValueError(f"by must be one of {', '.join(keys)}, not {by!r}")
    df = df.copy()
    df["day"] = df["time"].dt.date
    df["currency"] = df["currency"].fillna("")
    g = df.groupby(keys[by] + ["currency"], dropna=False, sort=True)
    out = g.agg(calls=("call_id", "nunique"), attempts=("call_id", "size"),
                errors=("status", lambda s: int((s != "ok").sum())),
                prompt_tokens=("prompt_tokens", "sum"),
                completion_tokens=("completion_tokens", "sum"),
                total_tokens=("total_tokens", "sum"),
                cost=("cost", lambda s: s.sum(min_count=1)),
                unpriced=("cost_status", lambda s: int((s == "unpriced").sum())),
                mean_latency_s=("latency_s", "mean"))
    return out.reset_index() if len(out) else pd.DataFrame(columns=list(out.columns))


def plot(df: pd.DataFrame, kind: str = "cost") -> Figure:
    """A labelled matplotlib Figure: cumulative `cost` by model, `tokens` per call, or the
    `latency` distribution."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    if kind == "cost":
        currencies = sorted(c for c in df["currency"].dropna().unique() if c)
        cur = ", ".join(currencies) or "no priced calls"
        for (prov, model), part in df.groupby(["provider", "model"], sort=True):
            part = part.sort_values("time")
            ax.step(part["time"], part["cost"].fillna(0).cumsum(), where="post",
                    label=f"{prov}:{model}")
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_title("Cumulative cost by model")
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel(f"cost ({cur})")
    elif kind == "tokens":
        x = range(len(df))
        ax.bar(x, df["prompt_tokens"], label="prompt")
        ax.bar(x, df["completion_tokens"], bottom=df["prompt_tokens"], label="completion")
        ax.set_title("Tokens per call")
        ax.set_xlabel("call (oldest first)")
        ax.set_ylabel("tokens")
    elif kind == "latency":
        lat = df["latency_s"].dropna()
        ax.hist(lat, bins=min(30, max(5, len(lat) // 2 or 1)), label="latency")
        if df["ttft_s"].notna().any():
            ax.hist(df["ttft_s"].dropna(), bins=min(30, max(5, len(lat) // 2 or 1)), alpha=0.6,
                    label="time to first token")
        ax.set_title("Latency distribution")
        ax.set_xlabel("seconds")
        ax.set_ylabel("calls")
    else:
        raise ValueError(f"kind must be 'cost', 'tokens' or 'latency', not {kind!r}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    return fig
