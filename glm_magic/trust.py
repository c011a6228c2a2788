"""Which source may set what: the one table every reader of a setting, an environment variable
or a file consults.

A notebook is often opened from a repository somebody else wrote, so the files in a project
folder (its `pyproject.toml` and its `.env`) are untrusted input. They may choose display and
model defaults; they may not choose where keys or data go, what is logged, what renders,
prices, spending limits or the system prompt. The user's own sources (code, `%config`, the
process environment, the user's config dir) may set everything. `%glm trust` lets the user
accept a project file's other settings, remembered by the file's content hash.

`docs/security.md` prints this table; `tests/guarantees/test_trust.py` walks every setting and every
environment variable the package reads and checks each is declared here.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

# the sources a value can come from
CODE = "code"                # an argument in user code
CONFIG = "config"            # %config / ipython_config.py
ENVIRONMENT = "environment"  # the process environment the user started the kernel with
USER_CONFIG = "user_config"  # $XDG_CONFIG_HOME/glm-magic/config.toml
PYPROJECT = "pyproject"      # [tool.glm_magic] in the project's pyproject.toml
DOTENV = "dotenv"            # the project's .env

USER_SOURCES = frozenset({CODE, CONFIG, ENVIRONMENT, USER_CONFIG})
PROJECT_SOURCES = frozenset({PYPROJECT, DOTENV})


@dataclass(frozen=True)
class Rule:
    """What one setting or variable decides (`kind`) and the sources it may come from."""

    name: str
    kind: str
    sources: frozenset[str]

    @property
    def project_may_set(self) -> bool:
        return bool(self.sources & PROJECT_SOURCES)


def _rules(kind: str, sources: frozenset[str], *names: str) -> dict[str, Rule]:
    return {n: Rule(n, kind, sources) for n in names}


_DEFAULTS = USER_SOURCES | {PYPROJECT}
_USER = USER_SOURCES

# every `%config GLMSettings.x` / `GLMMagics.x` setting
SETTINGS: dict[str, Rule] = {
    **_rules("display default", _DEFAULTS,
             "stream", "format", "show_footer", "output", "interpolate"),
    **_rules("model default", _DEFAULTS,
             "provider", "model", "temperature", "max_history_tokens", "max_context_tokens",
             "timeout", "max_retries"),
    **_rules("system prompt", _USER, "system"),
    **_rules("where data goes", _USER, "ledger_path", "providers", "cache_path"),
    **_rules("what answers", _USER, "cache", "cache_max_mb"),
    **_rules("what is logged", _USER, "log_text"),
    **_rules("what renders", _USER, "allow_remote_images"),
    **_rules("prices and spending", _USER, "budget", "exchange_rate"),
}

# every environment variable the package reads. A project `.env` may hold a provider's key and
# base URL (a base URL from a file gets a key only from that same file: `check_destination`);
# nothing else in it is read, and none of it reaches `os.environ`.
_CREDENTIAL = USER_SOURCES | {DOTENV}
ENVIRONMENT_VARIABLES: dict[str, Rule] = {
    **_rules("credential", _CREDENTIAL,
             "ZHIPUAI_API_KEY", "OPENAI_API_KEY", "QIANFAN_AK", "QIANFAN_SK",
             "QIANFAN_ACCESS_KEY", "QIANFAN_SECRET_KEY", "DASHSCOPE_API_KEY",
             "QIANFAN_API_KEY", "DEEPSEEK_API_KEY", "OLLAMA_API_KEY", "LLAMA_API_KEY",
             "ZAI_API_KEY"),
    **_rules("base URL", _CREDENTIAL,
             "ZHIPUAI_BASE_URL", "ZHIPUAI_V3_BASE_URL", "OPENAI_BASE_URL", "QIANFAN_BASE_URL",
             "DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL", "QIANFAN_V2_BASE_URL",
             "DASHSCOPE_COMPAT_BASE_URL", "DEEPSEEK_BASE_URL", "OLLAMA_BASE_URL",
             "LLAMACPP_SERVER_BASE_URL", "ZAI_BASE_URL"),
    **_rules("where data goes", _USER, "GLM_MAGIC_LEDGER", "XDG_DATA_HOME", "XDG_CONFIG_HOME",
             "JPY_SESSION_NAME"),
    **_rules("prices and spending", _USER, "GLM_MAGIC_PRICES"),
    **_rules("code that runs", _USER, "GLM_MAGIC_LOCAL_MODEL"),
}

# the files the package reads, and whose they are
FILES: dict[str, str] = {
    "pyproject.toml [tool.glm_magic]": "project: display and model defaults only",
    ".env": "project: provider keys and base URLs only, never os.environ",
    "$XDG_CONFIG_HOME/glm-magic/config.toml": "user: every setting",
    "$XDG_CONFIG_HOME/glm-magic/trusted.json": "user: project files accepted by %glm trust",
    "$XDG_DATA_HOME/glm-magic/prices.toml": "user: price overrides",
    "job files (batch resume, Batch API)": "checked: their rows must match the job's rows",
    "caches (embeddings)": "keyed on provider, endpoint, model and dimensions; checked vectors",
    "response cache (`%glm cache`)": "untrusted: an entry must hash to its key; answers are "
                                     "checked and rendered like live ones",
}


_REGISTERED_CREDENTIALS: set[str] = set()  # key and base-URL names of registered providers


def allow_from_dotenv(*names: str | None) -> None:
    """A provider registered at run time (`register_provider`) declares its key and base-URL
    variables: they follow the credential rule of the built-in ones."""
    _REGISTERED_CREDENTIALS.update(n for n in names if n)


def dotenv_names() -> frozenset[str]:
    """The environment variable names a project `.env` may supply: the credentials and base
    URLs above, and those of providers registered in user code."""
    return frozenset({n for n, r in ENVIRONMENT_VARIABLES.items() if DOTENV in r.sources}
                     | _REGISTERED_CREDENTIALS)


def split_project_settings(values: dict[str, object]) -> tuple[dict[str, object],
                                                                dict[str, object]]:
    """(allowed, held back) of settings read from a project file. Unknown names are left in
    `allowed` for the caller to report as unknown."""
    allowed: dict[str, object] = {}
    held: dict[str, object] = {}
    for name, value in values.items():
        rule = SETTINGS.get(name)
        (held if rule is not None and PYPROJECT not in rule.sources else allowed)[name] = value
    return allowed, held


# --- what %glm trust remembers ------------------------------------------------------------
def config_dir() -> Path:
    """The user's config dir for glm-magic (`$XDG_CONFIG_HOME/glm-magic`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "glm-magic"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _trusted_file() -> Path:
    return config_dir() / "trusted.json"


