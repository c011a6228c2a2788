"""The session's settings: one traitlets object that every front-end reads (the magic, the chat
panel, batch, the session's clients). It is registered with the shell when the extension loads,
so `%config GLMSettings.model = ...` and the familiar `%config GLMMagics.model = ...` both set
it; `[tool.glm_magic]` in pyproject.toml is the lowest layer. The magic keeps only how answers
are shown."""

from __future__ import annotations

import sys
from typing import Any

from traitlets import (
    Bool,
    Dict,
    Float,
    Instance,
    Int,
    TraitError,
    Unicode,
    Union,
    observe,
    validate,
)
from traitlets.config import Config, Configurable

# `%config GLMMagics.x` has always set these; that spelling keeps working
LEGACY_SECTION = "GLMMagics"


class SettingError(ValueError):
    """A setting with a value of the wrong shape (the message says the right one)."""


def parse_budget(text: str | float | None) -> tuple[float, str]:
    """'5 CNY' → (5.0, 'CNY'); a bare number is CNY."""
    parts = str(text).split()
    try:
        amount = float(parts[0])
    except (IndexError, ValueError):
        raise SettingError(f"budget must look like '5 CNY', not {text!r}") from None
    if amount < 0 or amount != amount:
        raise SettingError("budget must be a non-negative number, e.g. '5 CNY'")
    return amount, (parts[1] if len(parts) > 1 else "CNY").upper()


def parse_rate(text: str) -> tuple[str, float]:
    """'USD 0.14' → ('USD', 0.14): 1 CNY = 0.14 USD."""
    parts = str(text).split()
    try:
        currency, rate = parts[0].upper(), float(parts[1])
    except (IndexError, ValueError):
        raise SettingError(f"exchange_rate must look like 'USD 0.14', not {text!r}") from None
    if not rate > 0:
        raise SettingError("exchange_rate must be positive, e.g. 'USD 0.14'")
    return currency, rate


