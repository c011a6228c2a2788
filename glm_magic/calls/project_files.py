"""Settings from files, applied by the trust table: the user's `config.toml` counts like
`%config`; a project's `[tool.glm_magic]` sets only display and model defaults until the user
accepts the rest with `%glm trust` (remembered by the file's content hash)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._secrets import masked_mapping
from ..config import find_pyproject, pyproject_settings, user_settings
from ..sanitize import terminal_safe
from ..trust import is_trusted, remember_trusted, split_project_settings


@dataclass
class HeldBack:
    """A project file's settings that were left out, waiting for `%glm trust`."""

    path: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.settings:
            return "glm-magic: no project settings are waiting to be trusted"
        lines = [f"{self.path} sets what a project file may not choose on its own:"]
        for name, value in self.settings.items():
            lines.append(f"  {name} = {_shown(name, value)}")
        return "\n".join(terminal_safe(line) for line in lines)


def _shown(name: str, value: Any) -> str:
    """A setting's value with keys, secrets and URL passwords masked (nested dicts too)."""
    from ..accounting.ledger import safe_url

    if isinstance(value, dict):
        inner = ", ".join(f"{k!r}: {_shown(str(k), v)}" if isinstance(v, dict) else
                          masked_mapping({k: v})[1:-1] for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, str):
        return repr(safe_url(value))
    return repr(value)


def mark_origin(providers: dict[str, Any], path: str) -> dict[str, Any]:
    """A base URL read from a project file carries that file's name, so that a key from
    elsewhere is never sent there (a cloned project must not redirect the user's key)."""
    marked: dict[str, Any] = {}
    for name, opts in providers.items():
        if isinstance(opts, dict) and opts.get("base_url") and not opts.get("api_key"):
            opts = {**opts, "base_url_from": path}
        marked[name] = opts
    return marked


def _apply(target: Any, values: dict[str, Any], known: Any, where: str,
           origin: str | None = None) -> None:
    for key, value in values.items():
        if not known(key):
            continue
        if key == "providers" and isinstance(value, dict) and origin:
            value = mark_origin(value, origin)
        try:
            setattr(target, key, value)
        except Exception as exc:  # a bad value in a file must not break loading
            print(terminal_safe(f"glm-magic: ignoring {where} {key} = {value!r}: {exc}"))


def apply_file_settings(target: Any, configured: set[str], known: Any) -> HeldBack:
    """Apply the user's config file, then the project's `[tool.glm_magic]`, to `target` (the
    magics object), leaving alone what `%config` set. Returns the project settings left out;
    one line names the file and them."""
    user = {k: v for k, v in user_settings().items() if k not in configured}
    _apply(target, user, known, "config.toml")
    path = find_pyproject()
    values = {k: v for k, v in pyproject_settings().items()
              if k not in configured and k not in user}
    allowed, held = split_project_settings(values)
    origin = str(path) if path else None
    if held and path is not None and is_trusted(path):  # the user accepted it as it is
        allowed, held, origin = values, {}, None
    _apply(target, allowed, known, "[tool.glm_magic]", origin)
    if held:
        print(terminal_safe(f"glm-magic: left out {', '.join(held)} from {path}: a project "
                            "file may set display and model defaults only; run %glm trust "
                            "to review them"))
    return HeldBack(path, held)


def trust(target: Any, held: HeldBack, known: Any) -> list[str]:
    """Apply the held-back settings and remember the file as trusted as it is now. Returns the
    names applied. A file that changed since it was read is read again first."""
    if held.path is None or not held.settings:
        return []
    current = pyproject_settings(held.path.parent)
    _, still_held = split_project_settings(current)
    names = [k for k in held.settings if k in still_held]
    _apply(target, {k: still_held[k] for k in names}, known, "[tool.glm_magic]", None)
    remember_trusted(held.path)
    held.settings = {}
    return names
