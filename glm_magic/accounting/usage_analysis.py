"""The ledger read for people: summaries by model, day, conversation or source, and charts
that show themselves as PNG in any front-end (pandas and matplotlib imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def summarize(df: pd.DataFrame, by: str = "model") -> pd.DataFrame:
    """Calls, tokens, cost and mean latency grouped by model, day, conversation or source.

    `calls` counts calls and `errors` the calls whose final attempt failed (a 429 retried to
    success is not an error); `attempts` counts every attempt. Free and unpriced rows join
    their group's currency instead of splitting it; a group with none (the local model) shows
    `free`, or `—` when it is unpriced. `cached` counts the calls the response cache answered
    (cost 0) and `saved` what they would have cost."""
    import pandas as pd

    keys = {"model": ["provider", "model"], "day": ["day"], "conversation": ["conversation"],
            "source": ["source"], "provider": ["provider"], "status": ["status"]}
    if by not in keys:
        raise ValueError(f"by must be one of {', '.join(keys)}, not {by!r}")
    df = df.copy()
    df["day"] = df["time"].dt.date
    group = keys[by]
    cur = df["currency"].where(df["currency"].notna() & (df["currency"] != ""))
    fill = cur.groupby([df[k].astype(str) for k in group]).transform(
        lambda s: s.dropna().iloc[0] if s.notna().any() else None)
    df["currency"] = cur.fillna(fill)
    # a group with no currency at all is free (the local model) or unpriced: say which
    nothing = df["currency"].isna()
    df.loc[nothing, "currency"] = df.loc[nothing, "cost_status"].map(
        lambda st: "free" if st == "free" else "—")
    last = df.sort_values(["time", "attempt"]).groupby("call_id", sort=False).tail(1)
    failed_calls = set(last.loc[~last["status"].isin(("ok", "cached")), "call_id"])
    df["_failed"] = df["call_id"].isin(failed_calls) & ~df["call_id"].duplicated(keep="last")
    g = df.groupby(group + ["currency"], dropna=False, sort=True)
    out = g.agg(calls=("call_id", "nunique"), attempts=("call_id", "size"),
                errors=("_failed", "sum"),
                prompt_tokens=("prompt_tokens", "sum"),
                completion_tokens=("completion_tokens", "sum"),
                total_tokens=("total_tokens", "sum"),
                cost=("cost", lambda s: s.sum(min_count=1)),
                unpriced=("cost_status", lambda s: int((s == "unpriced").sum())),
                mean_latency_s=("latency_s", "mean"),
                cached=("status", lambda s: int((s == "cached").sum())),
                saved=("saved", lambda s: float(s.sum())))
    out["errors"] = out["errors"].astype("int64")
    return out.reset_index() if len(out) else pd.DataFrame(columns=list(out.columns))


class ChartFigure:
    """Marker base: see `_chart_figure`."""


def _chart_figure(**kwargs: Any) -> Figure:
    """A matplotlib Figure that shows itself as a PNG in any front-end, with no
    `%matplotlib inline` and no pyplot state (a fresh kernel shows the chart, not
    `<Figure size 800x400 with 1 Axes>`)."""
    from matplotlib.figure import Figure

    class _Chart(Figure, ChartFigure):
        def _repr_png_(self) -> bytes:
            import io

            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(self)
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=100)
            return buf.getvalue()

    return _Chart(**kwargs)


def plot(df: pd.DataFrame, kind: str = "cost") -> Figure:
    """A labelled matplotlib Figure: cumulative `cost` by model, `tokens` per call, or the
    `latency` distribution. It displays as a PNG in any front-end."""
    from matplotlib.ticker import MaxNLocator

    fig = _chart_figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    if kind == "cost":
        currencies = sorted(c for c in df["currency"].dropna().unique() if c)
        cur = ", ".join(currencies) or "no priced calls"
        for (prov, model), part in df.groupby(["provider", "model"], sort=True):
            part = part.sort_values("time")
            # step lines with markers: a model with one call is a visible point, not nothing
            ax.step(part["time"], part["cost"].fillna(0).cumsum(), where="post", marker="o",
                    markersize=4, label=literal_label(f"{prov}:{model}"))
        _time_axis(ax, df["time"])
        ax.set_title("Cumulative cost by model")
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel(f"cost ({cur})")
    elif kind == "tokens":
        x = range(1, len(df) + 1)
        ax.bar(x, df["prompt_tokens"], label="prompt")
        ax.bar(x, df["completion_tokens"], bottom=df["prompt_tokens"], label="completion")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Tokens per call")
        ax.set_xlabel("call (oldest first)")
        ax.set_ylabel("tokens")
    elif kind == "latency":
        lat = df["latency_s"].dropna()
        ax.hist(lat, bins=min(30, max(5, len(lat) // 2 or 1)), label="latency")
        if df["ttft_s"].notna().any():
            ax.hist(df["ttft_s"].dropna(), bins=min(30, max(5, len(lat) // 2 or 1)), alpha=0.6,
                    label="time to first token")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Latency distribution")
        ax.set_xlabel("seconds")
        ax.set_ylabel("calls")
    else:
        raise ValueError(f"kind must be 'cost', 'tokens' or 'latency', not {kind!r}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    return fig


MIN_SPAN_S = 60.0  # calls closer than this are shown on a one-minute axis


def _time_axis(ax: Any, times: Any) -> None:
    """One readable format for the whole axis: clock times within a day, dates beyond. Calls
    that are all within a minute (one call, or several seconds apart) get a one-minute window
    around them, so the locator never meets an empty range (its warnings) or ticks finer than
    the labels show (repeated labels)."""
    import datetime as dt

    import matplotlib.dates as mdates

    if not len(times):
        return
    lo, hi = times.min(), times.max()
    span = (hi - lo).total_seconds()
    if span < MIN_SPAN_S:
        middle = lo + (hi - lo) / 2
        half = dt.timedelta(seconds=MIN_SPAN_S / 2)
        ax.set_xlim(mdates.date2num(middle - half), mdates.date2num(middle + half))
        span = MIN_SPAN_S
    fmt = ("%H:%M:%S" if span < 600 else "%H:%M" if span < 86400 else
           "%m-%d %H:%M" if span < 7 * 86400 else "%Y-%m-%d")
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    if span < 600:  # no ticks finer than the seconds the labels show
        locator.intervald[mdates.SECONDLY] = [5, 10, 15, 30]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))
    for label in ax.get_xticklabels():
        label.set_rotation(0)


def literal_label(text: str) -> str:
    """A legend label shown as written: a `$` would start matplotlib's math mode, and an
    unbalanced one (a model named `$\\frac{$`) breaks every later draw of the figure."""
    return text.replace("$", r"\$")
