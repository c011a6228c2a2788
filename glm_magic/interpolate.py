"""`{name}` substitution in prompts that never runs code the user did not mark, and never
changes braces it does not substitute.

- `{name}`, `{obj.attr}`, `{rows[0]}`, `{df['col']}`: a *reference* (a name from the
  namespace, then attribute access or subscripts with literal keys) is replaced by its value.
- `{=expr}`: an *expression field*, evaluated in the namespace (`{=df.head()}`,
  `{=sum(numbers)}`). Only this marker runs calls or operators, so pasted code such as
  `f"{os.remove(path)}"` is sent as written, and nothing is deleted, dropped or popped.
- `{{name}}` gives a literal `{name}`; every other brace (JSON, dicts, code) is sent exactly
  as typed, `}}` included.
- A field that looks like a reference but names nothing (`{nmae}`) is sent as written, with a
  notice naming the nearest variable."""

from __future__ import annotations

import ast
import difflib
import re
from typing import Any

from .prompt_values import prompt_text

# `{{ref}}` (an escaped field), `{=expr}`, or `{ref}`; one line, at most 200 characters
_FIELD = re.compile(r"\{\{([^{}\n]{1,200})\}\}|\{=([^\n]{1,200}?)\}(?!\})|\{([^{}\n]{1,200})\}")


class _NotAReference(Exception):
    pass


def _resolve(node: ast.AST, ns: dict[str, Any]) -> Any:
    """The value of a reference; anything that would call or operate is not one."""
    if isinstance(node, ast.Name):
        if node.id not in ns:
            raise KeyError(node.id)
        return ns[node.id]
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise _NotAReference
        return getattr(_resolve(node.value, ns), node.attr)
    if isinstance(node, ast.Subscript):
        return _resolve(node.value, ns)[_literal(node.slice)]
    raise _NotAReference


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
            isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int):
        return -node.operand.value
    raise _NotAReference


def _reference(expr: str) -> ast.AST | None:
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return None
    body = tree.body
    return body if isinstance(body, (ast.Name, ast.Attribute, ast.Subscript)) else None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def interpolate(text: str, ns: dict[str, Any], notices: list[str] | None = None,
                budget: int | None = None) -> str:
    """Replace reference fields and `{=expr}` fields from `ns`; leave every other character
    as written. Problems (unknown names, failing expressions) and values cut to the `budget`
    (tokens per value: DataFrames, long strings, …) are appended to `notices`."""
    if "{" not in text:
        return text

    def note(message: str) -> None:
        if notices is not None and message not in notices:
            notices.append(message)

    def sub(m: re.Match[str]) -> str:
        escaped, expr, ref = m.group(1), m.group(2), m.group(3)
        if escaped is not None:  # `{{name}}` → `{name}`; `{{"a": 1}}` stays as typed
            return "{" + escaped + "}" if _reference(escaped) is not None else m.group(0)
        if expr is not None:
            try:
                value = eval(expr.strip(), ns)  # noqa: S307 — the user marked it with `=`
                return prompt_text(value, "=" + expr.strip(), budget, note)
            except Exception as exc:
                note(f"{{={expr.strip()}}} failed ({type(exc).__name__}: {exc}); sent as written")
                return m.group(0)
        node = _reference(ref)
        if node is None:
            return m.group(0)
        try:
            return prompt_text(_resolve(node, ns), ref.strip(), budget, note)
        except _NotAReference:
            return m.group(0)
        except KeyError as exc:
            name = _root(node)
            if name is not None and name not in ns:
                near = difflib.get_close_matches(name, [k for k in ns if not k.startswith("_")],
                                                 n=1, cutoff=0.75)
                hint = f" (did you mean {{{near[0]}}}?)" if near else ""
                note(f"{{{ref.strip()}}}: no variable {name!r}{hint}; sent as written")
                return m.group(0)
            note(f"{{{ref.strip()}}}: no key {exc}; sent as written")
            return m.group(0)
        except (AttributeError, IndexError, TypeError) as exc:
            note(f"{{{ref.strip()}}}: {type(exc).__name__}: {exc}; sent as written")
            return m.group(0)

    return _FIELD.sub(sub, text)
