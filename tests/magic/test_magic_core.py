"""%%glm in a bare InteractiveShell against the loopback server and the local model."""

from __future__ import annotations

import pytest

from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import stream_frames


def run(shell, line, cell):
    return shell.run_cell_magic("glm", line, cell)


def test_streams_and_continues_the_conversation(shell, zhipu, capsys):
    run(shell, "", "first question")
    run(shell, "", "second question")
    out = capsys.readouterr().out
    assert "echo: first question" in out and "echo: second question" in out
    assert "glm-4-flash" in out and "tokens" in out  # the footer
    sent = zhipu.received[-1].json
    assert sent["stream"] is True
    assert sent["messages"] == [  # exactly the conversation: no hidden system prompt
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "echo: first question"},
        {"role": "user", "content": "second question"},
    ]
    comp = shell.user_ns["_glm"]
    assert comp.text == "echo: second question" and comp.usage.prompt_tokens == 11


def test_new_and_model_and_provider_options(shell, zhipu):
    run(shell, "", "one")
    run(shell, "--new -m glm-4-plus -p zhipu", "two")
    sent = zhipu.received[-1].json
    assert sent["model"] == "glm-4-plus"
    assert sent["messages"] == [{"role": "user", "content": "two"}]


def test_local_model_in_the_magic(shell, capsys):
    run(shell, "-p local -t 0 --max-tokens 24", "What is the capital of France?")
    assert "Paris" in capsys.readouterr().out
    run(shell, "-m local:default -t 0 --max-tokens 24", "Which river flows through it?")
    comp = shell.user_ns["_glm"]
    assert comp.provider == "local" and comp.text
    import glm_magic

    conv = glm_magic.session().chats["default"]
    assert [m["role"] for m in conv.messages] == ["user", "assistant", "user", "assistant"]


def test_interrupt_keeps_partial_and_records(shell, zhipu, capsys):
    class Interrupting:
        def __init__(self):
            self.n = 0

        def update(self, chunk):
            self.n += 1
            if self.n == 2:
                raise KeyboardInterrupt

        def finish(self, comp):
            pass

        def show_notice(self, text):
            print(text)

    import glm_magic.commands as commands

    zhipu.push(Reply(events=stream_frames("a b c d e f", "glm-4-flash"), pause=0.05))
    original = commands.make_view
    commands.make_view = lambda magics, fmt: Interrupting()
    try:
        run(shell, "", "go")
    finally:
        commands.make_view = original
    assert "interrupted" in capsys.readouterr().out
    import glm_magic

    comp = shell.user_ns["_glm"]
    assert comp.status == "interrupted" and comp.text == "a b "
    conv = glm_magic.session().chats["default"]
    assert conv.messages[-1] == {"role": "assistant", "content": "a b ", "status": "interrupted"}
    df = glm_magic.usage()
    assert df.iloc[-1]["status"] == "interrupted" and df.iloc[-1]["usage_estimated"]
    # the interrupted turn is sent back without our status marker
    run(shell, "", "again")
    assert zhipu.received[-1].json["messages"][1] == {"role": "assistant", "content": "a b "}


def test_errors_are_one_line_usage_errors(shell, zhipu, capsys):
    from glm_magic.testing.zhipu import zhipu_error

    zhipu.push(zhipu_error("1113", "余额不足", 429))
    result = shell.run_cell("%%glm\nhello")
    assert result.error_in_exec is not None
    err = capsys.readouterr()
    text = err.out + err.err
    assert "QuotaExceededError" in text and "Traceback" not in text
    assert len(zhipu.received) == 1


@pytest.mark.parametrize("line", ["--bogus", "-t", "-t hot", "--max-tokens 0", "-t 3",
                                  "-p nowhere", "--image /no/such.png", "--param =1"])
def test_bad_options_are_usage_errors(shell, zhipu, line, capsys):
    result = shell.run_cell(f"%%glm {line}\nhello")
    assert result.error_in_exec is not None
    text = capsys.readouterr()
    assert "UsageError" in text.out + text.err and "Traceback" not in text.out + text.err
    assert not zhipu.received


def test_empty_cell_is_usage_error(shell, zhipu, capsys):
    result = shell.run_cell("%%glm\n   \n")
    assert result.error_in_exec is not None
    assert "empty" in capsys.readouterr().err
