"""`{name}` / `{df.head()}` substitution in prompts that never breaks on other braces.

Only a brace pair holding a *reference* — a name from the namespace, optionally followed by
attribute access, indexing or calls — is replaced. Dict literals, JSON, code with braces and
unknown names are left exactly as written; `{{` and `}}` give literal braces."""

from __future__ import annotations

import ast
import re
from typing import Any

_FIELD = re.compile(r"\{([^{}\n]{1,200})\}")
_ESC_OPEN, _ESC_CLOSE = "\x00glm-open\x00", "\x00glm-close\x00"


def _root_name(node: ast.AST) -> str | None:
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return None


def _reference(expr: str, ns: dict[str, Any]) -> bool:
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return False
    root = _root_name(tree.body)
    return root is not None and root in ns


def interpolate(text: str, ns: dict[str, Any]) -> str:
    """Replace `{ref}` fields whose root name is in `ns`; leave everything else alone."""
    if "{" not in text:
        return text.replace("}}", "}")
    text = text.replace("{{", _ESC_OPEN).replace("}}", _ESC_CLOSE)

    def sub(m: re.Match[str]) -> str:
        expr = m.group(1)
        if not _reference(expr, ns):
            return m.group(0)
        try:
            value = eval(expr.strip(), ns)  # noqa: S307 — the user's own namespace, like IPython's {}
        except Exception:
            return m.group(0)
        return str(value)

    out = _FIELD.sub(sub, text)
    return out.replace(_ESC_OPEN, "{").replace(_ESC_CLOSE, "}")
