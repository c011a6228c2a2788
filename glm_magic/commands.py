"""What `%%glm` and `%glm SUBCOMMAND` do, once the magic has parsed them."""

from __future__ import annotations

import base64
import html
import json
import os
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from . import errors
from ._secrets import looks_like_key, mask, masked_mapping, redact
from .cell_errors import cell_error
from .conversation import Conversation
from .interpolate import interpolate
from .render import NotebookView, TerminalView
from .sanitize import clean_html, code_block, terminal_safe
from .tokens import estimate_messages

if TYPE_CHECKING:
    from .magics import GLMMagics



# --- parsing helpers ---------------------------------------------------------------------------
def parse_budget(text: str | float | None) -> tuple[float, str]:
    parts = str(text).split()
    try:
        amount = float(parts[0])
    except (IndexError, ValueError):
        raise UsageError(f"budget must look like '5 CNY', not {text!r}") from None
    if amount < 0:
        raise UsageError("budget must not be negative")
    return amount, (parts[1] if len(parts) > 1 else "CNY").upper()


def parse_rate(text: str) -> tuple[str, float]:
    parts = str(text).split()
    try:
        return parts[0].upper(), float(parts[1])
    except (IndexError, ValueError):
        raise UsageError(f"exchange_rate must look like 'USD 0.14', not {text!r}") from None


ROUTING_PARAMS = {"model": "-m", "provider": "-p", "stream": "--no-stream",
                  "messages": "the cell body", "chat": "-c"}


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
    from .media import image_part as part

    try:
        return part(ref)
    except ValueError as exc:
        raise UsageError(f"--image: {exc}") from None


def check_params(provider: str, params: dict[str, Any]) -> None:
    from .providers import provider_class

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


def typo_hint(provider: str, model: str) -> None:
    """Unknown models are sent as given (new ones appear monthly); a likely typo gets a hint."""
    import difflib

    from .providers import provider_class

    known = [m.name for m in provider_class(provider).models]
    if not known or model in known or model.endswith(".gguf"):
        return
    close = difflib.get_close_matches(model, known, n=1, cutoff=0.8)
    if close:
        print(f"glm-magic: model {model!r} is not in the list for {provider}; "
              f"did you mean {close[0]!r}? (sent as given)")


# --- the cell -------------------------------------------------------------------------------
def make_view(magics: GLMMagics, fmt: str) -> NotebookView | TerminalView:
    out = magics.output
    if out == "auto":
        out = "notebook" if getattr(magics.shell, "kernel", None) is not None else "terminal"
    rate = magics.session.exchange_rate
    if out == "notebook":
        return NotebookView(fmt, footer=magics.show_footer, rate=rate,
                            allow_images=magics.allow_remote_images)
    return TerminalView(fmt, footer=magics.show_footer, rate=rate)


def show_text(magics: GLMMagics, text: str) -> None:
    """Model-written text outside an answer (history): escaped HTML in a notebook, where
    stdout would autolink its URLs; terminal-safe text elsewhere."""
    from .sanitize import text_html

    if isinstance(make_view(magics, "text"), NotebookView):
        from IPython.display import display

        display({"text/plain": terminal_safe(text), "text/html": text_html(text)}, raw=True)
    else:
        print(terminal_safe(text))


def build_call(magics: GLMMagics, args: Any, cell: str) -> tuple[str, dict[str, Any]]:
    """(prompt, keyword arguments for Session.prepare/complete) from parsed options."""
    ns = magics.shell.user_ns if magics.shell is not None else {}
    body = cell.strip("\n")
    if not body.strip():
        raise UsageError("%%glm: the cell is empty; write the prompt below the %%glm line")
    if magics.interpolate and not args.no_interpolate:
        problems: list[str] = []
        body = interpolate(body, ns, problems)
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
    if args.retrieval:
        tools.append({"type": "retrieval", "retrieval": {"knowledge_id": args.retrieval}})
    if tools:
        params["tools"] = tools
    if args.thinking is not None:
        params["thinking"] = {"type": "enabled" if args.thinking else "disabled"}
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
                        cell_id=getattr(magics, "cell_id", None), append=args.append, **params)


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


