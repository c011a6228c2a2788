"""Module paths from before the package was layered (`glm_magic.sessions`, `glm_magic.ledger`,
…) keep importing: each old name is the new module itself (one object, so `monkeypatch` and
`isinstance` see the same thing). Public names never moved; this keeps user code and saved
notebooks that reached into a module working."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

MOVED = {
    "client": "core.client", "transport": "core.transport", "streams": "core.streams",
    "responses": "core.responses", "resources": "core.resources",
    "pricing": "accounting.pricing", "recording": "accounting.recording",
    "ledger": "accounting.ledger", "ledger_pg": "accounting.ledger_pg",
    "usage_analysis": "accounting.usage_analysis",
    "sessions": "calls.sessions", "settings": "calls.settings",
    "conversation": "calls.conversation", "client_pool": "calls.client_pool",
    "structured": "calls.structured", "tool_loop": "calls.tool_loop",
    "tasks": "calls.tasks", "image_generation": "calls.image_generation",
    "project_files": "calls.project_files", "live": "render.live",
    "magics": "magic.magics", "commands": "magic.commands", "subcommands": "magic.subcommands",
    "cell_errors": "magic.cell_errors", "fix": "magic.fix", "login": "magic.login",
    "widget": "panel.widget", "batch_api": "batching.batch_api",
    "batch_dask": "batching.batch_dask",
}
PREFIX = "glm_magic."


def moved_to(fullname: str) -> str | None:
    """The module's new name, when `fullname` is (inside) an old one."""
    if not fullname.startswith(PREFIX):
        return None
    rest = fullname[len(PREFIX):]
    head, _, tail = rest.partition(".")
    new = MOVED.get(head)
    if new is None:
        return None
    return PREFIX + new + (f".{tail}" if tail else "")


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        return None  # the real module already ran


class MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        new = moved_to(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())