def _trusted() -> dict[str, str]:
    try:
        data = json.loads(_trusted_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(data, dict) else {}


def is_trusted(path: Path) -> bool:
    """True when the user accepted this file as it is now (same path, same content)."""
    try:
        return _trusted().get(str(path.resolve())) == file_digest(path)
    except OSError:
        return False


def remember_trusted(path: Path) -> None:
    """Record the file's content hash as accepted; a later change asks again."""
    entries = _trusted()
    entries[str(path.resolve())] = file_digest(path)
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trusted.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=1, sort_keys=True)
    os.replace(tmp, _trusted_file())


def table_markdown() -> str:
    """The trust table as Markdown, for docs/security.md and `%glm trust --table`."""
    def row(rule: Rule) -> str:
        who = "project files too" if rule.project_may_set else "user only"
        srcs = ", ".join(sorted(rule.sources))
        return f"| `{rule.name}` | {rule.kind} | {who} | {srcs} |"

    lines = ["| setting | decides | who may set it | sources |", "|---|---|---|---|"]
    lines += [row(r) for r in SETTINGS.values()]
    lines += ["", "| environment variable | decides | who may set it | sources |",
              "|---|---|---|---|"]
    lines += [row(r) for r in ENVIRONMENT_VARIABLES.values()]
    return "\n".join(lines)
