"""`%%glm` (the cell body is the prompt) and `%glm SUBCOMMAND`. This class only parses and
dispatches: options are traitlets, bad input is a one-line UsageError, the work happens in
`Session` (calls) and `commands` (subcommands)."""

from __future__ import annotations

import os
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Dict, Enum, Float, Int, TraitError, Unicode, observe, validate

from . import errors
from .cell_errors import cell_error
from .config import find_pyproject, pyproject_settings
from .render import FORMATS


def _parser_error(self: Any, message: str) -> None:
    raise UsageError(f"%%glm: {message}{_did_you_mean(self, message)} "
                     "(see %%glm? for the options)")


def _did_you_mean(parser: Any, message: str) -> str:
    """`; did you mean --temperature?` for a mistyped option."""
    import difflib
    import re

    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    hints = []
    for word in re.findall(r"(--[\w-]+)", message):
        close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6)
        if close and close[0] != word:
            hints.append(f"{word} → {close[0]}")
    return f"; did you mean {', '.join(hints)}?" if hints else ""


def _mark_origin(providers: dict[str, Any], path: str) -> dict[str, Any]:
    """A base URL read from a project file carries that file's name, so that a key from
    elsewhere is never sent there (a cloned project must not redirect the user's key)."""
    marked: dict[str, Any] = {}
    for name, opts in providers.items():
        if isinstance(opts, dict) and opts.get("base_url") and not opts.get("api_key"):
            opts = {**opts, "base_url_from": path}
        marked[name] = opts
    return marked


