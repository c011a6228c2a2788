"""What the fault matrices observed, shared by both matrix modules and the conftest hook that
publishes docs/reliability.md (one module, so one dict whatever the import path)."""

from __future__ import annotations

from collections.abc import Callable

OUTCOMES: dict[tuple[str, str], str] = {}
complete: Callable[[], bool] = lambda: False  # noqa: E731 — set by tests/test_faults.py
writer: Callable[[], None] | None = None
