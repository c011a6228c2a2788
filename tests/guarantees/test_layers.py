"""The package's shape: no import cycle in its real import graph (function-level imports
included), the layer rule as `lint-imports` enforces it, no private name imported across
modules, and a public surface that the layering left exactly as it was."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import glm_magic

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "glm_magic"


def _graph():
    grimp = pytest.importorskip("grimp")
    # imports under `if TYPE_CHECKING:` never run, so they cannot make a cycle
    return grimp.build_graph("glm_magic", include_external_packages=False,
                             exclude_type_checking_imports=True)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_one():  # the check above can fail
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_lint_imports_keeps_the_layers():
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed")
    done = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def test_the_contract_ignores_no_import():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    contract = text[text.index("[tool.importlinter]"):]
    assert "ignore_imports" not in contract


def test_no_private_name_is_imported_across_modules():
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                module_itself = node.module is None  # `from . import _common`: a module
                if private and not module_itself:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}")
    assert hits == []


# --- the public surface did not move ----------------------------------------------------------
PUBLIC = ["APIConnectionError", "APITimeoutError", "AsyncClient", "AuthenticationError",
          "BadRequestError", "BudgetExceededError", "CacheMissError", "ChatPanel", "Client",
          "ConfigurationError",
          "ContentFilterError", "GLMError", "NotFoundError", "PermissionDeniedError",
          "ProtocolError", "QuotaExceededError", "RateLimitError", "ServerError", "Session",
          "abatch", "batch", "BatchJob", "batch_job", "cost_summary", "evaluate", "embed", "aembed",
          "similar", "load_ipython_extension", "plot_usage", "session",
          "unload_ipython_extension", "usage"]


def test_the_public_names_are_the_same():
    assert sorted(glm_magic.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(glm_magic, name) is not None, name
    assert callable(glm_magic.batch) and callable(glm_magic.embed)  # not shadowed by packages
    assert glm_magic.pricing.cost and glm_magic.errors.GLMError
    from glm_magic.magics import GLMMagics

    from glm_magic.compat import dashscope, openai, qianfan, zhipuai, zhipuai_v1  # noqa: F401
    from glm_magic.providers import register_provider  # noqa: F401
    from glm_magic.testing import FakeGLM  # noqa: F401

    assert GLMMagics.__name__ == "GLMMagics"


@pytest.mark.parametrize("old", sorted(glm_magic._moved.MOVED))
def test_module_paths_from_before_the_layers_still_import(old):
    import importlib

    module = importlib.import_module(f"glm_magic.{old}")
    assert module is importlib.import_module(glm_magic._moved.moved_to(f"glm_magic.{old}"))
    assert getattr(glm_magic, old) is module


def test_every_name_the_readme_shows_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(r"glm_magic\.([A-Za-z_][A-Za-z0-9_]*)\(", readme))
    for found in re.findall(r"from glm_magic import ([A-Za-z_][A-Za-z0-9_, ]*)", readme):
        names |= {n.strip() for n in found.split(",") if n.strip()}
    assert {"usage", "batch", "embed"} <= names
    for name in names:
        assert hasattr(glm_magic, name), name