def run_cell(magics: GLMMagics, args: Any, cell: str) -> Any:
    s = magics.session
    if args.image_gen:
        return run_image(magics, cell.strip(), model=args.model, size=args.size, n=args.n,
                         out=args.out, save=args.save, provider=args.provider)
    prompt, kwargs = build_call(magics, args, cell)
    if args.dry_run:
        return dry_run(magics, prompt, kwargs, stream=magics.stream and not args.no_stream)
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
    if fmt == "code" and args.insert and magics.shell is not None:
        code = code_block(comp.text)[1]
        shown = terminal_safe(code)  # bidi overrides and zero-width characters made visible
        if shown != code:
            view.show_notice("the code held invisible or control characters (bidi overrides, "
                             "zero-width, escapes); they are shown escaped in the next cell")
        magics.shell.set_next_input(shown, replace=False)
    return None


def dry_run(magics: GLMMagics, prompt: Any, kwargs: dict[str, Any], stream: bool = True
            ) -> dict[str, Any]:
    """Show the exact request that would be sent (key masked) and its estimated cost."""
    from . import pricing

    s = magics.session
    conv = s.chats.get(kwargs.get("chat") or "default")
    saved = [dict(m) for m in conv.messages] if conv is not None else None
    notices = len(s.notices)
    try:
        call = s.prepare(prompt, check_credentials=False, claim=False, **kwargs)
    finally:  # nothing is sent: the conversation stays exactly as it was
        del s.notices[notices:]
        if saved is None:
            s.chats.pop(kwargs.get("chat") or "default", None)
        else:
            conv.messages[:] = saved
            s.chats[conv.name] = conv
    client = s.client(call.provider)
    prov = client.provider
    body = {"model": call.model, "messages": call.messages, **call.params}
    note = None
    if not prov.local:
        try:  # the body the dialect will put on the wire (its adjustments included)
            prov.validate(dict(body))
            wire = prov.prepare(dict(body), stream).json
            if isinstance(wire, dict):
                body = wire
        except errors.ConfigurationError:
            note = "no key is set, so the provider's own adjustments are not shown"
        except errors.GLMError as err:
            note = f"this request would be refused before sending: {err}"
    tokens = estimate_messages(call.messages)
    cost, currency, status = pricing.estimate_cost(call.provider, call.model, tokens)
    info: dict[str, Any] = {
        "provider": call.provider, "base_url": prov.base_url, "model": call.model,
        "api_key": mask(getattr(prov, "_api_key", None)), "stream": stream,
        "request": _shortened(body),
        "estimated_prompt_tokens": tokens,
        "estimated_prompt_cost": pricing.format_cost(cost, currency, status,
                                                     s.exchange_rate),
    }
    window = context_window(prov, call.model)
    if window and tokens > window:
        info["warning"] = (f"the prompt (~{tokens:,} tokens) is larger than {call.model}'s "
                           f"context window ({window:,} tokens)")
    if note:
        info["note"] = note
    print(terminal_safe(redact(json.dumps(info, ensure_ascii=False, indent=2))))
    return None


def context_window(provider: Any, model: str) -> int | None:
    """The model's context window in tokens, when the provider's model list knows it."""
    name = (model or "").lower()
    for info in getattr(provider, "models", ()):
        if info.name.lower() == name and info.context:
            return int(info.context)
    return None


