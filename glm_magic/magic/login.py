"""Keys entered safely: `%glm login [provider]` asks with getpass (never echoed, never in a
cell's source or output), and on request keeps the key in `.env` (mode 0600, listed in
`.gitignore` inside a git repository). A `%env NAME=key` line — which IPython echoes into the
saved output — gets a warning that says how to undo it."""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import errors
from .._secrets import mask, register

# what each provider needs typed in (the rest of its settings are not secret)
LOGIN_ENVS = {"qianfan": ("QIANFAN_AK", "QIANFAN_SK")}
_SECRET_NAME = re.compile(r"(API_KEY|SECRET|ACCESS_KEY|_AK$|_SK$|TOKEN)", re.IGNORECASE)
_ENV_LINE = re.compile(r"^\s*%env\s+([A-Za-z_][A-Za-z0-9_]*)\s*[= ]\s*\S", re.MULTILINE)


def login_envs(provider: str) -> tuple[str, ...]:
    """The environment variables `%glm login provider` asks for."""
    from ..providers import provider_class

    if provider in LOGIN_ENVS:
        return LOGIN_ENVS[provider]
    env = provider_class(provider).key_env
    if not env:
        raise errors.ConfigurationError(f"provider {provider!r} needs no key",
                                        provider=provider)
    return (env,)


def login(provider: str, *, save: bool = False, env_file: str | os.PathLike[str] = ".env"
          ) -> dict[str, str]:
    """Ask for the provider's key(s) without echoing them and set them for this process;
    with `save`, also write them to `env_file`. Returns {name: masked value}, and with `save`
    also 'file': what git makes of that file."""
    values: dict[str, str] = {}
    for name in login_envs(provider):
        value = getpass.getpass(f"{name} for {provider} (typing is hidden): ").strip()
        if not value:
            raise errors.ConfigurationError(f"nothing was entered for {name}; nothing changed",
                                            provider=provider, hint="run %glm login again")
        if any(c.isspace() for c in value) or not value.isprintable():
            raise errors.ConfigurationError(f"the value entered for {name} has spaces or "
                                            "control characters; nothing changed",
                                            provider=provider, hint="paste the key alone")
        values[name] = value
    masked = {name: mask(value) for name, value in values.items()}
    if save:  # first: a refused file changes nothing, not even this session
        for value in values.values():
            register(value)
        masked["file"] = write_env(Path(env_file), values)
    for name, value in values.items():
        register(value)
        os.environ[name] = value
    return masked


def write_env(path: Path, values: dict[str, str]) -> str:
    """Set `values` in a .env file: other lines kept, the file replaced atomically with mode
    0600 (readable by its owner only), and git-ignored in a git repository. A symlinked `.env`
    is refused (writing through it would put the key in the file it points to, perhaps a
    tracked one or one outside the project). Returns what git makes of the file."""
    if path.is_symlink():
        raise errors.ConfigurationError(
            f"{path} is a symlink (to {os.readlink(path)}); not writing a key through it",
            hint="remove the link, or keep the key in your environment: %glm login without "
                 "--save")
    path = path.absolute()
    if _tracked(path):
        raise errors.ConfigurationError(
            f"{path} is tracked by git: the key would be committed; nothing written",
            hint="git rm --cached .env and add it to .gitignore, or use %glm login without "
                 "--save")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    keep = [ln for ln in lines if _assigned(ln) not in values]
    keep += [f"{name}={value}" for name, value in values.items()]
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(keep) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)
    return _ignore_in_git(path)


def _assigned(line: str) -> str | None:
    m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
    return m.group(1) if m else None


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def _in_repository(folder: Path) -> bool:
    return any((p / ".git").exists() for p in (folder, *folder.parents))


def _tracked(path: Path) -> bool:
    if not _in_repository(path.parent):
        return False
    done = _git(path.parent, "ls-files", "--error-unmatch", "--", path.name)
    return done is not None and done.returncode == 0


def _ignore_in_git(path: Path) -> str:
    """Make sure git ignores the file: asked of git itself (`git check-ignore`, which knows
    negations such as `!.env` and every ignore file); when it is not ignored, its name is added
    to `.gitignore` beside it and git is asked again. Returns 'not in a repository',
    'git-ignored', 'git-ignored (added to .gitignore)' or a plain warning."""
    folder = path.parent
    if not _in_repository(folder):
        return "not in a repository"
    if _ignored(path):
        return "git-ignored"
    ignore = folder / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    ignore.write_text(text + ("" if not text or text.endswith("\n") else "\n") +
                      f"{path.name}\n", encoding="utf-8")
    if _ignored(path):
        return "git-ignored (added to .gitignore)"
    return (f"WARNING: git does not ignore {path.name} even after adding it to .gitignore: "
            "the key would be committed; check .gitignore (a later `!` line?)")


def _ignored(path: Path) -> bool:
    """Asked of git; where git cannot answer (no git, or not a working repository), the
    `.gitignore` beside the file is read, the last matching line winning (`!` negates)."""
    done = _git(path.parent, "check-ignore", "-q", "--", path.name)
    if done is not None and done.returncode in (0, 1):
        return done.returncode == 0
    from fnmatch import fnmatch

    ignore = path.parent / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    verdict = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if fnmatch(path.name, line.lstrip("!").lstrip("/")):
            verdict = not negated
    return verdict


def env_magic_warning(cell: str) -> str | None:
    """The warning for a cell that sets a key with `%env NAME=value` (None when it does not)."""
    for m in _ENV_LINE.finditer(cell or ""):
        name = m.group(1)
        if _SECRET_NAME.search(name):
            return (f"glm-magic: %env {name}=… puts the key in this cell's source and IPython "
                    "prints it into the saved output: clear that output and the line, and use "
                    "%glm login instead (it asks without echoing)")
    return None


def warn_on_env_keys(info: Any) -> None:
    """IPython `pre_run_cell` hook."""
    warning = env_magic_warning(getattr(info, "raw_cell", "") or "")
    if warning:
        print(warning, file=sys.stderr)
