"""`%glm search QUERY`, `%glm read URL` and `%glm parse PATH`: Zhipu's web search, reader and
file parser from the notebook. What they bring back is written by other people (pages,
documents), so it is shown escaped (a table
whose strings are made terminal-safe and that pandas renders escaped; page text through the
same path as any model text), while `-o VAR` keeps the raw values for code. Each is a ledger
row under source `magic`."""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from ..sanitize import terminal_safe
from .output import GLMMagics, show_text
from .registry import subcommand

RESULT_COLUMNS = ("title", "link", "media", "publish_date", "content")
SHOWN_CHARS = 2_000  # of a page read: the rest is in -o VAR


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, add_help=False, exit_on_error=False)
    p.add_argument("-o", "--out")
    return p


def _parse(p: argparse.ArgumentParser, rest: list[str], usage: str) -> argparse.Namespace:
    try:
        return p.parse_args(rest)
    except (argparse.ArgumentError, SystemExit):
        raise UsageError(f"usage: {usage}") from None


def _client(magics: GLMMagics) -> Any:
    s = magics.session
    return s.client("zhipu").with_source("magic", s.recorder.hooks())


@subcommand("search", "search [-e ENGINE] [-n COUNT] [--recency oneWeek] [-o VAR] QUERY")
def search(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    p = _parser("%glm search")
    p.add_argument("-e", "--engine", default="search_std")
    p.add_argument("-n", "--count", type=int)
    p.add_argument("--recency")
    p.add_argument("--domain")
    p.add_argument("query", nargs="+")
    a = _parse(p, rest, "%glm search [-e search_pro] [-n 10] [--recency oneWeek] "
                        "[--domain example.com] [-o VAR] QUERY")
    if a.count is not None and not 1 <= a.count <= 50:
        raise UsageError(f"-n must be between 1 and 50, not {a.count}")
    found = _client(magics).web_search.web_search(
        search_query=" ".join(a.query), search_engine=a.engine, count=a.count,
        search_recency_filter=a.recency, search_domain_filter=a.domain)
    rows = [r.model_dump() for r in (found.search_result or [])]
    frame = pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS if not rows or c in rows[0]]
                         or list(RESULT_COLUMNS))
    if a.out:
        magics.shell.user_ns[a.out] = frame
        print(f"{len(frame)} results in {a.out}")
        return None
    return frame.map(lambda v: terminal_safe(v) if isinstance(v, str) else v)


@subcommand("read", "read [-o VAR] URL")
def read(magics: GLMMagics, rest: list[str]) -> Any:
    p = _parser("%glm read")
    p.add_argument("--format", default="markdown", choices=("markdown", "text"))
    p.add_argument("url")
    a = _parse(p, rest, "%glm read [--format markdown|text] [-o VAR] URL")
    if not a.url.startswith(("http://", "https://")):
        raise UsageError(f"%glm read takes an http(s) URL, not {terminal_safe(a.url)!r}")
    page = _client(magics).web_reader.web_reader(url=a.url, return_format=a.format)
    result = page.reader_result
    text = (result.content if result is not None else None) or ""
    title = (result.title if result is not None else None) or a.url
    if a.out:
        magics.shell.user_ns[a.out] = text
    more = f"\n… {len(text) - SHOWN_CHARS:,} more characters" if len(text) > SHOWN_CHARS else ""
    show_text(magics, f"{title}\n\n{text[:SHOWN_CHARS]}{more}" + (
        f"\n(the whole text is in {a.out})" if a.out else ""))
    return None


@subcommand("parse", "parse [--tool lite|expert|prime] [-o VAR] PATH")
def parse(magics: GLMMagics, rest: list[str]) -> Any:
    """A PDF, Word, Excel, PowerPoint or text file through Zhipu's file parser: the text is
    shown (its start, sanitized) and kept in VAR, so a prompt can use it as `{VAR}` (cut to
    the prompt budget like any value)."""
    import os

    from ..core.resources.file_parser import TOOL_TYPES, file_type_of

    p = _parser("%glm parse")
    p.add_argument("--tool", default="lite", choices=TOOL_TYPES)
    p.add_argument("path", nargs="+")
    a = _parse(p, rest, "%glm parse [--tool lite|expert|prime] [-o VAR] PATH")
    path = os.path.expanduser(" ".join(a.path))
    if not os.path.isfile(path):
        raise UsageError(f"%glm parse: no file at {terminal_safe(path)!r}")
    try:
        file_type_of(path, a.tool)
    except ValueError as err:
        raise UsageError(terminal_safe(str(err))) from None
    text = _client(magics).file_parser.parse(path, tool_type=a.tool)
    if a.out:
        magics.shell.user_ns[a.out] = text
    more = f"\n… {len(text) - SHOWN_CHARS:,} more characters" if len(text) > SHOWN_CHARS else ""
    show_text(magics, f"{os.path.basename(path)}\n\n{text[:SHOWN_CHARS]}{more}" + (
        f"\n(the whole text is in {a.out}: use it as {{{a.out}}} in a prompt)" if a.out
        else ""))
    return None
