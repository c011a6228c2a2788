"""Function calling made small: turn plain Python functions into tool schemas (from their
signature, type hints and docstring) and run them when the model asks."""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
               list: "array", tuple: "array", dict: "object"}


def _schema_for(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return {"type": "string", "enum": list(typing.get_args(tp))}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _schema_for(args[0]) if len(args) == 1 else {}
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return {"type": "array", **({"items": _schema_for(args[0])} if args else {})}
    if origin is dict:
        return {"type": "object"}
    return {"type": _JSON_TYPES[tp]} if tp in _JSON_TYPES else {}


def _param_docs(doc: str) -> dict[str, str]:
    """`name: text` or `name (type): text` lines (Google/NumPy-ish Args sections)."""
    out = {}
    for line in doc.splitlines():
        m = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)", line)
        if m and not line.strip().lower().startswith(("args", "returns", "raises")):
            out[m.group(1)] = m.group(2).strip()
    return out


def tool_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The `{"type": "function", "function": {...}}` schema of a plain Python function."""
    doc = inspect.getdoc(fn) or ""
    summary = doc.split("\n\n")[0].replace("\n", " ").strip()
    pdocs = _param_docs(doc)
    hints = typing.get_type_hints(fn)
    props: dict[str, Any] = {}
    required = []
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        schema = _schema_for(hints.get(name, str)) or {"type": "string"}
        if name in pdocs:
            schema["description"] = pdocs[name]
        props[name] = schema
        if p.default is p.empty:
            required.append(name)
    return {"type": "function", "function": {
        "name": fn.__name__, "description": summary or fn.__name__,
        "parameters": {"type": "object", "properties": props, "required": required}}}


def call_tool(fn: Callable[..., Any] | None, name: str, arguments: str) -> str:
    """Run one tool call; any failure becomes the result text, so the model can react."""
    if fn is None:
        return f"error: there is no tool named {name!r}"
    try:
        args = json.loads(arguments) if arguments and arguments.strip() else {}
        if not isinstance(args, dict):
            raise TypeError("arguments must be a JSON object")
        result = fn(**args)
    except Exception as exc:  # sent back to the model, never crashes the cell
        return f"error: {type(exc).__name__}: {exc}"
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)
