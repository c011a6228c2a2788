"""Every %%glm option and %glm subcommand, asserting on the exact request the loopback server
received, the user namespace and the displayed output."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import glm_magic
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import API_KEY, completion_body, stream_frames


def run(shell, line, cell="hello"):
    return shell.run_cell_magic("glm", line, cell)


def sent(zhipu):
    return zhipu.received[-1].json


def test_sampling_options_pass_through(shell, zhipu):
    run(shell, "-t 0.3 --top-p 0.5 --max-tokens 20 --stop END --stop FIN --seed 42")
    body = sent(zhipu)
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == \
        (0.3, 0.5, 20, 42)
    assert body["stop"] == ["END", "FIN"]


def test_param_values_parse_as_json(shell, zhipu):
    run(shell, '--param do_sample=false --param user_id=abcdef1 --param '
               '\'tools=[{"type":"web_search","web_search":{"enable":true}}]\'')
    body = sent(zhipu)
    assert body["do_sample"] is False and body["user_id"] == "abcdef1"
    assert body["tools"][0]["web_search"]["enable"] is True


def test_system_prompt_named_chats_once(shell, zhipu):
    run(shell, "-s 'You are terse.'", "a")
    assert sent(zhipu)["messages"][0] == {"role": "system", "content": "You are terse."}
    run(shell, "-c other", "b")
    assert sent(zhipu)["messages"] == [{"role": "user", "content": "b"}]
    run(shell, "", "c")
    msgs = sent(zhipu)["messages"]
    assert msgs[0]["role"] == "system" and len(msgs) == 4  # system + a + answer + c
    run(shell, "--once", "d")
    assert sent(zhipu)["messages"] == [{"role": "user", "content": "d"}]
    s = glm_magic.session()
    assert s.chats["default"].turns == 2 and s.chats["other"].turns == 1
    run(shell, "-s 'Be kind.' --new", "e")
    assert sent(zhipu)["messages"] == [{"role": "system", "content": "Be kind."},
                                       {"role": "user", "content": "e"}]


def test_out_variable_and_json(shell, zhipu):
    run(shell, "-o answer", "x")
    assert shell.user_ns["answer"] == "echo: x"
    zhipu.push(Reply(body=completion_body('{"a": 1, "b": [2]}', "glm-4-flash")))
    run(shell, "--json --no-stream -o data", "give json")
    assert shell.user_ns["data"] == {"a": 1, "b": [2]}
    assert sent(zhipu)["response_format"] == {"type": "json_object"}
    assert "stream" not in sent(zhipu)


def test_no_stream(shell, zhipu, capsys):
    run(shell, "--no-stream", "whole")
    assert "stream" not in sent(zhipu)
    assert "echo: whole" in capsys.readouterr().out


def test_code_format_and_insert(shell, zhipu):
    answer = "Here:\n```python\nprint('hi')\n```\nDone."
    zhipu.push(Reply(events=stream_frames(answer, "glm-4-flash")))
    captured = {}
    shell.set_next_input = lambda text, replace=False: captured.setdefault("text", text)
    try:
        run(shell, "-f code --insert", "code please")
    finally:
        del shell.set_next_input
    assert captured["text"] == "print('hi')"


def test_notebook_view_renders_markdown_footer_and_html_safely(shell, zhipu):
    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    with capture_output() as cap:
        run(shell, "", "**bold** answer")
    kinds = [o.data for o in cap.outputs]
    assert any("<strong>bold</strong> answer" in d.get("text/html", "")
               and d["text/plain"] == "echo: **bold** answer" for d in kinds)
    assert not any("text/markdown" in d for d in kinds)  # live sessions render it unsanitized
    footer = [d["text/html"] for d in kinds if "glm-footer" in d.get("text/html", "")]
    assert footer and "glm-4-flash" in footer[0] and "tokens" in footer[0]
    hostile = '<img src=x onerror=alert(1)><script>alert(2)</script><a href="javascript:x">l</a>'
    zhipu.push(Reply(events=stream_frames(hostile, "glm-4-flash")))
    with capture_output() as cap:
        run(shell, "-f html", "hostile")
    html = [o.data["text/html"] for o in cap.outputs if "text/html" in o.data
            and "glm-footer" not in o.data["text/html"]][-1]
    assert "onerror" not in html and "<script" not in html and "javascript:" not in html
    shell.run_line_magic("config", "GLMMagics.show_footer = False")
    with capture_output() as cap:
        run(shell, "", "quiet")
    assert not any("glm-footer" in o.data.get("text/html", "") for o in cap.outputs)


def test_image_files_become_base64_and_urls_pass(shell, zhipu, tmp_path):
    img = tmp_path / "pic.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\nfakepng")
    run(shell, f"-m glm-4v --image {img} --image https://example.com/a.jpg", "图里有什么")
    content = sent(zhipu)["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "图里有什么"}
    assert content[1]["image_url"]["url"] == base64.b64encode(img.read_bytes()).decode()
    assert content[2]["image_url"]["url"] == "https://example.com/a.jpg"
    big = tmp_path / "big.png"
    big.write_bytes(b"0" * (5 * 1024 * 1024 + 1))
    with pytest.raises(UsageError, match="5 MB"):
        run(shell, f"--image {big}", "x")


def test_dry_run_sends_nothing_and_masks_the_key(shell, zhipu, capsys):
    run(shell, "", "first")
    n = len(zhipu.received)
    before = [dict(m) for m in glm_magic.session().chats["default"].messages]
    run(shell, "--dry-run -m glm-4-plus --new", "what would this cost?")
    out = capsys.readouterr().out
    # nothing is sent but one request to the tokenizer, which counts the prompt exactly
    assert [r.path.rsplit("/", 1)[-1] for r in zhipu.received[n:]] == ["tokenizer"]
    assert API_KEY not in out and "…" in out
    info = json.loads(out[out.index("{"):])
    assert info["request"]["model"] == "glm-4-plus"
    assert info["request"]["messages"][-1]["content"] == "what would this cost?"
    assert info["estimated_prompt_tokens"] > 0 and "¥" in info["estimated_prompt_cost"]
    assert glm_magic.session().chats["default"].messages == before


def test_interpolation_and_braces(shell, zhipu):
    shell.user_ns.update(name="Ada", data={"k": [1, 2]})
    run(shell, "", 'Hi {name}, {data["k"][1]}, json {"a": 1}, {{literal}}, {missing}, '
                   '{=name.upper()}, code: def f(): return {1: 2}')
    assert sent(zhipu)["messages"][-1]["content"] == (
        'Hi Ada, 2, json {"a": 1}, {literal}, {missing}, ADA, code: def f(): return {1: 2}')
    run(shell, "--no-interpolate", "{name}")
    assert sent(zhipu)["messages"][-1]["content"] == "{name}"


def test_history_trimming_tells_the_user(shell, zhipu, capsys):
    shell.run_line_magic("config", "GLMMagics.max_history_tokens = 40")
    for i in range(6):
        run(shell, "", f"question number {i} " + "padding " * 5)
    msgs = sent(zhipu)["messages"]
    assert msgs[-1]["content"].startswith("question number 5")
    assert len(msgs) < 11
    assert "left out" in capsys.readouterr().out


def test_unknown_model_is_sent_with_typo_hint(shell, zhipu, capsys):
    run(shell, "-m glm-4-flsh", "x")
    assert sent(zhipu)["model"] == "glm-4-flsh"
    assert "did you mean 'glm-4-flash'" in capsys.readouterr().out
    run(shell, "-m glm-9-brand-new", "x")
    assert sent(zhipu)["model"] == "glm-9-brand-new"


def test_missing_key_is_a_usage_error_and_nothing_is_recorded(shell, monkeypatch):
    with pytest.raises(UsageError, match="ZHIPUAI_API_KEY"):
        run(shell, "-p zhipu", "x")
    assert glm_magic.session().chats.get("default") is None or \
        not glm_magic.session().chats["default"].messages


def test_config_traits_and_precedence(shell, zhipu):
    shell.run_line_magic("config", "GLMMagics.model = 'glm-4-air'")
    shell.run_line_magic("config", "GLMMagics.temperature = 0.2")
    run(shell, "", "x")
    assert sent(zhipu)["model"] == "glm-4-air" and sent(zhipu)["temperature"] == 0.2
    run(shell, "-m glm-4-plus -t 0.6", "x")  # options beat %config
    assert sent(zhipu)["model"] == "glm-4-plus" and sent(zhipu)["temperature"] == 0.6
    magics = shell.magics_manager.registry["GLMMagics"]
    with pytest.raises(Exception, match="unknown provider"):
        magics.provider = "nowhere"
    assert magics.provider is None and glm_magic.session().provider is None


def test_pyproject_settings_are_lowest_precedence(tmp_path, zhipu):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.glm_magic]\nmodel = "glm-4-long"\nshow_footer = false\n')
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("reload_ext", "glm_magic")
    try:
        magics = ip.magics_manager.registry["GLMMagics"]
        assert magics.model == "glm-4-long" and magics.show_footer is False
        ip.run_cell_magic("glm", "", "x")
        assert sent(zhipu)["model"] == "glm-4-long"
    finally:
        ip.extension_manager.unload_extension("glm_magic")


def test_unload_and_reload_are_clean(shell):
    from glm_magic.magics import GLMMagics

    shell.run_line_magic("reload_ext", "glm_magic")
    shell.run_line_magic("reload_ext", "glm_magic")
    assert sum(isinstance(c, GLMMagics) for c in shell.configurables) == 1
    shell.extension_manager.unload_extension("glm_magic")
    assert "glm" not in shell.magics_manager.magics["cell"]
    assert not any(isinstance(c, GLMMagics) for c in shell.configurables)
    shell.extension_manager.load_extension("glm_magic")
    assert "glm" in shell.magics_manager.magics["cell"]


def test_help_is_generated_from_arguments(shell):
    doc = shell.magics_manager.magics["cell"]["glm"].__doc__
    for opt in ("--model", "--temperature", "--dry-run", "--no-interpolate", "--image",
                "usage", "budget"):
        assert opt in doc


# --- subcommands --------------------------------------------------------------------------------
def test_subcommands(shell, zhipu, tmp_path, capsys):
    run(shell, "", "one")
    run(shell, "-c side", "two")
    df = shell.run_line_magic("glm", "usage")
    assert len(df) == 2 and set(df["source"]) == {"magic"}
    chats = shell.run_line_magic("glm", "chats")
    assert set(chats["chat"]) == {"default", "side"}
    assert chats.set_index("chat").loc["default", "turns"] == 1
    shell.run_line_magic("glm", "history side")
    assert "USER:\ntwo" in capsys.readouterr().out
    path = tmp_path / "conv.json"
    shell.run_line_magic("glm", f"save default {path}")
    shell.run_line_magic("glm", "reset default")
    assert glm_magic.session().chats["default"].messages == []
    shell.run_line_magic("glm", f"load {path}")
    assert glm_magic.session().chats["default"].messages[0]["content"] == "one"
    shell.run_line_magic("glm", "reset --all")
    assert glm_magic.session().chats == {}
    models = shell.run_line_magic("glm", "models zhipu")
    flash = models.set_index("model").loc["glm-4-flash"]
    assert flash["free"] and flash["price_as_of"] and flash["context"] == 128_000
    shell.run_line_magic("glm", "config")
    out = capsys.readouterr().out
    assert "GLMMagics settings" in out and API_KEY not in out and "ZHIPUAI_API_KEY" in out
    summary = shell.run_line_magic("glm", "cost")
    assert summary is not None
    shell.run_line_magic("glm", "help")
    assert "SUBCOMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("line", ["", "nope", "history missing", "save onlyone",
                                  "load /no/such/file.json", "budget lots", "usage --csv",
                                  "reset ghost", "'unbalanced"])
def test_bad_subcommands_are_usage_errors(shell, line):
    with pytest.raises(UsageError):
        shell.run_line_magic("glm", line)


def test_load_rejects_bad_files_without_partial_state(shell, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "wizard"}]}')
    with pytest.raises(UsageError, match="message 1"):
        shell.run_line_magic("glm", f"load {bad}")
    assert glm_magic.session().chats == {}


# --- property-based: the parser only succeeds or raises UsageError -----------------------------
OPTION_WORDS = st.sampled_from([
    "-m", "-p", "-s", "-t", "--top-p", "--max-tokens", "--stop", "--seed", "--param", "-c",
    "--new", "--once", "-o", "-f", "--insert", "--json", "--no-stream", "--image", "--dry-run",
    "--no-interpolate", "--bogus", "glm-4", "zhipu", "local", "0.5", "-1", "7", "x=1", "'",
    '"', "{", "}", "nan", "inf", "text", "code", "--", "=", "\\", "中文", "-mx", "--model=",
])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(OPTION_WORDS, max_size=6), noise=st.text(max_size=12))
def test_fuzz_option_lines(shell, words, noise):
    line = " ".join(words) + (" " + noise if noise.strip() else "")
    magics = shell.magics_manager.registry["GLMMagics"]
    try:
        args = magics.parse_options(line)
        from glm_magic import commands

        commands.build_call(magics, args, "body {x} {{y}}")
    except UsageError:
        pass
    except glm_magic.errors.ConfigurationError as err:  # e.g. -p 0: the magic shows one line
        from glm_magic.cell_errors import cell_error

        assert "\n" not in str(cell_error(err))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(max_size=80))
def test_fuzz_cell_bodies_interpolate_safely(shell, body):
    from glm_magic.interpolate import interpolate

    out = interpolate(body, {"x": 1, "name": "A"})
    assert isinstance(out, str)
    if "{" not in body and "}" not in body:
        assert out == body