class GLMSettings(Configurable):
    """Defaults for every call of the session, whatever front-end makes it."""

    provider = Unicode(None, allow_none=True,
                       help="Default provider (zhipu, local, …); None: zhipu when "
                            "ZHIPUAI_API_KEY is set, else local.").tag(config=True)
    model = Unicode(None, allow_none=True, help="Default model; provider:model accepted."
                    ).tag(config=True)
    temperature = Float(None, allow_none=True, help="Default sampling temperature."
                        ).tag(config=True)
    system = Unicode(None, allow_none=True, help="System prompt for new conversations."
                     ).tag(config=True)
    max_history_tokens = Int(None, allow_none=True,
                             help="Trim the oldest turns when a conversation exceeds this."
                             ).tag(config=True)
    max_context_tokens = Int(4000, help="Tokens one {value} may take in a prompt: a larger "
                             "DataFrame, list or text is cut in the open (the prompt says "
                             "what was left out, and you get a notice).").tag(config=True)
    ledger_path = Unicode(None, allow_none=True,
                          help="SQLite usage ledger (GLM_MAGIC_LEDGER wins when set)."
                          ).tag(config=True)
    log_text = Bool(False, help="Also store prompts and answers in the ledger.").tag(config=True)
    budget = Unicode(None, allow_none=True, help="Session budget, e.g. '5 CNY'.").tag(config=True)
    exchange_rate = Unicode(None, allow_none=True,
                            help="Show costs also in another currency, e.g. 'USD 0.14' "
                                 "(1 CNY = 0.14 USD).").tag(config=True)
    timeout = Union([Float(), Instance("httpx.Timeout")], default_value=None, allow_none=True,
                    help="Request timeout in seconds (or an httpx.Timeout).").tag(config=True)
    max_retries = Int(3, help="Retries on rate limits, timeouts and server errors."
                      ).tag(config=True)
    allow_remote_images = Bool(
        False, help="Load images a model's answer links to (off: shown as links, since "
                    "loading one can send the conversation to that host).").tag(config=True)
    providers = Dict(help="Per-provider options, e.g. {'zhipu': {'base_url': ...}}."
                     ).tag(config=True)
    cache = Unicode(
        "off", help="The response cache: 'on' answers a request already answered from the cache "
             "(else sends and stores it), 'replay' answers only from the cache (a miss is a "
             "CacheMissError, nothing is sent: CI or a colleague without a key), 'refresh' "
             "sends again and replaces the stored answer.").tag(config=True)
    cache_path = Unicode(None, allow_none=True,
                         help="The response cache file (default: responses.sqlite beside the "
                              "ledger; `%glm cache here` puts it beside the notebook)."
                         ).tag(config=True)
    cache_max_mb = Float(512.0, help="Size cap of the response cache file; the least "
                                     "recently used answers go first.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        self._accepted: dict[str, Any] = {}  # the last good value of each checked setting
        super().__init__(**kwargs)

    @observe("temperature", "provider", "budget", "exchange_rate", "timeout", "max_retries",
             "max_history_tokens", "ledger_path", "cache")
    def _accept(self, change: Any) -> None:
        self._accepted[change["name"]] = change["new"]

    def _find_my_config(self, cfg: Config) -> Config:
        """Own section plus this object's names from the `GLMMagics` section."""
        mine = Config()
        legacy = cfg[LEGACY_SECTION] if cfg._has_section(LEGACY_SECTION) else Config()
        names = set(self.trait_names(config=True))
        for key, value in legacy.items():
            if key in names:
                mine[key] = value
        mine.merge(super()._find_my_config(cfg))
        return mine

    # --- checked when set, with the message a bad `-t` gives --------------------------------
    @validate("temperature")
    def _check_temperature(self, proposal: Any) -> Any:
        value = proposal["value"]
        if value is not None:
            from .. import errors
            from ..providers import provider_class

            name = self.provider or "zhipu"
            try:
                lo, hi = provider_class(name).temperature_range
            except errors.ConfigurationError:
                lo, hi = (0.0, 2.0)
            if not lo <= value <= hi:
                return self._refuse("temperature", f"temperature {value} is outside {name}'s "
                                    f"range [{lo}, {hi}]")
        return value

    @validate("provider")
    def _check_provider(self, proposal: Any) -> Any:
        from .. import errors
        from ..providers import provider_class

        if proposal["value"] is not None:
            try:
                provider_class(proposal["value"])
            except errors.ConfigurationError as err:
                return self._refuse("provider", str(err))
        return proposal["value"]

    @validate("budget", "exchange_rate")
    def _check_amounts(self, proposal: Any) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        if value:
            try:
                (parse_budget if name == "budget" else parse_rate)(value)
            except SettingError as err:
                return self._refuse(name, str(err))
        return value

    @validate("cache")
    def _check_cache(self, proposal: Any) -> Any:
        from ..accounting.caching import cache_mode

        try:
            return cache_mode(proposal["value"]) or "off"
        except ValueError as err:
            return self._refuse("cache", str(err))

    @validate("ledger_path")
    def _check_ledger_path(self, proposal: Any) -> Any:
        from ..accounting.ledger import not_a_ledger

        problem = not_a_ledger(proposal["value"] or "")
        return self._refuse("ledger_path", problem) if problem else proposal["value"]

    @validate("timeout", "max_retries", "max_history_tokens", "max_context_tokens")
    def _check_non_negative(self, proposal: Any) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        if isinstance(value, (int, float)) and not value >= 0:
            return self._refuse(name, f"{name} must not be negative")
        return value

    def _refuse(self, name: str, message: str) -> Any:
        """A bad `%config` value (applied while traitlets holds notifications): one line saying
        what and where, and the old value kept — raising there would reach IPython's log as
        `ERROR:root:`. A plain assignment in code raises TraitError."""
        if not self._cross_validation_lock:
            raise TraitError(message)
        old = self._accepted.get(name, self.trait_defaults(name))
        print(f"glm-magic: %config {LEGACY_SECTION}.{name}: {message}; keeping {old!r}",
              file=sys.stderr)
        return old

    def describe(self) -> list[tuple[str, Any]]:
        """(name, value) of every setting, sorted, for `%glm config`."""
        return [(name, getattr(self, name)) for name in sorted(self.trait_names(config=True))]
