"""What the fault matrices observed, shared by both matrix modules and the conftest hook that
saves it for `scripts/reliability.py` (one module, so one dict whatever the import path)."""

from __future__ import annotations

from collections.abc import Callable

OUTCOMES: dict[tuple[str, str], str] = {}
complete: Callable[[], bool] = lambda: False  # noqa: E731 — set by tests/guarantees/test_faults.py
data: Callable[[], dict] | None = None  # set by tests/guarantees/test_faults.py
