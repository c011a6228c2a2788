"""glm-magic: Zhipu GLM and friends as first-class citizens of Jupyter.

`%load_ext glm_magic`, then `%%glm` cells stream answers in place; `glm_magic.Client` speaks
the official SDKs' call shape; every call lands in a usage ledger (`glm_magic.usage()`).
Heavy modules (pandas, matplotlib, ipywidgets, llama_cpp, even httpx) load on first use."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from . import _moved, _when_imported
from .core import hooks as _hooks
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    CacheMissError,
    ConfigurationError,
    ContentFilterError,
    GLMError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
)

_moved.install()  # module paths from before the layers keep importing


_session_factory: Any = None


def _session_hooks() -> Any:
    """A bare `Client()` records into the kernel session's ledger (core.hooks). Asked on every
    call: the session module is looked up once."""
    global _session_factory
    if _session_factory is None:
        from .calls.sessions import session as _session_factory
    return _session_factory().recorder.hooks()


_hooks.register_default_hooks(_session_hooks)


def _register_accessors() -> None:
    from .semantic import register

    register()


def _register_dask_accessor() -> None:
    from .semantic import register_dask

    register_dask()


# `df.glm` as soon as pandas is imported (now, if it is): import glm_magic itself stays light
_when_imported.when_imported("pandas", _register_accessors)
_when_imported.when_imported("dask.dataframe", _register_dask_accessor)

__version__ = "0.1.0"

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .calls.sessions import Session
    from .core.client import AsyncClient, Client

_LAZY = {
    "Client": ("core.client", "Client"),
    "AsyncClient": ("core.client", "AsyncClient"),
    "Session": ("calls.sessions", "Session"),
    "Conversation": ("calls.conversation", "Conversation"),
    "Completion": ("types", "Completion"),
    "Chunk": ("types", "Chunk"),
    "Usage": ("types", "Usage"),
    "ChatPanel": ("panel.widget", "ChatPanel"),
    "batch": ("batching.front", "batch"),
    "evaluate": ("batching.evaluation", "evaluate"),
    "abatch": ("batching.online", "abatch"),
    "batch_job": ("batching.batch_api", "batch_job"),
    "BatchJob": ("batching.batch_api", "BatchJob"),
    "embed": ("embedding.vectors", "embed"),
    "aembed": ("embedding.vectors", "aembed"),
    "similar": ("embedding.vectors", "similar"),
    "register_provider": ("providers", "register_provider"),
    "pricing": ("accounting.pricing", None),
}

def __getattr__(name: str) -> Any:
    import importlib

    target = _LAZY.get(name)
    if target is None and name in _moved.MOVED:  # glm_magic.sessions and the other old paths
        return importlib.import_module(f"{__name__}.{name}")
    if target is None:
        raise AttributeError(f"module 'glm_magic' has no attribute {name!r}")

    module = importlib.import_module(f".{target[0]}", __name__)
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def session() -> Session:
    """The kernel-wide session shared by the magic, the chat panel and the batch runner."""
    from .calls.sessions import session as _session

    return _session()


def usage(since: Any = None, model: str | None = None, source: str | None = None,
          **filters: Any) -> pd.DataFrame:
    """Every recorded call as a DataFrame, oldest first (see the README for the columns)."""
    return session().usage(since=since, model=model, source=source, **filters)


def cost_summary(by: str = "model", **filters: Any) -> pd.DataFrame:
    """Calls, tokens, cost and mean latency by model, day, conversation or source."""
    from .accounting.ledger import summarize

    return summarize(usage(**filters), by)


def plot_usage(kind: str = "cost", **filters: Any) -> Figure:
    """A matplotlib Figure: kind='cost' (cumulative by model), 'tokens' or 'latency'."""
    from .accounting.ledger import plot

    return plot(usage(**filters), kind)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext glm_magic`: register %%glm / %glm (reloading does not duplicate state)."""
    from .magic.cell_errors import install
    from .magic.magics import GLMMagics

    magics = GLMMagics(shell=ipython)
    ipython.register_magics(magics)
    install(ipython)
    _complete_subcommands(ipython)
    if getattr(ipython, "events", None) is not None:  # `%env KEY=...` gets a warning
        from .magic.login import warn_on_env_keys

        with contextlib.suppress(ValueError):
            ipython.events.unregister("pre_run_cell", warn_on_env_keys)
        ipython.events.register("pre_run_cell", warn_on_env_keys)
    if ipython.configurables is not None:  # %config sees the magic and the settings
        from .calls.settings import GLMSettings

        ipython.configurables = [c for c in ipython.configurables
                                 if not isinstance(c, (GLMMagics, GLMSettings))] + [
            magics, magics.session.settings]


def _complete_subcommands(ipython: Any) -> None:
    """Tab after `%glm ` offers the subcommands of the registry."""
    def complete(_self: Any, event: Any) -> list[str]:
        from .magic.subcommands import SUBCOMMANDS

        words = event.line.split()
        if len(words) > 2 or (len(words) == 2 and event.line.endswith(" ")):
            return []
        return sorted(SUBCOMMANDS)

    if getattr(ipython, "set_hook", None) is not None:
        with contextlib.suppress(Exception):  # a front-end without the hook keeps working
            ipython.set_hook("complete_command", complete, str_key="%glm")


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and the configurable; conversations stay in `session()`."""
    from .magic.magics import GLMMagics

    mm = ipython.magics_manager
    for kind in ("line", "cell"):
        mm.magics[kind].pop("glm", None)
    mm.registry.pop("GLMMagics", None)
    if getattr(ipython, "events", None) is not None:
        from .magic.login import warn_on_env_keys

        with contextlib.suppress(ValueError):
            ipython.events.unregister("pre_run_cell", warn_on_env_keys)
    for c in ipython.configurables:
        if isinstance(c, GLMMagics) and getattr(ipython, "events", None) is not None:
            with contextlib.suppress(ValueError):
                ipython.events.unregister("pre_run_cell", c._note_cell)
    from .calls.settings import GLMSettings

    ipython.configurables = [c for c in ipython.configurables
                             if not isinstance(c, (GLMMagics, GLMSettings))]
    from .magic.cell_errors import CallFailed

    if tuple(getattr(ipython, "custom_exceptions", ()) or ()) == (CallFailed,):
        ipython.set_custom_exc((), None)


__all__ = [
    "APIConnectionError", "APITimeoutError", "AsyncClient", "AuthenticationError",
    "BadRequestError", "BudgetExceededError", "CacheMissError", "ChatPanel", "Client", "ConfigurationError",
    "ContentFilterError", "GLMError", "NotFoundError", "PermissionDeniedError", "ProtocolError",
    "QuotaExceededError", "RateLimitError", "ServerError", "Session", "abatch", "batch",
    "BatchJob", "batch_job", "evaluate",
    "cost_summary", "embed", "aembed", "similar", "load_ipython_extension", "plot_usage", "session",
    "unload_ipython_extension", "usage",
]