def _shortened(value: Any, limit: int = 2000) -> Any:
    """The request as shown: long strings cut for the display only (never for sending)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value) - limit:,} more characters, sent in full)"
    if isinstance(value, dict):
        return {k: _shortened(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v, limit) for v in value]
    return value


# --- %glm SUBCOMMAND ----------------------------------------------------------------------------
def run_subcommand(magics: GLMMagics, line: str) -> Any:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%glm: cannot parse {line!r} ({exc})") from None
    if not words:
        raise UsageError(_subcommand_hint("a subcommand is missing"))
    name, rest = words[0].lower(), words[1:]
    fn = _SUBCOMMANDS.get(name)
    if fn is None:
        raise UsageError(_subcommand_hint(f"unknown subcommand {name!r}"))
    try:
        return fn(magics, rest)
    except errors.GLMError as err:
        raise cell_error(err) from None
    except (ValueError, OSError) as err:
        raise UsageError(f"%glm {name}: {err}") from None


def _subcommand_hint(problem: str) -> str:
    from .magics import SUBCOMMANDS

    return (f"%glm: {problem}; use one of: {', '.join(SUBCOMMANDS)} "
            "(or %%glm with the prompt in the cell body)")


def _usage(magics: GLMMagics, rest: list[str]) -> Any:
    df = magics.session.usage()
    if rest[:1] == ["--csv"]:
        if len(rest) < 2:
            raise UsageError("%glm usage --csv needs a file path")
        df.to_csv(rest[1], index=False)
        print(f"wrote {len(df)} rows to {rest[1]}")
        return None
    if rest:
        raise UsageError("%glm usage takes no arguments besides --csv PATH")
    return df


def _cost(magics: GLMMagics, rest: list[str]) -> Any:
    from .ledger import plot, summarize

    by = rest[0] if rest else "model"
    df = magics.session.usage()
    try:
        summary = summarize(df, by)
    except ValueError as exc:
        raise UsageError(f"%glm cost: {exc}") from None
    if len(df):  # the chart is shown; the table is the value (`x = %glm cost`)
        from IPython.display import display

        display(plot(df, "cost"))
    return summary


def _history(magics: GLMMagics, rest: list[str]) -> None:
    name = rest[0] if rest else "default"
    conv = magics.session.chats.get(name)
    if conv is None:
        raise UsageError(f"no conversation named {name!r}; %glm chats lists them")
    show_text(magics, conv.transcript())


def _reset(magics: GLMMagics, rest: list[str]) -> None:
    s = magics.session
    if rest == ["--all"]:
        n = len(s.chats)
        s.chats.clear()
        print(f"cleared {n} conversation(s)")
        return
    name = rest[0] if rest else "default"
    conv = s.chats.get(name)
    if conv is None:
        raise UsageError(f"no conversation named {name!r}; %glm chats lists them")
    conv.reset()
    print(f"conversation {name!r} cleared" + (" (system prompt kept)" if conv.system else ""))


def _chats(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    rows = [{"chat": c.name, "turns": c.turns, "messages": len(c.messages),
             "estimated_tokens": estimate_messages(c.messages), "tokens_used": c.tokens_used,
             "system": terminal_safe((c.system or "")[:40])} for c in magics.session.chats.values()]
    return pd.DataFrame(rows, columns=["chat", "turns", "messages", "estimated_tokens",
                                       "tokens_used", "system"])


def _save(magics: GLMMagics, rest: list[str]) -> None:
    if len(rest) != 2:
        raise UsageError("usage: %glm save NAME PATH")
    conv = magics.session.chats.get(rest[0])
    if conv is None:
        raise UsageError(f"no conversation named {rest[0]!r}; %glm chats lists them")
    conv.save(rest[1])
    print(f"saved {conv.name!r} ({len(conv.messages)} messages) to {rest[1]}")


def _load(magics: GLMMagics, rest: list[str]) -> None:
    if len(rest) not in (1, 2):
        raise UsageError("usage: %glm load PATH [NAME]")
    try:
        conv = Conversation.load(rest[0], rest[1] if len(rest) > 1 else None)
    except FileNotFoundError:
        raise UsageError(f"%glm load: no such file: {rest[0]}") from None
    except ValueError as exc:
        raise UsageError(f"%glm load: {rest[0]}: {exc}") from None
    magics.session.chats[conv.name] = conv
    print(f"loaded conversation {conv.name!r} ({len(conv.messages)} messages)")


def _config(magics: GLMMagics, rest: list[str]) -> None:
    from .providers import names, provider_class

    s = magics.session
    lines = ["GLMMagics settings:"]
    for name in sorted(magics.trait_names(config=True)):
        value = getattr(magics, name)
        if name == "providers":
            shown = "{" + ", ".join(f"{p!r}: {masked_mapping(o)}" for p, o in value.items()) \
                + "}"
        else:
            shown = repr(value)
        lines.append(f"  {name} = {shown}")
    lines.append(f"ledger: {s.ledger.path}")
    lines.append("credentials:")
    for p in names():
        cls = provider_class(p)
        if cls.key_env:
            lines.append(f"  {p}: {cls.key_env} = {mask(os.environ.get(cls.key_env))}")
    print(redact("\n".join(lines)))


def _models(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    from . import pricing
    from .providers import names, provider_class

    wanted = [rest[0]] if rest else names()
    rows = []
    for p in wanted:
        cls = provider_class(p)
        for m in cls.models:
            price = pricing.lookup(p, m.name)
            rows.append({
                "provider": p, "model": m.name, "context": m.context,
                "input_per_M": None if price is None or price.free else price.input,
                "output_per_M": None if price is None or price.free else price.output,
                "per_image": price.per_image if price else None,
                "currency": price.currency if price else None,
                "free": bool(price and price.free), "price_as_of": price.as_of if price else None,
                "note": m.note,
            })
    return pd.DataFrame(rows)


def _budget(magics: GLMMagics, rest: list[str]) -> None:
    s = magics.session
    if not rest:
        if s.budget is None:
            print("no budget set; %glm budget 5 CNY sets one")
        else:
            amount, cur = s.budget
            print(f"budget {amount:g} {cur}; spent {s.spent.get(cur, 0.0):.4f} {cur}")
        return
    if rest[0].lower() in ("off", "none"):
        magics.budget = None
        print("budget removed")
        return
    amount, cur = parse_budget(" ".join(rest))
    magics.budget = f"{amount} {cur}"
    print(f"budget set: {amount:g} {cur} (warning at 80%)")


def _chat(magics: GLMMagics, rest: list[str]) -> Any:
    from .widget import ChatPanel

    return ChatPanel(chat=rest[0] if rest else "default")


def _help(magics: GLMMagics, rest: list[str]) -> None:
    print(magics.glm.__doc__)


def _result(magics: GLMMagics, rest: list[str]) -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%glm result", add_help=False, exit_on_error=False)
    p.add_argument("task_id")
    p.add_argument("--wait", action="store_true")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("-o", "--out")
    try:
        a = p.parse_args(rest)
    except (argparse.ArgumentError, SystemExit):
        raise UsageError("usage: %glm result TASK_ID [--wait] [--timeout S] [-o VAR]") from None
    s = magics.session
    comp = s.task_result(a.task_id, wait=a.wait, timeout=a.timeout)
    status = (comp.task_status or "").upper()
    if status != "SUCCESS":
        print(f"task {a.task_id}: {status or 'unknown'} — try again later, or add --wait")
        return None
    view = make_view(magics, magics.format)
    view.finish(comp)
    ns = magics.shell.user_ns if magics.shell is not None else {}
    ns["_glm"] = comp
    if a.out:
        ns[a.out] = comp.text
    return None


def _tasks(magics: GLMMagics, rest: list[str]) -> Any:
    import pandas as pd

    rows = [{"task_id": tid, "provider": t["call"].provider, "model": t["call"].model,
             "submitted": pd.Timestamp(t["submitted"], unit="s", tz="UTC"),
             "status": t["status"]} for tid, t in magics.session.tasks.items()]
    return pd.DataFrame(rows, columns=["task_id", "provider", "model", "submitted", "status"])


def _image(magics: GLMMagics, rest: list[str]) -> Any:
    import argparse

    p = argparse.ArgumentParser(prog="%glm image", add_help=False, exit_on_error=False)
    p.add_argument("-m", "--model")
    p.add_argument("-p", "--provider")
    p.add_argument("--size")
    p.add_argument("-n", type=int)
    p.add_argument("-o", "--out")
    p.add_argument("--save")
    p.add_argument("prompt", nargs="+")
    try:
        a = p.parse_args(rest)
    except (argparse.ArgumentError, SystemExit):
        raise UsageError("usage: %glm image [-m cogview-4] [--size 1024x1024] [-n N] [-o VAR] "
                         "[--save PATH] PROMPT") from None
    return run_image(magics, " ".join(a.prompt), model=a.model, size=a.size, n=a.n, out=a.out,
                     save=a.save, provider=a.provider)


def run_image(magics: GLMMagics, prompt: str, *, model: str | None, size: str | None,
              n: int | None, out: str | None, save: str | None, provider: str | None) -> None:
    """Generate, show inline (from the URL or b64_json), optionally save; priced per image."""
    from IPython.display import Image, display

    from . import pricing

    if not prompt:
        raise UsageError("the image prompt is empty")
    s = magics.session
    try:
        resp = s.generate_image(prompt, model=model or "cogview-3", size=size, n=n,
                                provider=provider, source="magic",
                                cell=getattr(magics.shell, "execution_count", None))
    except errors.GLMError as err:
        raise cell_error(err) from None
    trusted = s.client(provider).provider.base_url
    for i, item in enumerate(resp.data):
        data = image_bytes(item, trusted)
        if save and data is not None:
            path = save if len(resp.data) == 1 else _numbered(save, i + 1)
            with open(path, "wb") as f:
                f.write(data)
            print(f"saved {path}")
        if data is not None:
            display(Image(data=data))
        elif item.url:
            display({"text/html": clean_html(f'<a href="{html.escape(item.url)}">image {i + 1}'
                                             "</a>"),
                     "text/plain": terminal_safe(f"image {i + 1}: {item.url}")}, raw=True)
    comp = getattr(resp, "completion", None)
    if comp is not None and magics.show_footer:
        count = f"{len(resp.data)} image{'s' if len(resp.data) != 1 else ''}"
        line = " · ".join([comp.model, count, f"{comp.latency_s or 0:.2f} s",
                           pricing.format_cost(comp.cost if comp.cost is not None else
                                               float("nan"), comp.currency,
                                               comp.cost_status or "unpriced",
                                               magics.session.exchange_rate)])
        print(f"[{terminal_safe(line)}]")
    ns = magics.shell.user_ns if magics.shell is not None else {}
    if out:
        ns[out] = resp
    ns["_glm_image"] = resp
    return None


def image_bytes(item: Any, trusted: str | None = None) -> bytes | None:
    """The image's bytes: decoded from b64_json, or downloaded from its URL when that is a
    public http(s) address or the provider's own host (else shown as a link, with why)."""
    if item.b64_json:
        return base64.b64decode(item.b64_json)
    if item.url:
        import httpx

        from .media import fetch_image

        try:
            return fetch_image(item.url, trusted)
        except ValueError as exc:
            print(terminal_safe(f"glm-magic: not downloading the image: {exc}"))
        except httpx.HTTPError:
            return None
    return None


def _numbered(path: str, i: int) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}-{i}{ext}"


_SUBCOMMANDS = {
    "usage": _usage, "cost": _cost, "history": _history, "reset": _reset, "chats": _chats,
    "save": _save, "load": _load, "config": _config, "models": _models, "budget": _budget,
    "chat": _chat, "help": _help, "result": _result, "tasks": _tasks, "image": _image,
}
