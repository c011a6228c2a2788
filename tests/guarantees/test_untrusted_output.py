"""Model output is untrusted: the payload corpus through every front-end and every format,
terminal escapes, remote images, and keys that follow their source."""

from __future__ import annotations

import io
import os
import re

import pytest
from IPython.utils.capture import capture_output

import glm_magic
from glm_magic import errors
from glm_magic.render import FORMATS, NotebookView, TerminalView
from glm_magic.sanitize import (
    answer_bundle,
    markdown_html,
    references_html,
    safe_html,
    terminal_safe,
    tool_html,
)
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import API_KEY, sse, stream_frames, zhipu_error
from glm_magic.types import Chunk, Completion, chunk_from_openai
from tests.payloads import CONTROL, PAYLOADS, STREAM_SPLIT, inert_problems


def _chunk(text: str = "", reasoning: str = "") -> Chunk:
    delta = {"content": text} if text else {}
    if reasoning:
        delta["reasoning_content"] = reasoning
    return chunk_from_openai({"choices": [{"index": 0, "delta": delta}]})


def test_corpus_is_large_and_varied():
    assert len(PAYLOADS) >= 40
    for family in ("onerror", "onload", "ontoggle", "javascript:", "data:", "vbscript:",
                   "srcdoc", "<object", "<embed", "<form", "refresh", "<base", "<style",
                   "<animate", "<math", "![", "<!--", "CDATA", "\\href", "\x1b"):
        assert any(family in p for p in PAYLOADS), family


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_payload_is_inert_in_every_format(payload, fmt):
    bundle = answer_bundle(payload, fmt, reasoning=payload)
    assert "text/markdown" not in bundle  # a live session renders that unsanitized
    assert not CONTROL.search(bundle["text/plain"])
    if "text/html" in bundle:
        assert inert_problems(bundle["text/html"]) == [], bundle["text/html"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_side_displays_are_inert(payload):
    for fragment in (tool_html(payload, payload, payload),
                     references_html([{"title": payload, "link": payload},
                                      {"title": payload, "link": "https://ok.example/"},
                                      payload])):
        assert inert_problems(fragment, own_styles=True) == [], fragment
        assert not CONTROL.search(fragment)


def test_streamed_updates_never_render_a_split_tag():
    view = NotebookView("markdown", max_fps=0, footer=False)
    seen = []
    with capture_output() as cap:
        for piece in STREAM_SPLIT:
            view.update(_chunk(piece))
        view.finish(Completion(provider="zhipu", model="m"))
    for out in cap.outputs:
        seen.append(out.data.get("text/html", ""))
    # display updates are not captured as outputs; re-render every prefix as the view does
    text = ""
    for piece in STREAM_SPLIT:
        text += piece
        seen.append(answer_bundle(text, "markdown", final=False)["text/html"])
    assert seen and all(inert_problems(h) == [] for h in seen)
    assert "&lt;img src=x onerror=" in seen[-1]


def test_markdown_still_renders_math_tables_and_code():
    h = markdown_html("Euler: $e^{i\\pi}+1=0$ and\n\n$$\\int_0^1 x\\,dx$$\n\n| a | b |\n|---|---|\n"
                      "| 1 | 2 |\n\n```python\nprint('hi')\n```\n\n[docs](https://glm.example/)")
    assert '<span class="math inline">$e^{i\\pi}+1=0$</span>' in h
    assert '<div class="math display">$$\\int_0^1 x\\,dx$$</div>' in h
    assert "<table>" in h and "<td>1</td>" in h
    assert '<code class="language-python">' in h
    assert '<a href="https://glm.example/" rel="noopener noreferrer">docs</a>' in h
    # math with underscores is not eaten by the Markdown parser
    assert "$a_1 + b_1$" in markdown_html("$a_1 + b_1$")


def test_remote_images_are_links_unless_allowed():
    md = "![chart](https://img.example/c.png)"
    off = markdown_html(md)
    assert "<img" not in off and 'href="https://img.example/c.png"' in off and "chart" in off
    on = markdown_html(md, allow_images=True)
    assert '<img src="https://img.example/c.png" alt="chart">' in on
    assert "<img" not in safe_html('<img src="https://img.example/c.png" alt="c">')
    assert "<img" in safe_html('<img src="https://img.example/c.png">', allow_images=True)
    # even when allowed, only http(s) images load
    assert "<img" not in markdown_html("![x](javascript:alert(1))", allow_images=True)


def test_terminal_safe_keeps_newlines_and_tabs():
    raw = "a\x1b]0;title\x07b\x1b[2Jc\td\r\ne\u202ef\x9b"
    safe = terminal_safe(raw)
    assert safe == "a\\x1b]0;title\\x07b\\x1b[2Jc\td\ne\\u202ef\\x9b"
    assert not CONTROL.search(safe)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_terminal_view_writes_no_control_sequences(payload):
    out = io.StringIO()
    view = TerminalView(stream=out)
    view.update(_chunk(reasoning=payload))
    for i in range(0, len(payload), 3):
        view.update(_chunk(payload[i:i + 3]))
    view.show_tool(payload, payload, payload)
    view.show_notice(payload)
    view.finish(Completion(provider="zhipu", model=payload,
                           web_search=[{"title": payload, "link": payload}]))
    assert not CONTROL.search(out.getvalue())


def _run(shell, line, cell="q"):
    return shell.run_cell_magic("glm", line, cell)


@pytest.mark.parametrize("fmt", FORMATS)
def test_magic_outputs_are_inert_for_the_whole_corpus(shell, zhipu, fmt):
    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    for payload in PAYLOADS:
        zhipu.push(Reply(events=stream_frames(payload, "glm-4-flash")))
        with capture_output() as cap:
            _run(shell, f"-f {fmt} --once")
        assert cap.outputs, payload
        for out in cap.outputs:
            assert "text/markdown" not in out.data
            assert not CONTROL.search(out.data.get("text/plain", ""))
            if "text/html" in out.data:
                assert inert_problems(out.data["text/html"], own_styles=True) == [], payload
        assert shell.user_ns["_glm"].text == payload  # the answer itself is kept as written


def test_thinking_tool_and_reference_displays_in_the_magic(shell, zhipu):
    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    payload = PAYLOADS[0] + PAYLOADS[2]
    chunks = [{"choices": [{"index": 0, "delta": {"reasoning_content": payload}}]},
              {"choices": [{"index": 0, "delta": {"content": payload}}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "web_search": [{"title": payload, "link": "javascript:alert(1)"}],
               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}]
    zhipu.push(Reply(events=sse(*chunks)))
    with capture_output() as cap:
        _run(shell, "--thinking --once")
    htmls = [o.data["text/html"] for o in cap.outputs if "text/html" in o.data]
    assert any("glm-thinking" in h for h in htmls)
    for h in htmls:
        assert inert_problems(h, own_styles=True) == [], h


def test_history_chats_and_errors_are_terminal_safe(shell, zhipu):
    evil = "hi \x1b]0;pwned\x07\x1b[2J there"
    zhipu.push(Reply(events=stream_frames(evil, "glm-4-flash")))
    with capture_output():
        _run(shell, "-s 'sys \x1b[31m'", evil)
    with capture_output() as cap:
        shell.run_line_magic("glm", "history")
    assert "pwned" in cap.stdout and not CONTROL.search(cap.stdout)
    chats = shell.run_line_magic("glm", "chats")
    assert not CONTROL.search(repr(chats))
    zhipu.push(zhipu_error("1214", "bad \x1b]0;title\x07 input", 400))
    with pytest.raises(errors.GLMError) as ei:
        glm_magic.Client(provider="zhipu").chat.completions.create(
            model="glm-4-flash", messages=[{"role": "user", "content": "x"}])
    assert not CONTROL.search(str(ei.value)) and "\\x1b" in str(ei.value)


def test_chat_panel_renders_the_corpus_inert(zhipu):
    from glm_magic import ChatPanel

    panel = ChatPanel(provider="zhipu", chat="evil")
    for payload in PAYLOADS[:12] + PAYLOADS[-12:]:
        zhipu.push(Reply(events=stream_frames(payload, "glm-4-flash")))
        panel.send("go")
    values = [w.value for w in panel.transcript.children]
    assert len(values) >= 48
    for v in values:
        assert inert_problems(v, own_styles=True) == [], v


def test_remote_images_follow_the_setting_in_magic_and_panel(shell, zhipu):
    from glm_magic import ChatPanel

    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    md = "![cat](https://img.example/cat.png)"
    zhipu.push(Reply(events=stream_frames(md, "glm-4-flash")))
    with capture_output() as cap:
        _run(shell, "--once")
    html = "".join(o.data.get("text/html", "") for o in cap.outputs)
    assert "<img" not in html and "https://img.example/cat.png" in html
    shell.run_line_magic("config", "GLMMagics.allow_remote_images = True")
    zhipu.push(Reply(events=stream_frames(md, "glm-4-flash")))
    with capture_output() as cap:
        _run(shell, "--once")
    html = "".join(o.data.get("text/html", "") for o in cap.outputs)
    assert '<img src="https://img.example/cat.png"' in html
    panel = ChatPanel(provider="zhipu", chat="img")
    zhipu.push(Reply(events=stream_frames(md, "glm-4-flash")))
    panel.send("a cat")
    assert "<img" in panel.transcript.children[-1].value


# --- keys follow their source ------------------------------------------------------------------
def _ask():
    return glm_magic.session().complete("hi", provider="zhipu", once=True, stream=False)


def test_a_corrected_key_in_the_environment_works_on_the_next_call(zhipu, monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "wrong0123456789abcdef.wrongSECRETvalue")
    with pytest.raises(errors.AuthenticationError) as ei:
        _ask()
    msg = str(ei.value)
    assert "ZHIPUAI_API_KEY from the environment" in msg and "wrongSECRETvalue" not in msg
    monkeypatch.setenv("ZHIPUAI_API_KEY", API_KEY)
    assert _ask().status == "ok"
    auth = zhipu.received[-1].headers["authorization"]
    assert auth == f"Bearer {API_KEY}"


def test_a_corrected_key_in_dotenv_works_on_the_next_call(zhipu, monkeypatch, tmp_path):
    monkeypatch.delenv("ZHIPUAI_API_KEY")
    env = tmp_path / ".env"
    env.write_text("ZHIPUAI_API_KEY=wrong0123456789abcdef.wrongSECRETvalue  # my key\n")
    with pytest.raises(errors.AuthenticationError) as ei:
        _ask()
    assert str(env) in str(ei.value) and "wrongSECRETvalue" not in str(ei.value)
    env.write_text(f"export ZHIPUAI_API_KEY='{API_KEY}'  # fixed\n")
    os.utime(env, ns=(1, 10**18))  # a different mtime even on a coarse clock
    assert _ask().status == "ok"
    assert zhipu.received[-1].headers["authorization"] == f"Bearer {API_KEY}"


def test_dotenv_comments_quotes_and_export(tmp_path, monkeypatch):
    from glm_magic.config import env_value, load_dotenv, source_of

    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    (tmp_path / ".env").write_text("export ZHIPUAI_API_KEY=abc123  # my key\n"
                                   "DASHSCOPE_API_KEY=\"quoted # not a comment\"\n")
    load_dotenv()
    assert env_value("ZHIPUAI_API_KEY") == "abc123"
    assert env_value("DASHSCOPE_API_KEY") == "quoted # not a comment"
    assert "ZHIPUAI_API_KEY" not in os.environ
    assert source_of("ZHIPUAI_API_KEY") == str((tmp_path / ".env").resolve())


def test_key_only_in_dotenv_is_used_from_the_first_call(zhipu, monkeypatch, tmp_path):
    monkeypatch.delenv("ZHIPUAI_API_KEY")
    (tmp_path / ".env").write_text(f"ZHIPUAI_API_KEY={API_KEY}\n")
    s = glm_magic.session()
    assert s.resolve()[0] == "zhipu"


# --- no key sent where the user did not point it ---------------------------------------------
def test_base_url_from_pyproject_does_not_get_the_environment_key(shell, zhipu, monkeypatch,
                                                                  tmp_path, capsys):
    monkeypatch.delenv("ZHIPUAI_BASE_URL")
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.glm_magic]\nproviders = {{ zhipu = {{ base_url = "{zhipu.base_url}" }} }}\n')
    capsys.readouterr()
    shell.run_line_magic("reload_ext", "glm_magic")
    out = capsys.readouterr().out
    # a project file may not choose where the key goes: left out, with one line naming it
    assert "left out providers from" in out and "pyproject.toml" in out
    assert "%glm trust" in out
    assert "zhipu" not in glm_magic.session().settings.providers
    before = len(zhipu.received)
    # a project .env's base URL with the environment's key is refused as before
    (tmp_path / ".env").write_text(f"ZHIPUAI_BASE_URL={zhipu.base_url}\n")
    from IPython.core.error import UsageError

    with pytest.raises(UsageError) as ei:
        _run(shell, "-p zhipu --once")
    msg = str(ei.value)
    assert "refusing to send" in msg and ".env" in msg and "\n" not in msg
    assert "ZHIPUAI_BASE_URL" in msg  # how to allow it
    assert len(zhipu.received) == before
    (tmp_path / ".env").unlink()
    # the user confirming it in %config is allowed
    shell.run_line_magic("config",
                         f"GLMMagics.providers = {{'zhipu': {{'base_url': '{zhipu.base_url}'}}}}")
    with capture_output():
        _run(shell, "-p zhipu --once")
    assert len(zhipu.received) == before + 1


def test_base_url_from_dotenv_needs_the_key_from_the_same_file(zhipu, monkeypatch, tmp_path):
    monkeypatch.delenv("ZHIPUAI_BASE_URL")
    env = tmp_path / ".env"
    env.write_text(f"ZHIPUAI_BASE_URL={zhipu.base_url}\n")
    before = len(zhipu.received)
    with pytest.raises(errors.ConfigurationError, match="refusing to send"):
        _ask()
    assert len(zhipu.received) == before
    monkeypatch.delenv("ZHIPUAI_API_KEY")
    env.write_text(f"ZHIPUAI_BASE_URL={zhipu.base_url}\nZHIPUAI_API_KEY={API_KEY}\n")
    os.utime(env, ns=(1, 2 * 10**18))
    assert _ask().status == "ok"


def test_explicit_client_arguments_are_trusted(zhipu):
    with glm_magic.Client(provider="zhipu", base_url=zhipu.base_url) as c:
        r = c.chat.completions.create(model="glm-4-flash",
                                      messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content
    assert re.fullmatch(r"Bearer .+", zhipu.received[-1].headers["authorization"])
