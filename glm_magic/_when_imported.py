"""Run a function once a module is imported — now, if it already is. `import glm_magic` stays
light (no pandas), yet `df.glm` exists as soon as pandas does, whichever is imported first."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

_waiting: dict[str, list[Callable[[], None]]] = {}


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the real loader of a watched module so the callbacks run
    right after the module has executed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _waiting:
            return None
        sys.meta_path.remove(self)  # look the module up without us
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            for callback in _waiting.pop(name, []):
                callback()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_FINDER = _Finder()


def when_imported(name: str, callback: Callable[[], None]) -> None:
    """`callback()` once module `name` is imported (at once when it already is)."""
    if name in sys.modules:
        callback()
        return
    _waiting.setdefault(name, []).append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
