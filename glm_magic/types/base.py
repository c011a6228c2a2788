"""What every response object shares: the SDK idioms (`model_dump()`, `to_json()`, a
pydantic-style `str`) and token counts clamped to sane integers."""

from __future__ import annotations

from typing import Any, ClassVar

MAX_TOKENS_COUNT = 10**12  # more than any call could use; a larger count is a broken server


def count(value: Any) -> int:
    """A token count from a server: a non-negative int, whatever was sent (`"NaN"`, `2**63`,
    `-500`, a dict → 0 or the cap), so a hostile body can neither crash recording nor
    credit the budget."""
    if type(value) is int and 0 <= value <= MAX_TOKENS_COUNT:  # what servers send
        return value
    if isinstance(value, bool):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    if number != number or number <= 0:  # NaN or negative
        return 0
    return int(min(number, MAX_TOKENS_COUNT))


def dump_value(value: Any) -> Any:
    if isinstance(value, SDKObject):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [dump_value(v) for v in value]
    if isinstance(value, dict):
        return {k: dump_value(v) for k, v in value.items()}
    return value


class SDKObject:
    """The idioms users of the official SDKs write: `model_dump()`, `model_dump_json()`,
    `to_dict()`, `to_json()`, and `print(obj)` showing every field (pydantic's `str`)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()  # the wire fields, in the SDK's order

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        out = {name: dump_value(getattr(self, name)) for name in self._fields}
        return {k: v for k, v in out.items() if v is not None} if exclude_none else out

    def model_dump_json(self, *, indent: int | None = None) -> str:
        import json

        return json.dumps(self.model_dump(), ensure_ascii=False, indent=indent, default=str)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    # the fields `print()` shows, when they differ from the dumped ones (Usage shows the SDKs'
    # `prompt_tokens_details` where it keeps `cached_tokens`)
    _shown_fields: ClassVar[tuple[str, ...] | None] = None

    def __str__(self) -> str:
        # repr() of every value: control and bidi characters stay escaped on a terminal
        return " ".join(f"{name}={shown(getattr(self, name))}" for name in self._shown())

    @classmethod
    def _shown(cls) -> tuple[str, ...]:
        return cls._shown_fields if cls._shown_fields is not None else cls._fields


def shown(value: Any) -> str:
    """A value as pydantic's `str` shows it inside a model: nested objects as
    `Name(field=value, ...)` over the SDK's fields only (not our bookkeeping)."""
    if isinstance(value, SDKObject):
        inner = ", ".join(f"{n}={shown(getattr(value, n))}" for n in value._shown())
        return f"{type(value).__name__}({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return repr(value)