@magics_class
class GLMMagics(Magics):
    """Settings are traits: `%config GLMMagics.model = "glm-4-flash"`; also read from
    `[tool.glm_magic]` in the nearest pyproject.toml and from ipython_config.py."""

    provider = Unicode(None, allow_none=True,
                       help="Default provider (zhipu, local, …); None: zhipu when "
                            "ZHIPUAI_API_KEY is set, else local.").tag(config=True)
    model = Unicode(None, allow_none=True, help="Default model; provider:model accepted."
                    ).tag(config=True)
    temperature = Float(None, allow_none=True, help="Default sampling temperature."
                        ).tag(config=True)
    system = Unicode(None, allow_none=True, help="System prompt for new conversations."
                     ).tag(config=True)
    stream = Bool(True, help="Stream answers into the cell as they arrive.").tag(config=True)
    format = Enum(FORMATS, default_value="markdown", help="How answers are shown."
                  ).tag(config=True)
    max_history_tokens = Int(None, allow_none=True,
                             help="Trim the oldest turns when a conversation exceeds this."
                             ).tag(config=True)
    show_footer = Bool(True, help="Show model, tokens, latency and cost under each answer."
                       ).tag(config=True)
    output = Enum(("auto", "notebook", "terminal"), default_value="auto",
                  help="Where streams render; auto: notebook in a kernel, else terminal."
                  ).tag(config=True)
    ledger_path = Unicode(None, allow_none=True,
                          help="SQLite usage ledger (GLM_MAGIC_LEDGER wins when set)."
                          ).tag(config=True)
    log_text = Bool(False, help="Also store prompts and answers in the ledger.").tag(config=True)
    budget = Unicode(None, allow_none=True, help="Session budget, e.g. '5 CNY'.").tag(config=True)
    exchange_rate = Unicode(None, allow_none=True,
                            help="Show costs also in another currency, e.g. 'USD 0.14' "
                                 "(1 CNY = 0.14 USD).").tag(config=True)
    timeout = Float(None, allow_none=True, help="Request timeout in seconds.").tag(config=True)
    max_retries = Int(3, help="Retries on rate limits, timeouts and server errors."
                      ).tag(config=True)
    interpolate = Bool(True, help="Substitute {name} references from the namespace."
                       ).tag(config=True)
    allow_remote_images = Bool(
        False, help="Load images a model's answer links to (off: shown as links, since "
                    "loading one can send the conversation to that host).").tag(config=True)
    providers = Dict(help="Per-provider options, e.g. {'zhipu': {'base_url': ...}}."
                     ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        from .sessions import session

        self.session = session()
        self.cell_id: str | None = None  # the running cell's id: a re-run replaces its exchange
        accepted = self.__dict__.setdefault("_accepted", {})
        accepted.setdefault("temperature", self.temperature)
        accepted.setdefault("provider", self.provider)
        events = getattr(shell, "events", None)
        if events is not None:
            events.register("pre_run_cell", self._note_cell)
        self._apply_pyproject()
        for name in ("provider", "model", "max_history_tokens", "timeout", "max_retries",
                     "log_text", "ledger_path", "budget", "exchange_rate", "providers",
                     "allow_remote_images", "temperature", "system"):
            self._sync({"name": name, "new": getattr(self, name)})

    def _note_cell(self, info: Any = None) -> None:
        self.cell_id = getattr(info, "cell_id", None)

    def _apply_pyproject(self) -> None:
        """Lowest-precedence settings: only traits not set by %config / ipython_config."""
        configured = set(self.config.get("GLMMagics", {}))
        for key, value in pyproject_settings().items():
            if key in configured or not self.has_trait(key):
                continue
            if key == "providers" and isinstance(value, dict):
                value = _mark_origin(value, str(find_pyproject()))
            try:
                setattr(self, key, value)
            except Exception as exc:  # a bad value in a file must not break loading
                print(f"glm-magic: ignoring [tool.glm_magic] {key} = {value!r}: {exc}")

    @validate("temperature")
    def _check_temperature(self, proposal: Any) -> Any:
        """Refused at `%config` time with the message `-t` gives, not in every later cell."""
        value = proposal["value"]
        if value is not None:
            from .providers import provider_class

            name = self.provider or "zhipu"
            try:
                lo, hi = provider_class(name).temperature_range
            except errors.ConfigurationError:
                lo, hi = (0.0, 2.0)
            if not lo <= value <= hi:
                return self._refuse("temperature", f"temperature {value} is outside {name}'s "
                                    f"range [{lo}, {hi}]")
        return value

    def _refuse(self, name: str, message: str) -> Any:
        """A bad `%config` value (applied while traitlets holds notifications): one line saying
        what and where, and the old value kept — raising there would reach IPython's log as
        `ERROR:root:`. A plain assignment in code raises TraitError."""
        import sys

        if not self._cross_validation_lock:  # a plain assignment in code: raise, as traitlets
            raise TraitError(message)
        old = self.__dict__.get("_accepted", {}).get(name)
        print(f"glm-magic: %config GLMMagics.{name}: {message}; keeping {old!r}",
              file=sys.stderr)
        return old

    @observe("temperature", "provider")
    def _accept(self, change: Any) -> None:
        # may run while traitlets applies config, before __init__ finished
        self.__dict__.setdefault("_accepted", {})[change["name"]] = change["new"]

    @validate("provider")
    def _check_provider(self, proposal: Any) -> Any:
        from .providers import provider_class

        if proposal["value"] is not None:
            try:
                provider_class(proposal["value"])
            except errors.ConfigurationError as err:
                return self._refuse("provider", str(err))
        return proposal["value"]

    @observe("provider", "model", "max_history_tokens", "timeout", "max_retries", "log_text",
             "ledger_path", "budget", "exchange_rate", "providers", "allow_remote_images",
             "temperature", "system")
    def _sync(self, change: Any) -> None:
        """Push settings into the shared session so every front-end sees them."""
        from .commands import parse_budget, parse_rate

        name, new, s = change["name"], change["new"], self.session
        if name == "provider":
            s.provider = new
        elif name == "ledger_path":
            path = os.environ.get("GLM_MAGIC_LEDGER") or new
            if path != s.ledger_path:
                s.set_ledger(path)
        elif name == "budget":
            s.set_budget(*parse_budget(new)) if new else s.set_budget(None)
        elif name == "exchange_rate":
            s.exchange_rate = parse_rate(new) if new else None
        elif name == "providers":
            from ._secrets import register_options

            s.provider_options = register_options(new or {})  # masked from this moment on
            s.reset_clients()
        else:
            setattr(s, name, new)
            if name in ("timeout", "max_retries"):
                s.reset_clients()

    @magic_arguments()
    @argument("-m", "--model", help="model; provider:model also accepted (local:default)")
    @argument("-p", "--provider", help="zhipu (default), zhipu_v3, openai, qianfan, dashscope, "
                                       "local, or a registered preset")
    @argument("-s", "--system", help="system prompt for this conversation (replaces it)")
    @argument("-t", "--temperature", type=float, help="sampling temperature")
    @argument("--top-p", type=float, dest="top_p", help="nucleus sampling")
    @argument("--max-tokens", type=int, dest="max_tokens", help="answer length limit")
    @argument("--stop", action="append", help="stop sequence (repeatable)")
    @argument("--seed", type=int, help="sampling seed")
    @argument("--param", action="append", metavar="KEY=VALUE",
              help="any other request field; VALUE parsed as JSON when it parses (repeatable)")
    @argument("-c", "--chat", default="default", help="named conversation (default: default)")
    @argument("--new", action="store_true", help="start the named conversation afresh")
    @argument("--once", action="store_true", help="single turn: neither reads nor writes memory")
    @argument("--append", action="store_true",
              help="on a re-run of this cell, keep its earlier exchange (default: replace it)")
    @argument("-o", "--out", metavar="VAR", help="store the answer (or parsed --json) in VAR")
    @argument("-f", "--format", choices=FORMATS, help="markdown, text, code, json, html")
    @argument("--insert", action="store_true",
              help="with -f code: put the code into the next cell")
    @argument("--json", action="store_true", help="ask for a JSON object and parse it")
    @argument("--no-stream", action="store_true", dest="no_stream",
              help="wait for the whole answer")
    @argument("--image", action="append", metavar="PATH_OR_URL",
              help="image input for vision models (repeatable)")
    @argument("--dry-run", action="store_true", dest="dry_run",
              help="show the exact request and its estimated cost; send nothing")
    @argument("--no-interpolate", action="store_true", dest="no_interpolate",
              help="send the cell body verbatim")
    @argument("--async", action="store_true", dest="async_",
              help="submit as an asynchronous task; fetch it with %%glm result TASK_ID")
    @argument("--tools", metavar="F,G", help="functions from your namespace the model may call")
    @argument("--max-rounds", type=int, default=5, dest="max_rounds",
              help="at most this many tool-call rounds (default 5)")
    @argument("--web-search", action="store_true", dest="web_search",
              help="let GLM search the web; results are listed under the answer")
    @argument("--retrieval", metavar="KNOWLEDGE_ID", help="answer from a Zhipu knowledge base")
    @argument("--thinking", action="store_true", default=None,
              help="ask a GLM-4.5+ model to think (shown collapsed above the answer)")
    @argument("--no-thinking", action="store_false", dest="thinking",
              help="ask a GLM-4.5+ model not to think")
    @argument("--image-gen", action="store_true", dest="image_gen",
              help="generate images from the cell body (CogView)")
    @argument("--size", help="with --image-gen: image size, e.g. 1024x1024")
    @argument("-n", type=int, help="with --image-gen: number of images")
    @argument("--save", metavar="PATH", help="with --image-gen: save the image(s) here")
    @line_cell_magic
    def glm(self, line: str = "", cell: str | None = None) -> Any:
        """Ask a model. The cell body is the prompt; answers stream in place.

        `%%glm [options]` with the prompt below. `%glm SUBCOMMAND` for:
        usage [--csv PATH], cost [BY], history [NAME], reset [NAME|--all], chats,
        save NAME PATH, load PATH [NAME], config, models [PROVIDER], budget AMOUNT [CUR]|off,
        chat [NAME], result TASK_ID [--wait], tasks, image [-m M] [--size S] [-n N] [-o VAR]
        [--save PATH] PROMPT, help.
        """
        from . import commands, subcommands

        if cell is None:
            return subcommands.run(self, line)
        args = self._parse(line)
        try:
            return commands.run_cell(self, args, cell)
        except errors.GLMError as err:
            raise cell_error(err) from None

    def _parse(self, line: str) -> Any:
        """Shell-like splitting (quotes group words and are removed), then argparse."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%glm: cannot parse the options ({exc}); check the quotes") \
                from None
        parser = self.glm.parser
        parser.error = _parser_error.__get__(parser)
        try:
            return parser.parse_args(argv)
        except SystemExit:  # argparse's exit paths (e.g. -h)
            raise UsageError("%%glm: see %%glm? for the options") from None
