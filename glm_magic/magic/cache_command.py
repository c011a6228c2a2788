"""`%glm cache`: what the response cache holds and saved; `here` puts it beside the notebook
(a file to commit with it, so anyone can replay the notebook without a key), `clear` empties
it, and `on` / `off` / `replay` / `refresh` set the mode."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..accounting.pricing import format_cost
from ..accounting.response_cache import MODES
from ..sanitize import terminal_safe
from .output import GLMMagics
from .registry import subcommand

SUFFIX = ".glm-cache.sqlite"
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")
_SECONDS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@subcommand("cache", "cache [here [NAME] | clear [--older-than 30d] | on | off | replay | "
                     "refresh]")
def cache(magics: GLMMagics, rest: list[str]) -> Any:
    s = magics.session
    if not rest:
        return _show(magics)
    what, args = rest[0].lower(), rest[1:]
    if what in MODES:
        if args:
            raise UsageError(f"%glm cache {what} takes no arguments")
        s.settings.cache = what
        print(f"response cache: {what} ({terminal_safe(s.recorder.response_cache.path)})")
        return None
    if what == "here":
        if len(args) > 1:
            raise UsageError("%glm cache here takes at most a name: %glm cache here NAME")
        path = beside_notebook(magics, args[0] if args else None)
        s.settings.cache_path = str(path)
        if s.settings.cache == "off":
            s.settings.cache = "on"
        print(f"response cache: {s.settings.cache} ({terminal_safe(str(path))}); commit "
              "this file with the notebook and `%glm cache replay` runs it without a key")
        return None
    if what == "clear":
        older = None
        if args[:1] == ["--older-than"] and len(args) == 2:
            older = age_seconds(args[1])
        elif args:
            raise UsageError("%glm cache clear takes --older-than AGE (e.g. 30d, 12h)")
        if s.settings.cache == "replay":
            raise UsageError("%glm cache clear: replay only reads the cache file; run "
                             "%glm cache on first, then clear it")
        gone = s.recorder.response_cache.clear(older)
        print(f"response cache: {gone} answer(s) removed")
        return None
    raise UsageError(f"%glm cache: unknown {what!r}; use here, clear, on, off, replay or "
                     "refresh (or nothing, to see what it holds)")


class CacheStats(dict):
    """`%glm cache`'s value: the stats as a dict (`x = %glm cache`), shown as its text."""

    text = ""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __repr__(self) -> str:
        return self.text


def _show(magics: GLMMagics) -> CacheStats:
    """The stats, shown as a few lines of text."""
    s = magics.session
    stats = s.recorder.response_cache.stats()
    rate = s.exchange_rate

    def money(saved: dict[str, float]) -> str:
        return ", ".join(format_cost(v, k, "priced", rate) for k, v in saved.items()) or "nothing"

    lines = [f"response cache: {terminal_safe(stats['path'])} (mode: {s.settings.cache})",
             f"  entries: {stats['entries']:,} · size: {_size(stats['bytes'])} · hits: "
             f"{stats['hits']:,} in all, {stats['session_hits']:,} this session · misses "
             f"this session: {stats['session_misses']:,}",
             f"  saved: {money(stats['saved'])} in all, {money(stats['session_saved'])} this "
             "session"]
    if stats["problem"]:
        lines.append(f"  not in use: {terminal_safe(stats['problem'])}")
    shown = CacheStats(stats)
    shown.text = "\n".join(lines)
    return shown


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"  # pragma: no cover


def age_seconds(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w`, `45s` (a bare number is days)."""
    m = _AGE.match(text.strip().lower())
    if not m:
        raise UsageError(f"%glm cache clear --older-than: {text!r} is not an age; write "
                         "e.g. 30d, 12h or 90m")
    return float(m.group(1)) * _SECONDS[m.group(2)]


def beside_notebook(magics: GLMMagics, name: str | None) -> Path:
    """`<notebook>.glm-cache.sqlite` beside the running notebook (JupyterLab and VS Code
    tell the kernel which one), or `<NAME>.glm-cache.sqlite` in the working folder."""
    if name:
        stem = Path(name).name.removesuffix(".ipynb").removesuffix(SUFFIX)
        if not stem or stem in (".", ".."):
            raise UsageError(f"%glm cache here: {name!r} is not a usable name")
        return Path.cwd() / f"{stem}{SUFFIX}"
    ns = magics.shell.user_ns if magics.shell is not None else {}
    notebook = ns.get("__vsc_ipynb_file__") or os.environ.get("JPY_SESSION_NAME")
    if notebook and str(notebook).endswith(".ipynb"):
        path = Path(str(notebook))
        if not path.is_absolute():
            path = Path.cwd() / path.name
        return path.with_name(path.name.removesuffix(".ipynb") + SUFFIX)
    raise UsageError("%glm cache here: this kernel does not know its notebook's name; give "
                     "one: %glm cache here my-analysis")
