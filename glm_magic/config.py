"""Where settings come from besides the magic's own options: the environment, a `.env` file
in the working directory, and `[tool.glm_magic]` in the nearest `pyproject.toml`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_loaded_dotenv: set[Path] = set()


def load_dotenv(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Read KEY=VALUE lines from `.env` into the environment (never overriding what is set)."""
    p = Path(path) if path else Path.cwd() / ".env"
    try:
        p = p.resolve()
        if p in _loaded_dotenv or not p.is_file():
            return {}
        text = p.read_text(encoding="utf-8")
    except OSError:
        return {}
    _loaded_dotenv.add(p)
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key] = value
        os.environ.setdefault(key, value)
    return found


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
