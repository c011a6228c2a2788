"""JSON decoding for the stream hot path: orjson parses a chunk about 4× faster than the
standard library (≈0.7 µs vs 2.7 µs here), which is most of a chunk's client CPU. Falls back
to `json` where no orjson wheel exists. Both raise ValueError subclasses on bad input."""

from __future__ import annotations

from typing import Any

try:
    from orjson import OPT_SORT_KEYS, JSONEncodeError, loads
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover
    from json import loads

    _orjson_dumps = None

__all__ = ["loads", "nesting", "text_dicts_json"]


def text_dicts_json(items: list[Any]) -> bytes | None:
    """A list of dicts holding only strings (a batch row's messages) as compact, key-sorted
    UTF-8 JSON — byte for byte what `json` writes with `sort_keys=True, ensure_ascii=False,
    separators=(",", ":")` (tested over every code point), ten times faster. None when the
    list holds anything else (numbers, nesting, lone surrogates), where the two may differ:
    the caller then encodes with `json`."""
    if _orjson_dumps is None:  # pragma: no cover
        return None
    for item in items:
        if type(item) is not dict or \
                not all(type(k) is str and type(v) is str for k, v in item.items()):
            return None
    try:
        return _orjson_dumps(items, option=OPT_SORT_KEYS)
    except JSONEncodeError:  # a lone surrogate: json writes it escaped
        return None


def nesting(value: Any, limit: int = 1000) -> int:
    """How deeply lists and dicts nest in a JSON value (iterative: no recursion limit),
    stopping early past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                  else item))
    return deepest
