"""`%glm SUBCOMMAND`: one function each, registered with `@subcommand`; adding one is one
function in this file (the magic's help and the error for an unknown name list the
registry)."""

from __future__ import annotations

import weakref
from typing import Any

from IPython.core.error import UsageError

from .. import errors
from .._secrets import mask, masked_mapping, redact
from ..calls.conversation import Conversation
from ..config import env_value
from ..sanitize import terminal_safe
from ..tokens import estimate_messages
from . import (
    cache_command,  # noqa: E402, F401  (registers %glm cache)
    web_commands,  # noqa: E402, F401  (registers %glm search and %glm read)
)
from .commands import parse_budget
from .images import run_image
from .output import GLMMagics, make_view, show_text
from .registry import SUBCOMMANDS, USAGE, run, subcommand

__all__ = ["SUBCOMMANDS", "USAGE", "run", "subcommand"]


@subcommand("usage", "usage [--csv PATH]")
def _usage(magics: GLMMagics, rest: list[str]) -> Any:
    df = magics.session.usage()
    if rest[:1] == ["--csv"]:
        if len(rest) < 2:
            raise UsageError("%glm usage --csv needs a file path")
        df.to_csv(rest[1], index=False)
        print(f"wrote {len(df)} rows to {rest[1]}")
        return None
    if rest:
        raise UsageError("%glm usage takes no arguments besides --csv PATH")
    return df


@subcommand("cost", "cost [model|day|conversation|source]")
def _cost(magics: GLMMagics, rest: list[str]) -> Any:
    from ..accounting.ledger import plot, summarize

    by = rest[0] if rest else "model"
    df = magics.session.usage()
    try:
        summary = summarize(df, by)
    except ValueError as exc:
        raise UsageError(f"%glm cost: {exc}") from None
    if len(df):  # the chart is shown; the table is the value (`x = %glm cost`)
        from IPython.display import display

        display(plot(df, "cost"))
    return summary


@subcommand("history", "history [NAME]")
def _history(magics: GLMMagics, rest: list[str]) -> None:
    name = rest[0] if rest else "default"
    conv = magics.session.chats.get(name)
    if conv is None:
        raise UsageError(f"no conversation named {name!r}; %glm chats lists them")
    show_text(magics, conv.transcript())


@subcommand("reset", "reset [NAME|--all]")
def _reset(magics: GLMMagics, rest: list[str]) -> None:
    s = magics.session
    if rest == ["--all"]:
        n = len(s.chats)
        s.chats.clear()
        print(f"cleared {n} conversation(s)")
        return
    name = rest[0] if rest else "default"
    conv = s.chats.get(name)
    if conv is None:
        raise UsageError(f"no conversation named {name!r}; %glm chats lists them")
    conv.reset()
    print(f"conversation {name!r} cleared" + (" (system prompt kept)" if conv.system else ""))


