"""How a failed call shows in a notebook: one line naming the error, no traceback, and not
IPython's generic `UsageError:` label (that is for mistakes in the cell itself)."""

from __future__ import annotations

import sys
from typing import Any

from IPython.core.error import UsageError

from ..errors import GLMError, describe


class CallFailed(UsageError):
    """The server or the network failed a call that was correctly written. A `UsageError`,
    so the cell stops without a traceback; shown as `AuthenticationError: [zhipu] … — hint`."""

    def __init__(self, error: GLMError) -> None:
        self.error = error
        super().__init__(describe(error))


def cell_error(error: GLMError) -> UsageError:
    """A UsageError for a mistake in the cell or settings (unknown provider, no key, budget,
    a busy conversation); CallFailed, labelled with its class, for what the server did."""
    from ..errors import BudgetExceededError, ConfigurationError, ConversationBusyError

    if isinstance(error, (ConfigurationError, BudgetExceededError, ConversationBusyError)):
        return UsageError(str(error))
    return CallFailed(error)


def show_call_failed(shell: Any, etype: type, value: BaseException, tb: Any,
                     tb_offset: int | None = None) -> list[str]:
    line = str(value)
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # as IPython does
    print(line, file=sys.stderr)  # as IPython shows a UsageError: one red line
    return [line]


def install(shell: Any) -> None:
    """Show CallFailed as its one line, unless the user has a custom handler of their own."""
    current = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if current and current != (CallFailed,):
        return
    shell.set_custom_exc((CallFailed,), show_call_failed)
