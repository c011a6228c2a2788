"""Where settings come from besides the magic's own options: the environment, a `.env` file
in the working directory, and `[tool.glm_magic]` in the nearest `pyproject.toml`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

# .env file -> (its stat signature, the values this module put into os.environ from it)
_dotenv: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def load_dotenv(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Read `.env` (python-dotenv: quotes, `export`, comments) into the environment, never
    overriding a value set elsewhere. Cheap to call before every request: one `stat`, and the
    file is read again only when it changed, so a corrected key takes effect on the next call.
    Returns the values it holds in the environment for that file."""
    p = Path(path) if path else Path.cwd() / ".env"
    try:
        p = p.resolve()
        st = p.stat()
    except OSError:
        st = None
    old_sig, held = _dotenv.get(p, (None, {}))
    if st is None:
        if held:  # the file went away: so do the values it gave
            _forget(held, {})
            _dotenv.pop(p, None)
        return {}
    sig = (st.st_mtime_ns, st.st_size)
    if sig == old_sig:
        return held
    from dotenv import dotenv_values

    try:
        values = {k: v for k, v in dotenv_values(p).items() if v is not None}
    except (OSError, UnicodeDecodeError, ValueError):
        values = {}
    applied: dict[str, str] = {}
    for key, value in values.items():
        current = os.environ.get(key)
        if current is None or held.get(key) == current:  # unset, or still the file's value
            os.environ[key] = value
            applied[key] = value
    _forget(held, values)
    _dotenv[p] = (sig, applied)
    return applied


def _forget(held: dict[str, str], keep: dict[str, str]) -> None:
    for key, value in held.items():
        if key not in keep and os.environ.get(key) == value:
            del os.environ[key]


def source_of(var: str | None) -> str:
    """Where the value of environment variable `var` came from: a `.env` path, 'environment',
    or '' when it is not set."""
    if not var or var not in os.environ:
        return ""
    here = Path.cwd() / ".env"
    with contextlib.suppress(OSError):
        here = here.resolve()
    paths = sorted(_dotenv, key=lambda p: p != here)  # the working directory's file first
    for path in paths:
        if _dotenv[path][1].get(var) == os.environ[var]:
            return str(path)
    return "environment"


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def pyproject_settings(start: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """`[tool.glm_magic]` of the nearest pyproject.toml ({} when there is none)."""
    path = find_pyproject(start)
    if path is None:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    section = data.get("tool", {}).get("glm_magic", {})
    return section if isinstance(section, dict) else {}
