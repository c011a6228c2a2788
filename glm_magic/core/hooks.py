"""How a client tells whoever records its calls what happened, the way httpx takes event hooks:
a call started (the hooks may refuse it, e.g. a spent budget), an attempt failed and will be
retried, the call finished or failed. The client knows nothing of sessions or ledgers.

A bare `Client()` gets the default hooks the package registers (`register_default_hooks`:
the kernel session's recorder); `record=False` opts out; a session pins one call's observer
with `client.with_observer(...)`. The same seam answers from the response cache: an observer
whose `cached(...)` returns a completion answers the call without a request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .. import errors
    from ..providers.base import Provider
    from ..types import Completion


@dataclass
class AttemptReport:
    """A failed attempt that will be retried: what a ledger needs to show it."""

    attempt: int
    error: errors.GLMError
    elapsed_s: float
    provider: str
    model: str


class CallObserver(Protocol):
    """One call's recording: told of each retried attempt and of how the call ended. An
    observer may also hold the answer already (`cached`, optional: the response cache); the
    client then returns it — whole or replayed as a stream — and sends nothing."""

    def cached(self, provider: Provider, body: dict[str, Any]) -> Completion | None: ...

    def retried(self, report: AttemptReport) -> None: ...

    def finished(self, completion: Completion) -> None: ...

    def failed(self, error: errors.GLMError) -> None: ...


class CallHooks(Protocol):
    """What a client calls when a chat call starts; raising refuses the call."""

    def started(self, provider: Provider, body: dict[str, Any], source: str) -> CallObserver: ...


_default: Callable[[], CallHooks | None] | None = None


def register_default_hooks(factory: Callable[[], CallHooks | None] | None) -> None:
    """Set what a client with no hooks of its own records to (`None`: nothing)."""
    global _default
    _default = factory


def default_hooks() -> CallHooks | None:
    return _default() if _default is not None else None
