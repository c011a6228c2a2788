"""Where settings come from besides the magic's own options: the environment, the credential
lines of a `.env` file in the working directory, the user's `config.toml`, and
`[tool.glm_magic]` in the nearest `pyproject.toml`. Which source may set what is `trust.py`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

# .env file -> (its stat signature, the credential values it holds)
_dotenv: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def load_dotenv(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Read the provider keys and base URLs of `.env` (python-dotenv: quotes, `export`,
    comments) into this module's credential sources. Nothing else in the file is read and
    nothing is written to `os.environ`: a cloned project's `.env` must not set a proxy, a
    certificate bundle, `LD_PRELOAD` or the ledger path (`trust.ENVIRONMENT_VARIABLES`).

    Cheap to call before every request: one `stat`, and the file is read again only when it
    changed, so a corrected key takes effect on the next call. Returns the values it holds."""
    p = Path(path) if path else Path.cwd() / ".env"
    try:
        p = p.resolve()
        st = p.stat()
    except OSError:
        st = None
    if st is None:
        _dotenv.pop(p, None)
        return {}
    sig = (st.st_mtime_ns, st.st_size)
    old = _dotenv.get(p)
    if old is not None and old[0] == sig:
        return old[1]
    from dotenv import dotenv_values

    from .trust import dotenv_names

    allowed = dotenv_names()
    try:
        values = {k: v for k, v in dotenv_values(p).items()
                  if v is not None and k in allowed}
    except (OSError, UnicodeDecodeError, ValueError):
        values = {}
    _dotenv[p] = (sig, values)
    return values


def _here() -> Path:
    here = Path.cwd() / ".env"
    with contextlib.suppress(OSError):
        here = here.resolve()
    return here


def env_value(var: str | None) -> str | None:
    """The value of a credential variable: the process environment first, then the working
    directory's `.env` (only the key and base-URL names `.env` may hold)."""
    if not var:
        return None
    value = os.environ.get(var)
    if value is not None:
        return value
    return load_dotenv().get(var)


def source_of(var: str | None) -> str:
    """Where the value of `var` comes from: 'environment', a `.env` path, or '' when unset."""
    if not var:
        return ""
    if var in os.environ:
        return "environment"
    if var in load_dotenv():
        return str(_here())
    return ""


def user_settings() -> dict[str, Any]:
    """The user's own settings file, `$XDG_CONFIG_HOME/glm-magic/config.toml` ({} when
    absent): trusted like `%config`, since only the user writes there."""
    from .trust import config_dir

    return _read_toml_section(config_dir() / "config.toml", None)


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def pyproject_settings(start: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """`[tool.glm_magic]` of the nearest pyproject.toml ({} when there is none). This is a
    project file: callers pass it through `trust.split_project_settings`."""
    path = find_pyproject(start)
    return {} if path is None else _read_toml_section(path, ("tool", "glm_magic"))


def _read_toml_section(path: Path, keys: tuple[str, ...] | None) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return {}
    try:
        data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    for key in keys or ():
        data = data.get(key, {}) if isinstance(data, dict) else {}
    return data if isinstance(data, dict) else {}
