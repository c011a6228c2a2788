"""The `%glm SUBCOMMAND` registry: `@subcommand` registers one function per name; `run`
dispatches a line to it, with bad input as one line. The subcommands themselves live in
`subcommands.py` (and `cache_command.py`)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from .. import errors
from .cell_errors import cell_error
from .output import GLMMagics

SUBCOMMANDS: dict[str, Callable[[GLMMagics, list[str]], Any]] = {}
USAGE: dict[str, str] = {}


def subcommand(name: str, usage: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(magics, rest)` as `%glm NAME`; `usage` is its line in `%glm help`."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        SUBCOMMANDS[name] = fn
        USAGE[name] = usage or name
        return fn
    return register


def run(magics: GLMMagics, line: str) -> Any:
    """`%glm NAME ARGS`: dispatch to the registered subcommand; bad input is one line."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%glm: cannot parse {line!r} ({exc})") from None
    if not words:
        raise UsageError(_subcommand_hint("a subcommand is missing"))
    name, rest = words[0].lower(), words[1:]
    fn = SUBCOMMANDS.get(name)
    if fn is None:
        import difflib

        close = difflib.get_close_matches(name, list(SUBCOMMANDS), n=1, cutoff=0.6)
        if close:
            raise UsageError(f"%glm: unknown subcommand {name!r}; did you mean {close[0]}? "
                             "(%glm help lists them all)")
        raise UsageError(_subcommand_hint(f"unknown subcommand {name!r}"))
    try:
        return fn(magics, rest)
    except errors.GLMError as err:
        raise cell_error(err) from None
    except (ValueError, OSError) as err:
        raise UsageError(f"%glm {name}: {err}") from None


def _subcommand_hint(problem: str) -> str:
    return (f"%glm: {problem}; use one of: {', '.join(SUBCOMMANDS)} "
            "(or %%glm with the prompt in the cell body)")
