"""`%%glm` (the cell body is the prompt) and `%glm SUBCOMMAND`. This class only parses and
dispatches: options are traitlets, bad input is a one-line UsageError, the work happens in
`Session` (calls) and `commands` (subcommands)."""

from __future__ import annotations

import copy
import shlex
from argparse import Namespace
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Enum
from traitlets.config import Config

from .. import errors
from ..calls.settings import GLMSettings
from ..render.views import FORMATS
from .cell_errors import cell_error

SETTINGS = tuple(GLMSettings.class_trait_names(config=True))
PARSED_LINES = 256  # option lines kept parsed (a notebook's cells use a few)


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
            hints.append((word, close[0]))
    if len(hints) == 1:
        return f"; did you mean {hints[0][1]}?"
    return "; did you mean " + ", ".join(f"{right} (for {wrong})" for wrong, right in hints) \
        + "?" if hints else ""


def take_inline_json(line: str, option: str) -> tuple[str, str | None]:
    """(the line without `option {...}`, the JSON text) when the option's value starts with
    `{`: the value runs to the matching `}` (braces inside JSON strings do not count).
    Otherwise (line, None), and shell splitting handles it (a variable name, quoted JSON)."""
    import re

    m = re.search(rf"(?:^|\s){re.escape(option)}(?:\s+|=)(?=\{{)", line)
    if not m:
        return line, None
    start = m.end()
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(line)):
        ch = line[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return line[:m.start()] + " " + line[i + 1:], line[start:i + 1]
    raise UsageError(f"%%glm: {option} {{...}} has no closing brace; check the JSON")


def _setting(name: str) -> property:
    """`magics.model` is the session's setting: one value, read by every front-end."""
    return property(lambda self: getattr(self.session.settings, name),
                    lambda self, value: setattr(self.session.settings, name, value),
                    doc=f"`glm_magic.session().settings.{name}`")


@magics_class
class GLMMagics(Magics):
    """How answers are shown. Call defaults (model, temperature, budget, …) are the session's
    `GLMSettings`, set with `%config GLMMagics.model = "glm-4-flash"` (or `GLMSettings.`);
    both also come from `[tool.glm_magic]` in the nearest pyproject.toml and ipython_config.py."""

    stream = Bool(True, help="Stream answers into the cell as they arrive.").tag(config=True)
    format = Enum(FORMATS, default_value="markdown", help="How answers are shown."
                  ).tag(config=True)
    show_footer = Bool(True, help="Show model, tokens, latency and cost under each answer."
                       ).tag(config=True)
    output = Enum(("auto", "notebook", "terminal"), default_value="auto",
                  help="Where streams render; auto: notebook in a kernel, else terminal."
                  ).tag(config=True)
    interpolate = Bool(True, help="Substitute {name} references from the namespace."
                       ).tag(config=True)

    for _name in SETTINGS:
        locals()[_name] = _setting(_name)
    del _name

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        from ..calls.sessions import session

        self.session = session()  # before traitlets reads the config
        super().__init__(shell=shell, **kwargs)
        self.cell_id: str | None = None  # the running cell's id: a re-run replaces its exchange
        self._parsed_lines: dict[str, Namespace] = {}  # `parse_options`, oldest first
        if shell is not None and getattr(shell, "config", None) is not None:
            self.session.settings.update_config(shell.config)
        events = getattr(shell, "events", None)
        if events is not None:
            events.register("pre_run_cell", self._note_cell)
        self._apply_pyproject()

    def _find_my_config(self, cfg: Config) -> Config:
        """The `GLMMagics` section minus the session's settings (those are `GLMSettings`)."""
        mine = super()._find_my_config(cfg)
        return Config({k: v for k, v in mine.items() if k not in SETTINGS})

    @classmethod
    def class_get_help(cls, inst: Any = None) -> str:
        """`%config GLMMagics` lists the session's settings too: both are set this way."""
        from ..calls.settings import GLMSettings

        settings = getattr(inst, "session", None)
        return "\n".join([super().class_get_help(inst),
                          GLMSettings.class_get_help(settings and settings.settings)])

    def _note_cell(self, info: Any = None) -> None:
        self.cell_id = getattr(info, "cell_id", None)

    def _apply_pyproject(self) -> None:
        """Lowest-precedence settings: the user's config.toml, then what the project's
        `[tool.glm_magic]` may set (trust table), only where %config did not set a value."""
        from ..calls.project_files import apply_file_settings

        configured = set(self.config.get("GLMMagics", {})) | set(
            self.config.get("GLMSettings", {}))
        self.held_back = apply_file_settings(self, configured, self.knows_setting)

    def knows_setting(self, key: str) -> bool:
        """True for a name `%config` can set on this object (a setting or a display trait)."""
        return key in SETTINGS or self.has_trait(key)

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
    @argument("--schema", metavar="SPEC",
              help="answer as data of this shape: a schema variable (dict of field → type, "
                   "JSON Schema, pydantic model) or inline JSON; -o gets the checked value")
    @argument("--max-repairs", type=int, default=1, dest="max_repairs",
              help="with --schema: times an invalid answer is sent back to be fixed (1)")
    @argument("--fix", action="store_true",
              help="send the last exception and its cell; the fix goes into the next cell")
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
    @argument("--web-search", "--web", action="store_true", dest="web_search",
              help="let GLM search the web (the web_search tool); results are listed under "
                   "the answer")
    @argument("--mcp", action="append", metavar="LABEL[=URL]",
              help="let GLM call an MCP server's tools on the server side (a Zhipu MCP server "
                   "by its label, or label=https://… for another); the calls are listed under "
                   "the answer")
    @argument("--retrieval", metavar="KNOWLEDGE_ID", help="answer from a Zhipu knowledge base")
    @argument("--thinking", action="store_true", default=None,
              help="ask a GLM-4.5+ model to think (shown collapsed above the answer)")
    @argument("--no-thinking", action="store_false", dest="thinking",
              help="ask a GLM-4.5+ model not to think")
    @argument("--effort", choices=("low", "medium", "high", "max"),
              help="reasoning_effort for models that take one (glm-5.3: low|high|max, "
                   "glm-5.2: high|max); see %%glm models")
    @argument("--cache", action="store_true", default=None,
              help="answer from the response cache when it holds this request (else send and "
                   "store it), whatever GLMSettings.cache says")
    @argument("--no-cache", action="store_false", dest="cache",
              help="send this cell's request, the response cache aside")
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
        save NAME PATH, load PATH [NAME], config, models [PROVIDER], login [PROVIDER] [--save],
        trust [--yes | --table], budget AMOUNT [CUR]|off, fix [WHAT YOU WANT], chat [NAME],
        result TASK_ID [--wait], tasks, image [-m M] [--size S] [-n N] [-o VAR]
        [--save PATH] PROMPT, cache [here [NAME] | clear [--older-than 30d] | on | off |
        replay | refresh], help.
        """
        from . import commands, subcommands

        if cell is None:
            return subcommands.run(self, line)
        args = self.parse_options(line)
        try:
            return commands.run_cell(self, args, cell)
        except errors.GLMError as err:
            raise cell_error(err) from None

    def parse_options(self, line: str) -> Any:
        """Shell-like splitting (quotes group words and are removed), then argparse. An
        inline `--schema {...}` is taken whole as JSON first (spaces and double quotes
        allowed), since shell splitting would strip its quotes.

        A line parses to the same options every time, and a notebook re-runs the same few
        lines: each line is parsed once (a cached cell spent a tenth of its time in argparse)
        and every caller gets its own copy, free to change."""
        parsed = self._parsed_lines.get(line)
        if parsed is None:
            parsed = self._parse_line(line)
            if len(self._parsed_lines) >= PARSED_LINES:
                del self._parsed_lines[next(iter(self._parsed_lines))]
            self._parsed_lines[line] = parsed
        args = copy.copy(parsed)
        for name, value in vars(parsed).items():  # repeated options, an inline schema
            if isinstance(value, (list, dict)):
                setattr(args, name, copy.deepcopy(value))
        return args

    def _parse_line(self, line: str) -> Namespace:
        line, inline_schema = take_inline_json(line, "--schema")
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%glm: cannot parse the options ({exc}); check the quotes") \
                from None
        parser = self.glm.parser
        parser.error = _parser_error.__get__(parser)
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # argparse's exit paths (e.g. -h)
            raise UsageError("%%glm: see %%glm? for the options") from None
        if inline_schema is not None:
            args.schema = inline_schema
        return args
