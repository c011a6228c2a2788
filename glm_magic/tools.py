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


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: not isinstance(v, bool) and (
        isinstance(v, int) or isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def check_arguments(fn: Callable[..., Any], args: dict[str, Any]) -> str | None:
    """What is wrong with the model's arguments for `fn` (unknown or missing names, wrong
    JSON types, values outside an enum), or None: the function runs only on valid input."""
    params = tool_schema(fn)["function"]["parameters"]
    props, required = params["properties"], params["required"]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    unknown = [k for k in args if k not in props]
    if unknown and not accepts_any:
        return f"unknown argument(s) {', '.join(map(repr, unknown))}; expected {list(props)}"
    missing = [k for k in required if k not in args]
    if missing:
        return f"missing required argument(s) {', '.join(map(repr, missing))}"
    for k, v in args.items():
        schema = props.get(k) or {}
        kind = schema.get("type")
        if kind in _CHECKS and not _CHECKS[kind](v):
            return f"argument {k!r} must be a JSON {kind}, not {type(v).__name__}"
        if "enum" in schema and v not in schema["enum"]:
            return f"argument {k!r} must be one of {schema['enum']}, not {v!r}"
        items = (schema.get("items") or {}).get("type")
        if kind == "array" and items in _CHECKS and not all(_CHECKS[items](x) for x in v):
            return f"argument {k!r} must be an array of {items}"
    return None


def call_tool(fn: Callable[..., Any] | None, name: str, arguments: str) -> str:
    """Run one tool call whose arguments match the function's schema; any failure (bad
    arguments included) becomes the result text, so the model can react and try again."""
    if fn is None:
        return f"error: there is no tool named {name!r}"
    try:
        args = json.loads(arguments) if arguments and arguments.strip() else {}
    except (ValueError, RecursionError) as exc:
        return f"error: {type(exc).__name__}: {exc} (send the arguments as a JSON object)"
    if not isinstance(args, dict):
        return "error: the arguments must be a JSON object"
    problem = check_arguments(fn, args)
    if problem:
        return f"error: {problem}; the function was not called"
    try:
        result = fn(**args)
    except Exception as exc:  # sent back to the model, never crashes the cell
        return f"error: {type(exc).__name__}: {exc}"
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)
