"""What `%%glm` and `%glm SUBCOMMAND` do, once the magic has parsed them."""

from __future__ import annotations

import functools
import json
from typing import Any

from IPython.core.error import UsageError

from .. import errors
from .._secrets import looks_like_key
from ..interpolate import interpolate
from ..render.views import NotebookView
from ..sanitize import code_block, terminal_safe
from .cell_errors import cell_error
from .dry_run import dry_run
from .images import run_image
from .output import GLMMagics, make_view


def parse_budget(text: str | float | None) -> tuple[float, str]:
    """`%glm budget 5 CNY`: the settings' rule, as a one-line UsageError."""
    from ..calls.settings import SettingError
    from ..calls.settings import parse_budget as parse

    try:
        return parse(text)
    except SettingError as err:
        raise UsageError(str(err)) from None


ROUTING_PARAMS = {"model": "-m", "provider": "-p", "stream": "--no-stream",
                  "messages": "the cell body", "chat": "-c"}


def mcp_tool(spec: str) -> dict[str, Any]:
    """`--mcp LABEL` (one of Zhipu's own MCP servers) or `--mcp LABEL=https://…` as the
    server-side `mcp` tool of the request."""
    label, sep, url = spec.partition("=")
    label, url = label.strip(), url.strip()
    if not label or (sep and not url.startswith("https://")):
        raise UsageError(f"--mcp takes LABEL or LABEL=https://URL, not {spec!r}")
    mcp: dict[str, Any] = {"server_label": label, "transport_type": "streamable-http"}
    if url:
        mcp["server_url"] = url
    return {"type": "mcp", "mcp": mcp}