@subcommand("chats", "chats")
def _chats(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    rows = [{"chat": c.name, "turns": c.turns, "messages": len(c.messages),
             "estimated_tokens": estimate_messages(c.messages), "tokens_used": c.tokens_used,
             "system": terminal_safe((c.system or "")[:40])} for c in magics.session.chats.values()]
    return pd.DataFrame(rows, columns=["chat", "turns", "messages", "estimated_tokens",
                                       "tokens_used", "system"])


@subcommand("save", "save NAME PATH")
def _save(magics: GLMMagics, rest: list[str]) -> None:
    if len(rest) != 2:
        raise UsageError("usage: %glm save NAME PATH")
    conv = magics.session.chats.get(rest[0])
    if conv is None:
        raise UsageError(f"no conversation named {rest[0]!r}; %glm chats lists them")
    conv.save(rest[1])
    print(f"saved {conv.name!r} ({len(conv.messages)} messages) to {rest[1]}")


@subcommand("load", "load PATH [NAME]")
def _load(magics: GLMMagics, rest: list[str]) -> None:
    if len(rest) not in (1, 2):
        raise UsageError("usage: %glm load PATH [NAME]")
    try:
        conv = Conversation.load(rest[0], rest[1] if len(rest) > 1 else None)
    except FileNotFoundError:
        raise UsageError(f"%glm load: no such file: {rest[0]}") from None
    except ValueError as exc:
        raise UsageError(f"%glm load: {rest[0]}: {exc}") from None
    magics.session.chats[conv.name] = conv
    print(f"loaded conversation {conv.name!r} ({len(conv.messages)} messages)")


@subcommand("config", "config")
def _config(magics: GLMMagics, rest: list[str]) -> None:
    from ..providers import names, provider_class

    s = magics.session
    lines = ["GLMMagics settings:"]
    shown_here = [(n, getattr(magics, n)) for n in sorted(magics.trait_names(config=True))]
    for name, value in sorted(shown_here + s.settings.describe()):
        if name == "providers":
            shown = "{" + ", ".join(f"{p!r}: {masked_mapping(o)}" for p, o in value.items()) \
                + "}"
        elif name == "ledger_path" and isinstance(value, str):
            from ..accounting.ledger import safe_url

            shown = repr(safe_url(value))
        else:
            shown = repr(value)
        lines.append(f"  {name} = {shown}")
    lines.append(f"ledger: {s.ledger.path}")
    lines.append("credentials:")
    for p in names():
        cls = provider_class(p)
        if cls.key_env:
            lines.append(f"  {p}: {cls.key_env} = {mask(env_value(cls.key_env))}")
    print(redact("\n".join(lines)))


@subcommand("models", "models [PROVIDER]")
def _models(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    from ..accounting import pricing
    from ..providers import names, provider_class

    wanted = [rest[0]] if rest else names()
    rows = []
    for p in wanted:
        cls = provider_class(p)
        key = magics.session.provider_for(p).pricing_key()  # api.z.ai prices in USD, etc.
        for m in cls.models:
            rows.append(_model_row(p, m, pricing.lookup(key, m.name)))
    frame = pd.DataFrame(rows)
    stale = frame[frame["price_stale"].fillna(False).astype(bool)] if len(frame) else frame
    if len(stale) and magics.session not in _STALE_NOTED:
        _STALE_NOTED.add(magics.session)  # once a session: the column says it on every row
        print(f"{len(stale)} price(s) are older than {pricing.STALE_DAYS} days (price_stale): "
              "check the source and set a newer one with glm_magic.pricing.set_price(...)")
    return frame


_STALE_NOTED: weakref.WeakSet[Any] = weakref.WeakSet()


def _model_row(provider: str, m: Any, price: Any) -> dict[str, Any]:
    """One row of `%glm models`: limits, then the price (first tier when tiered)."""
    paid = price is not None and not price.free
    rin = rout = rcache = None
    if paid:
        first = price.tiers[0] if price.tiers else price
        rin, rout, rcache = first.input, first.output, first.cached_input
    return {
        "provider": provider, "model": m.name, "kind": m.kind, "context": m.context,
        "max_output": m.max_output, "thinking": m.thinking,
        "thinking_always": m.thinking_always, "reasoning_effort": "|".join(m.efforts) or None, "default_effort": m.default_effort
        or None,
        "input_per_M": rin, "cached_input_per_M": rcache, "output_per_M": rout,
        "tiered": bool(paid and price.tiers),
        "batch_input_per_M": rin * price.batch if paid and rin is not None and price.batch
        else None,
        "per_image": price.per_image if price else None,
        "currency": price.currency if price else None,
        "free": bool(price and price.free), "price_as_of": price.as_of if price else None,
        "price_stale": price.stale if paid else None,  # a free price cannot mislead
        "price_source": price.source if price else None,
        "limits_as_of": m.as_of or None, "limits_source": m.source or None, "note": m.note,
    }


@subcommand("login", "login [PROVIDER] [--save]")
def _login(magics: GLMMagics, rest: list[str]) -> None:
    """Ask for the key without echoing it; --save keeps it in .env (0600, git-ignored)."""
    from .login import login

    save = "--save" in rest
    names = [w for w in rest if w != "--save"]
    if len(names) > 1 or any(w.startswith("-") for w in names):
        raise UsageError("usage: %glm login [PROVIDER] [--save]")
    resolved = magics.session.resolve()[0]
    provider = names[0] if names else (resolved if resolved != "local" else "zhipu")
    try:
        masked = login(provider, save=save)
    except errors.GLMError as err:
        raise UsageError(str(err)) from None
    magics.session.reset_clients()
    git = masked.pop("file", "")
    where = f" and saved to .env (mode 0600, {git})" if save else " for this session"
    print(f"{provider}: " + ", ".join(f"{k} = {v}" for k, v in masked.items()) + f" set{where}")


@subcommand("trust", "trust [--yes | --table]")
def _trust(magics: GLMMagics, rest: list[str]) -> None:
    """The project file's settings that were left out; applied and remembered on confirm."""
    from ..calls.project_files import HeldBack, trust
    from ..trust import table_markdown

    if rest == ["--table"]:
        print(table_markdown())
        return
    if rest not in ([], ["--yes"]):
        raise UsageError("usage: %glm trust [--yes | --table]")
    held: HeldBack = getattr(magics, "held_back", None) or HeldBack()
    print(held.describe())
    if not held.settings:
        return
    if rest != ["--yes"]:
        answer = input(f"Apply these and trust {held.path} as it is now? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing applied")
            return
    names = trust(magics, held, magics.knows_setting)
    magics.session.reset_clients()
    print(terminal_safe(f"applied {', '.join(names) or 'nothing'}; {held.path} is trusted "
                        "until it changes"))


@subcommand("budget", "budget AMOUNT [CUR] | off")
def _budget(magics: GLMMagics, rest: list[str]) -> None:
    s = magics.session
    if not rest:
        if s.budget is None:
            print("no budget set; %glm budget 5 CNY sets one")
        else:
            amount, cur = s.budget
            print(f"budget {amount:g} {cur}; spent {s.spent.get(cur, 0.0):.4f} {cur}")
        return
    if rest[0].lower() in ("off", "none"):
        magics.budget = None
        print("budget removed")
        return
    amount, cur = parse_budget(" ".join(rest))
    magics.budget = f"{amount} {cur}"
    print(f"budget set: {amount:g} {cur} (warning at 80%)")


@subcommand("fix", "fix [WHAT YOU WANT]")
def _fix(magics: GLMMagics, rest: list[str]) -> Any:
    """The last exception and its cell, sent for a fix that goes into the next cell."""
    from .commands import run_cell

    return run_cell(magics, magics.parse_options("--fix"), " ".join(rest))


@subcommand("chat", "chat [NAME]")
def _chat(magics: GLMMagics, rest: list[str]) -> Any:
    from ..panel.widget import ChatPanel

    return ChatPanel(chat=rest[0] if rest else "default")


@subcommand("help", "help")
def _help(magics: GLMMagics, rest: list[str]) -> None:
    """Every subcommand with its usage, from the registry (plus the cell options)."""
    lines = ["%glm SUBCOMMAND [ARGS], one of:"] + [f"  %glm {USAGE[n]}" for n in SUBCOMMANDS]
    lines.append("%%glm [options] with the prompt in the cell body: see %%glm?")
    print("\n".join(lines))


@subcommand("result", "result TASK_ID [--wait]")
def _result(magics: GLMMagics, rest: list[str]) -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%glm result", add_help=False, exit_on_error=False)
    p.add_argument("task_id")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("-o", "--out")
    try:
        a = p.parse_args(rest)
    except (argparse.ArgumentError, SystemExit):
        raise UsageError("usage: %glm result TASK_ID [--wait] [--timeout S] [-o VAR]") from None
    s = magics.session
    comp = s.task_result(a.task_id, wait=a.wait, timeout=a.timeout)
    status = (comp.task_status or "").upper()
    if status != "SUCCESS":
        print(f"task {a.task_id}: {status or 'unknown'} — try again later, or add --wait")
        return None
    view = make_view(magics, magics.format)
    view.finish(comp)
    ns = magics.shell.user_ns if magics.shell is not None else {}
    ns["_glm"] = comp
    if a.out:
        ns[a.out] = comp.text
    return None


@subcommand("tasks", "tasks")
def _tasks(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    rows = [{"task_id": tid, "provider": t["call"].provider, "model": t["call"].model,
             "submitted": pd.Timestamp(t["submitted"], unit="s", tz="UTC"),
             "status": t["status"]} for tid, t in magics.session.tasks.items()]
    return pd.DataFrame(rows, columns=["task_id", "provider", "model", "submitted", "status"])


@subcommand("image", "image [-m M] [--size S] [-n N] [-o VAR] [--save PATH] PROMPT")
def _image(magics: GLMMagics, rest: list[str]) -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%glm image", add_help=False, exit_on_error=False)
    p.add_argument("-m", "--model")
    p.add_argument("-p", "--provider")
    p.add_argument("--size")
    p.add_argument("-n", type=int)
    p.add_argument("-o", "--out")
    p.add_argument("--save")
    p.add_argument("prompt", nargs="+")
    try:
        a = p.parse_args(rest)
    except (argparse.ArgumentError, SystemExit):
        raise UsageError("usage: %glm image [-m cogview-4] [--size 1024x1024] [-n N] [-o VAR] "
                         "[--save PATH] PROMPT") from None
    return run_image(magics, " ".join(a.prompt), model=a.model, size=a.size, n=a.n, out=a.out,
                     save=a.save, provider=a.provider)
