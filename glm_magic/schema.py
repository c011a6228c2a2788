"""What a structured answer must look like. A schema is written as a dict of field → type
(`{"sentiment": ["pos", "neg"], "score": float, "tags": list[str], "spam": bool}`, a list
meaning an enum), as a JSON Schema, or as a pydantic model class; it becomes one JSON Schema
that is sent to the provider, checked locally (jsonschema), and mapped to typed pandas
columns."""

from __future__ import annotations

import functools
import json
import re
import types
import typing
import weakref
from dataclasses import dataclass
from typing import Any

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
           dict: "object"}
# type names for specs written as JSON (`--schema '{"score": "float"}'`)
_NAMES = {"str": "string", "string": "string", "text": "string", "int": "integer",
          "integer": "integer", "float": "number", "number": "number", "bool": "boolean",
          "boolean": "boolean", "list": "array", "array": "array", "dict": "object",
          "object": "object"}
SCHEMA_NAME = "answer"


class SchemaError(ValueError):
    """A schema that cannot be understood; the message says which field and why."""


@dataclass
class Field:
    """One top-level field and the pandas dtype of its column."""

    name: str
    schema: dict[str, Any]

    @property
    def kind(self) -> str:
        s = _non_null(self.schema)
        if "enum" in s and all(isinstance(v, str) for v in s["enum"]):
            return "category"
        t = s.get("type")
        return t if isinstance(t, str) else "object"

    def dtype(self) -> Any:
        import pandas as pd

        kind = self.kind
        if kind == "category":
            return pd.CategoricalDtype(list(_non_null(self.schema)["enum"]))
        return {"integer": "Int64", "number": "float64", "boolean": "boolean",
                "string": "string"}.get(kind, "object")


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` written as anyOf [X, null]: the X part."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
        if len(real) == 1:
            return real[0]
    return schema


def _type_schema(name: str, spec: Any) -> dict[str, Any]:
    """The JSON Schema of one field written the short way."""
    if isinstance(spec, list):
        if not spec:
            raise SchemaError(f"field {name!r}: an enum needs at least one value")
        if all(isinstance(v, str) for v in spec):
            return {"type": "string", "enum": list(spec)}
        return {"enum": list(spec)}
    if isinstance(spec, str):
        if spec.startswith("list[") and spec.endswith("]"):
            return {"type": "array", "items": _type_schema(name, spec[5:-1])}
        if spec.lower() in _NAMES:
            return {"type": _NAMES[spec.lower()]}
        raise SchemaError(f"field {name!r}: unknown type {spec!r} (use str, int, float, bool, "
                          "list[str], dict, or a list of allowed values)")
    if isinstance(spec, dict):
        return object_schema(spec)
    if isinstance(spec, type) and spec in _SIMPLE:
        return {"type": _SIMPLE[spec]}
    origin, args = typing.get_origin(spec), typing.get_args(spec)
    if origin is list and args:
        return {"type": "array", "items": _type_schema(name, args[0])}
    if origin is dict and len(args) == 2:
        return {"type": "object", "additionalProperties": _type_schema(name, args[1])}
    if origin is typing.Literal:
        return _type_schema(name, list(args))
    if origin in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        if len(real) == 1 and len(args) == 2:
            return {"anyOf": [_type_schema(name, real[0]), {"type": "null"}]}
    raise SchemaError(f"field {name!r}: cannot use {spec!r} as a type (use str, int, float, "
                      "bool, list[str], dict, a list of allowed values, or a nested dict)")


def object_schema(fields: dict[str, Any]) -> dict[str, Any]:
    """{field: type} → a strict JSON Schema object (every field required, no others)."""
    if not fields:
        raise SchemaError("a schema needs at least one field")
    props = {}
    for name, spec in fields.items():
        if not isinstance(name, str) or not name:
            raise SchemaError(f"field names must be non-empty strings, not {name!r}")
        props[name] = _type_schema(name, spec)
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def _is_json_schema(spec: dict[str, Any]) -> bool:
    return "$schema" in spec or (spec.get("type") == "object" and
                                 isinstance(spec.get("properties"), dict))


def _is_pydantic(spec: Any) -> bool:
    return isinstance(spec, type) and hasattr(spec, "model_json_schema") and \
        hasattr(spec, "model_validate")


class Schema:
    """A checked answer shape. `Schema.of(spec)` accepts every form users write."""

    def __init__(self, json_schema: dict[str, Any], *, name: str = SCHEMA_NAME,
                 model: Any = None) -> None:
        import jsonschema

        try:
            jsonschema.validators.validator_for(json_schema).check_schema(json_schema)
        except jsonschema.SchemaError as err:
            raise SchemaError(f"not a valid JSON Schema: {err.message}") from None
        self.json_schema = json_schema
        self.name = name
        self.model = model  # the pydantic class, when the schema came from one
        self._validator = _bounded(jsonschema.validators.validator_for(json_schema))(
            json_schema)
        self._simple = _simple(json_schema)  # checkable by the fast path below
        self._instruction: str | None = None
        _MADE[id(json_schema)] = self
        props = json_schema.get("properties") if json_schema.get("type") == "object" else None
        self.fields = [Field(k, v) for k, v in (props or {}).items() if isinstance(v, dict)]

    @classmethod
    def of(cls, spec: Any) -> Schema:
        """A Schema from a field dict, a JSON Schema dict, a pydantic model class, an OpenAI
        `response_format` dict, or a JSON string of any of the dicts."""
        if isinstance(spec, Schema):
            return spec
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except ValueError as exc:
                raise SchemaError(f"the schema is not valid JSON ({exc})") from None
        if _is_pydantic(spec):
            return cls(spec.model_json_schema(), name=spec.__name__, model=spec)
        if not isinstance(spec, dict):
            raise SchemaError("a schema is a dict of field → type, a JSON Schema dict, or a "
                              f"pydantic model class, not {type(spec).__name__}")
        if spec.get("type") == "json_schema" and isinstance(spec.get("json_schema"), dict):
            inner = spec["json_schema"]
            made = _MADE.get(id(inner.get("schema")))
            if made is not None and made.json_schema is inner.get("schema"):
                return made  # our own response_format, met again
            return _known(json.dumps(inner.get("schema") or {}, sort_keys=True),
                          inner.get("name") or SCHEMA_NAME)
        if _is_json_schema(spec):
            return _known(json.dumps(spec, sort_keys=True), SCHEMA_NAME)
        return cls(object_schema(spec))

    def __repr__(self) -> str:
        return f"<Schema {self.name} fields={[f.name for f in self.fields]}>"

    def label_fields(self) -> list[str]:
        """The fields that hold a label, which several models' answers can be compared on
        (cascades): the enum fields, else the boolean ones."""
        enum = [f.name for f in self.fields if f.kind == "category"]
        return enum or [f.name for f in self.fields if f.kind == "boolean"]

    # --- in the request ------------------------------------------------------------------
    def response_format(self) -> dict[str, Any]:
        """The OpenAI form: `{"type": "json_schema", "json_schema": {...}}`."""
        strict = self.json_schema.get("additionalProperties") is False
        return {"type": "json_schema", "json_schema": {
            "name": _safe_name(self.name), "schema": self.json_schema, "strict": strict}}

    def text(self) -> str:
        return json.dumps(self.json_schema, ensure_ascii=False, separators=(",", ":"))

    def instruction(self) -> str:
        """The schema stated in words, for APIs that only promise *some* JSON object."""
        if self._instruction is None:
            self._instruction = ("Reply with only a JSON object (no prose, no code fence) "
                                 f"that matches this JSON Schema:\n{self.text()}")
        return self._instruction

    # --- in the answer -------------------------------------------------------------------
    def parse(self, text: str | None) -> tuple[Any, str | None]:
        """(value, None) for a valid answer — a dict, or the pydantic instance — else
        (None, what is wrong). Near misses are mended first: a code fence around the JSON,
        "0.8" for a number, "True" for a boolean, "Positive" for the enum value "positive"."""
        data, problem = extract_json(text)
        if problem:
            return None, problem
        data = _coerce(data, self.json_schema)
        error = self.first_error(data)
        if error:
            return None, error
        if self.model is not None:
            try:
                return self.model.model_validate(data), None
            except Exception as exc:  # pydantic's own validators (beyond the JSON Schema)
                return None, _one_line(str(exc))
        return data, None

    def first_error(self, data: Any) -> str | None:
        import jsonschema

        if self._simple and _fast_valid(data, self.json_schema):
            return None  # the common case, at a fraction of the general validator's cost
        err = jsonschema.exceptions.best_match(self._validator.iter_errors(data))
        if err is None:
            return None
        where = "/".join(str(p) for p in err.absolute_path)
        return _one_line(f"{where}: {err.message}" if where else err.message)

    def columns(self, values: list[Any], index: Any) -> Any:
        """One typed column per field (a DataFrame aligned with `index`); rows without a
        valid value are missing (NA), never a made-up value."""
        import pandas as pd

        records = [_as_dict(v) for v in values]
        out = {}
        for f in self.fields:
            raw = [r.get(f.name) if r is not None else None for r in records]
            dtype = f.dtype()
            if f.kind in ("array", "object"):
                out[f.name] = pd.Series(raw, index=index, dtype="object")
            else:
                out[f.name] = pd.Series(raw, index=index, dtype="object").astype(dtype)
        return pd.DataFrame(out, index=index)


PATTERN_TIMEOUT_S = 0.1  # a pattern check that backtracks longer than this is a refusal


def _bounded_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """The `pattern` keyword with a time limit (the `regex` module's timeout): a schema
    pattern such as `^(a+)+$` cannot be made to backtrack for seconds by an answer."""
    import jsonschema
    import regex

    if not validator.is_type(instance, "string"):
        return
    try:
        found = regex.search(pattern, instance, timeout=PATTERN_TIMEOUT_S)
    except TimeoutError:
        yield jsonschema.ValidationError(
            f"{instance[:40]!r} took too long to check against the pattern {pattern!r}")
        return
    except regex.error:
        found = re.search(pattern, instance)
    if not found:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.lru_cache(maxsize=8)
def _bounded(cls: Any) -> Any:
    import jsonschema

    return jsonschema.validators.extend(cls, {"pattern": _bounded_pattern})


_MADE: weakref.WeakValueDictionary[int, Schema] = weakref.WeakValueDictionary()
_SIMPLE_KEYS = {"type", "properties", "required", "additionalProperties", "enum", "items",
                "title", "description"}
_TYPES = {"string": (str,), "boolean": (bool,), "object": (dict,), "array": (list,)}


def _simple(schema: Any) -> bool:
    """True when the schema uses only what `_fast_valid` checks exactly."""
    if not isinstance(schema, dict) or not set(schema) <= _SIMPLE_KEYS:
        return False
    if not isinstance(schema.get("type", ""), str) or \
            not isinstance(schema.get("enum", []), list) or \
            not isinstance(schema.get("additionalProperties", False), bool):
        return False
    props = schema.get("properties", {})
    if not isinstance(props, dict) or not all(_simple(v) for v in props.values()):
        return False
    return "items" not in schema or _simple(schema["items"])


def _fast_valid(value: Any, schema: dict[str, Any]) -> bool:
    """A conservative check of a simple schema: True only when the value is certainly valid
    (anything doubtful goes to jsonschema, which also writes the message)."""
    if "enum" in schema and not any(value == e and type(value) is type(e)
                                    for e in schema["enum"]):
        return False
    t = schema.get("type")
    if t == "integer":
        return type(value) is int
    if t == "number":
        return type(value) in (int, float)
    if t is not None and type(value) not in _TYPES.get(t, ()):
        return False
    if t == "object":
        props = schema.get("properties", {})
        if any(k not in value for k in schema.get("required", ())):
            return False
        closed = schema.get("additionalProperties", True) is False
        return all(_fast_valid(v, props[k]) if k in props else not closed
                   for k, v in value.items())
    if t == "array" and "items" in schema:
        return all(_fast_valid(v, schema["items"]) for v in value)
    return True


@functools.lru_cache(maxsize=64)
def _known(schema_text: str, name: str) -> Schema:
    """A schema met before (every request of a batch carries the same one) is not checked
    and compiled again."""
    return Schema(json.loads(schema_text), name=name)


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return value if isinstance(value, dict) else None


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or SCHEMA_NAME


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


MAX_DEPTH = 64  # far beyond any answer shape; Python's parser would recurse past its limit
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


def nesting_depth(text: str) -> int:
    """How deep `[` / `{` nest in JSON-ish text (brackets inside strings do not count),
    measured without recursion, so a hostile answer cannot raise RecursionError."""
    depth = deepest = 0
    for ch in _STRINGS.sub("", text):
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}" and depth:
            depth -= 1
    return deepest


def extract_json(text: str | None) -> tuple[Any, str | None]:
    """The JSON value in an answer: the whole text, or inside a code fence, or from the first
    `{` to the last `}` (models like to add a sentence around it)."""
    if not text or not text.strip():
        return None, "the answer is empty"
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    if nesting_depth(body) > MAX_DEPTH:
        return None, (f"the answer nests deeper than {MAX_DEPTH} levels; reply with a flat "
                      "JSON object")
    try:
        return json.loads(body), None
    except ValueError:
        pass
    start, end = body.find("{"), body.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(body[start:end + 1]), None
        except ValueError as exc:
            return None, f"the answer is not valid JSON ({exc})"
    if start >= 0:
        return None, "the JSON in the answer is incomplete (cut off by max_tokens?)"
    return None, "the answer holds no JSON object"


def _coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Mend what a model commonly gets almost right; anything else is left for validation."""
    schema = _non_null(schema) if value is not None else schema
    if "enum" in schema and isinstance(value, str):
        wanted = {str(e).strip().lower(): e for e in schema["enum"]}
        return wanted.get(value.strip().lower(), value)
    t = schema.get("type")
    if t == "object" and isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {k: _coerce(v, props.get(k) or (extra if isinstance(extra, dict) else {}))
                for k, v in value.items()}
    if t == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce(v, schema["items"]) for v in value]
    if t in ("number", "integer") and isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            return value
        value = number
    if t == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if t == "boolean" and isinstance(value, str):
        return {"true": True, "yes": True, "false": False, "no": False}.get(
            value.strip().lower(), value)
    return value