def parse_param(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise UsageError(f"--param needs KEY=VALUE, got {item!r}")
    if key in ROUTING_PARAMS:
        raise UsageError(f"--param {key}=… is not a request field here; use "
                         f"{ROUTING_PARAMS[key]} instead")
    try:
        value = json.loads(raw)
    except ValueError:
        return key, raw
    except RecursionError:
        raise UsageError(f"--param {key}: the JSON is nested too deeply") from None
    if not _finite(value):
        raise UsageError(f"--param {key}: numbers must be finite (no NaN or Infinity, "
                         "no 1e999)")
    return key, value


def _finite(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        raise UsageError("--param: the JSON is nested too deeply (at most 64 levels)")
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return all(_finite(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v, depth + 1) for v in value)
    return True


def image_part(ref: str) -> dict[str, Any]:
    from ..media import image_part as part

    try:
        return part(ref)
    except ValueError as exc:
        raise UsageError(f"--image: {exc}") from None


def check_params(provider: str, params: dict[str, Any]) -> None:
    from ..providers import provider_class

    cls = provider_class(provider)
    lo, hi = cls.temperature_range
    t = params.get("temperature")
    if t is not None and not lo <= t <= hi:
        raise UsageError(f"temperature {t} is outside {provider}'s range [{lo}, {hi}]")
    tp = params.get("top_p")
    if tp is not None and not 0 <= tp <= 1:
        raise UsageError(f"--top-p {tp} must be between 0 and 1")
    mt = params.get("max_tokens")
    if mt is not None and mt <= 0:
        raise UsageError(f"--max-tokens must be a positive number, not {mt}")


def thinking_note(provider: str, model: str) -> str | None:
    """Why --thinking / --no-thinking is not sent for this model (None: it is)."""
    from ..calls.sessions import model_info

    if provider not in ("zhipu", "zhipu_v3", "local"):
        return None  # other APIs name it differently; --param passes their own switch
    info = model_info(provider, model)
    if info is None or info.thinking:
        return None  # unknown (new) models get it as asked
    return (f"{model} has no thinking switch: --thinking/--no-thinking is sent as asked and "
            "changes nothing; glm-4.5 and later (glm-5, glm-4.6v, …) have one")


def typo_hint(provider: str, model: str) -> None:
    """Unknown models are sent as given (new ones appear monthly); a likely typo gets a hint."""
    close = _nearest_model(provider, model)
    if close:
        print(f"glm-magic: model {model!r} is not in the list for {provider}; "
              f"did you mean {close!r}? (sent as given)")


@functools.lru_cache(maxsize=256)
def _nearest_model(provider: str, model: str) -> str | None:
    """The listed model `model` is likely a typo of (worked out once per name: the model list
    is fixed for the session)."""
    import difflib

    from ..providers import provider_class

    known = [m.name for m in provider_class(provider).models]
    if not known or model in known or model.endswith(".gguf"):
        return None
    close = difflib.get_close_matches(model, known, n=1, cutoff=0.8)
    return close[0] if close else None


# --- the cell -------------------------------------------------------------------------------
def build_call(magics: GLMMagics, args: Any, cell: str) -> tuple[str, dict[str, Any]]:
    """(prompt, keyword arguments for Session.prepare/complete) from parsed options."""
    ns = magics.shell.user_ns if magics.shell is not None else {}
    body = cell.strip("\n")
    if not body.strip():
        raise UsageError("%%glm: the cell is empty; write the prompt below the %%glm line")
    if magics.interpolate and not args.no_interpolate:
        problems: list[str] = []
        body = interpolate(body, ns, problems, magics.session.settings.max_context_tokens)
        for problem in problems:
            print(f"glm-magic: {terminal_safe(problem)}")
    if looks_like_key(body):
        print("glm-magic: this prompt contains something that looks like an API key; keys "
              "belong in the environment or .env, never in cells.")
    s = magics.session
    try:
        provider, model = s.resolve(args.provider, args.model)
    except errors.ConfigurationError as err:
        raise cell_error(err) from None
    params: dict[str, Any] = {}
    temperature = args.temperature if args.temperature is not None else magics.temperature
    for key, value in (("temperature", temperature), ("top_p", args.top_p),
                       ("max_tokens", args.max_tokens), ("seed", args.seed)):
        if value is not None:
            params[key] = value
    if args.stop:
        params["stop"] = args.stop
    for item in args.param or []:
        k, v = parse_param(item)
        params[k] = v
    if args.json:
        params["response_format"] = {"type": "json_object"}
    tools = list(params.pop("tools", []) or [])
    if args.web_search:
        tools.append({"type": "web_search", "web_search": {"enable": True,
                                                           "search_result": True}})
    for spec in getattr(args, "mcp", None) or ():
        tools.append(mcp_tool(spec))
    if args.retrieval:
        tools.append({"type": "retrieval", "retrieval": {"knowledge_id": args.retrieval}})
    if tools:
        params["tools"] = tools
    if args.thinking is not None:
        note = thinking_note(provider, model)
        if note:
            print(f"glm-magic: {note}")
        params["thinking"] = {"type": "enabled" if args.thinking else "disabled"}
    if getattr(args, "effort", None):
        params["reasoning_effort"] = args.effort
    from ..calls.options import check_reasoning

    try:  # the model's reasoning rules, said before anything is sent
        check_reasoning(provider, model, params)
    except errors.GLMError as err:
        raise UsageError(f"{err.message} — {err.hint}" if err.hint else err.message) from None
    check_params(provider, params)
    typo_hint(provider, model)
    prompt: Any = body
    if args.image:
        prompt = [{"type": "text", "text": body}] + [image_part(i) for i in args.image]
    system = args.system
    conv = s.chats.get(args.chat)
    if system is None and magics.system and (args.new or conv is None or not conv.messages):
        system = magics.system
    cell_no = None
    if magics.shell is not None:
        cell_no = getattr(magics.shell, "execution_count", None)
    return prompt, dict(provider=provider, model=model, chat=args.chat, system=system,
                        once=args.once, new=args.new, source="magic", cell=cell_no,
                        cell_id=getattr(magics, "cell_id", None), append=args.append,
                        **({"cache": args.cache} if getattr(args, "cache", None) is not None
                           else {}), **params)


def tool_functions(magics: GLMMagics, spec: str) -> dict[str, Any]:
    ns = magics.shell.user_ns if magics.shell is not None else {}
    functions = {}
    for name in (n.strip() for n in spec.split(",") if n.strip()):
        fn = ns.get(name)
        if not callable(fn):
            raise UsageError(f"--tools: {name!r} is not a function in your namespace")
        functions[name] = fn
    if not functions:
        raise UsageError("--tools needs function names, e.g. --tools get_weather,add")
    return functions


def cell_schema(magics: GLMMagics, spec: str) -> Any:
    """`--schema NAME` (a variable) or `--schema '{"label": ["a", "b"]}'` → a Schema."""
    from ..schema import Schema, SchemaError

    ns = magics.shell.user_ns if magics.shell is not None else {}
    value: Any = ns[spec] if spec.isidentifier() and spec in ns else spec
    if isinstance(value, str) and value.isidentifier():
        raise UsageError(f"--schema: no variable {value!r}; give a schema variable or inline "
                         """JSON, e.g. --schema '{"label": ["pos", "neg"], "score": "float"}'""")
    try:
        return Schema.of(value)
    except SchemaError as err:
        raise UsageError(f"--schema: {err}") from None


def run_cell(magics: GLMMagics, args: Any, cell: str) -> Any:
    s = magics.session
    if args.image_gen:
        return run_image(magics, cell.strip(), model=args.model, size=args.size, n=args.n,
                         out=args.out, save=args.save, provider=args.provider)
    if args.fix:
        from .fix import fix_prompt

        cell = fix_prompt(magics.shell, cell)
        args.no_interpolate, args.once = True, True  # a traceback is sent as written
    schema = cell_schema(magics, args.schema) if args.schema else None
    if args.max_repairs < 0:
        raise UsageError("--max-repairs must be 0 or more")
    prompt, kwargs = build_call(magics, args, cell)
    if args.dry_run:
        if schema is not None:
            kwargs["response_format"] = schema.response_format()
        return dry_run(magics, prompt, kwargs, stream=magics.stream and not args.no_stream)
    if schema is not None:
        return run_structured(magics, args, prompt, kwargs, schema)
    ns = magics.shell.user_ns if magics.shell is not None else {}
    if args.async_:
        task = s.submit_task(prompt, **kwargs)
        print(f"submitted task {task.id} ({task.task_status}); fetch it with "
              f"%glm result {task.id} --wait")
        if args.out:
            ns[args.out] = task.id
        return None
    functions = tool_functions(magics, args.tools) if args.tools else None
    fmt = args.format or ("json" if args.json else magics.format)
    view = make_view(magics, fmt)
    stream = magics.stream and not args.no_stream
    try:
        if functions:
            comp = s.complete_with_tools(prompt, functions, max_rounds=args.max_rounds,
                                         on_tool=view.show_tool, stream=stream, view=view,
                                         **kwargs)
        else:
            comp = s.complete(prompt, stream=stream, view=view, **kwargs)
    except KeyboardInterrupt:
        comp = s.last
        view.show_notice("interrupted: the partial answer is kept (marked interrupted in "
                         "the conversation) and its usage recorded")
    except errors.GLMError:
        ns["_glm"] = s.last
        for note in s.drain_notices():
            view.show_notice(note)
        raise
    finally:
        for note in s.drain_notices():
            view.show_notice(note)
    ns["_glm"] = comp
    if comp is None:
        return None
    value: Any = comp.text
    if args.json:
        try:
            value = json.loads(comp.text)
        except ValueError:
            view.show_notice("the answer is not valid JSON; -o got the raw text")
    if args.out:
        if not args.out.isidentifier():
            raise UsageError(f"-o needs a variable name, not {args.out!r}")
        ns[args.out] = value
    if (fmt == "code" and args.insert or args.fix) and magics.shell is not None:
        lang, code = code_block(comp.text)
        if args.fix and not lang and "```" not in comp.text:
            view.show_notice("the answer holds no code block; nothing was put in a cell")
            return None
        insert_code(magics, view, code)
    return None


def insert_code(magics: GLMMagics, view: Any, code: str) -> None:
    """Code from an answer into the next cell, never run; hidden characters made visible."""
    shown = terminal_safe(code)  # bidi overrides and zero-width characters made visible
    if shown != code:
        view.show_notice("the code held invisible or control characters (bidi overrides, "
                         "zero-width, escapes); they are shown escaped in the next cell")
    magics.shell.set_next_input(shown, replace=False)


def run_structured(magics: GLMMagics, args: Any, prompt: Any, kwargs: dict[str, Any],
                   schema: Any) -> None:
    """`--schema`: the answer streams as usual, is checked (and repaired), and the value is
    shown as a small table; `-o` gets it (a dict, or the pydantic instance)."""
    from ..calls.structured import ask

    s = magics.session
    ns = magics.shell.user_ns if magics.shell is not None else {}
    view = make_view(magics, args.format or "json")
    try:
        answer = ask(s, prompt, schema, max_repairs=args.max_repairs,
                     stream=magics.stream and not args.no_stream, view=view, **kwargs)
    except KeyboardInterrupt:
        view.show_notice("interrupted: the partial answer is kept and its usage recorded")
        ns["_glm"] = s.last
        return None
    except errors.GLMError:
        ns["_glm"] = s.last
        raise
    finally:
        for note in s.drain_notices():
            view.show_notice(note)
    ns["_glm"] = answer.completion
    if answer.repairs:
        view.show_notice(f"the answer did not match the schema; repaired in {answer.repairs} "
                         f"more call(s) ({'now valid' if answer.ok else 'still invalid'})")
    if not answer.ok:
        raise errors.InvalidAnswerError(
            f"the answer does not match the schema ({answer.error})"
            + (f" after {answer.repairs} repair(s)" if answer.repairs else ""),
            provider=answer.completion.provider if answer.completion else None)
    show_record(magics, answer.value)
    if args.out:
        if not args.out.isidentifier():
            raise UsageError(f"-o needs a variable name, not {args.out!r}")
        ns[args.out] = answer.value
    return None


def show_record(magics: GLMMagics, value: Any) -> None:
    """A checked value as a two-column table (field, value); every value escaped."""
    from ..sanitize import escape

    record = value.model_dump() if hasattr(value, "model_dump") else value
    if not isinstance(record, dict):
        record = {"value": record}
    shown = {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
             for k, v in record.items()}
    if isinstance(make_view(magics, "text"), NotebookView):
        from IPython.display import display

        rows = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td>"
                       "</tr>" for k, v in shown.items())
        plain = "\n".join(f"{k}: {v}" for k, v in shown.items())
        display({"text/html": f"<table class='glm-record'>{rows}</table>",
                 "text/plain": terminal_safe(plain)}, raw=True)
    else:
        width = max(len(k) for k in shown)
        print("\n".join(terminal_safe(f"{k:<{width}}  {v}") for k, v in shown.items()))
