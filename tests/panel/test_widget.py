"""The chat panel at the Python level: real ipywidgets, the loopback server, the local model."""

from __future__ import annotations

import asyncio

import pytest

import glm_magic
from glm_magic import ChatPanel
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import stream_frames, zhipu_error

HOSTILE = ('<img src=x onerror=alert(1)> <script>alert(2)</script> '
           '[click](javascript:alert(3)) <a href="javascript:alert(4)">x</a>')


def html_of(panel):
    return [w.value for w in panel.transcript.children]


def test_send_streams_into_the_transcript_and_records(zhipu):
    panel = ChatPanel(provider="zhipu", model="glm-4-flash")
    comp = panel.send("hello")
    assert comp.text == "echo: hello" and comp.status == "ok"
    assert panel.messages == [{"role": "user", "content": "hello"},
                              {"role": "assistant", "content": "echo: hello"}]
    parts = html_of(panel)
    assert "glm-user" in parts[0] and "hello" in parts[0]
    assert "glm-assistant" in parts[1] and "echo: hello" in parts[1]
    assert "glm-4-flash" in panel.status.value and "session" in panel.status.value
    row = glm_magic.usage().iloc[-1]
    assert row["source"] == "widget" and row["status"] == "ok"
    assert zhipu.received[-1].json["temperature"] == pytest.approx(0.7)
    assert panel.stop_b.disabled and not panel.send_b.disabled


def test_panel_shares_the_conversation_with_the_magic(zhipu, shell):
    shell.run_cell_magic("glm", "", "from the magic")
    panel = ChatPanel(chat="default")
    assert len(panel.transcript.children) == 2  # the magic's exchange is shown
    panel.send("from the panel")
    assert zhipu.received[-1].json["messages"][0]["content"] == "from the magic"
    shell.run_cell_magic("glm", "", "back in the magic")
    assert zhipu.received[-1].json["messages"][2]["content"] == "from the panel"


def test_stop_mid_stream_keeps_partial(zhipu):
    zhipu.push(Reply(events=stream_frames(" ".join(f"w{i}" for i in range(40)), "glm-4-flash"),
                     pause=0.05))
    panel = ChatPanel(provider="zhipu")

    async def main():
        task = panel.send("long please")
        while "w3" not in "".join(html_of(panel)) and not task.done():
            await asyncio.sleep(0.02)
        panel.stop()
        return await task

    comp = asyncio.run(main())
    assert comp.status == "interrupted" and comp.text.startswith("w0 w1 w2 w3")
    assert "w39" not in comp.text
    assert "[stopped]" in html_of(panel)[-1]
    assert panel.conversation.messages[-1]["status"] == "interrupted"
    assert glm_magic.usage().iloc[-1]["status"] == "interrupted"
    assert not panel.send_b.disabled


def test_errors_show_inline_and_panel_stays_usable(zhipu):
    panel = ChatPanel(provider="zhipu")
    zhipu.push(zhipu_error("1113", "余额不足", 429))
    comp = panel.send("fails")
    assert comp.status == "error"
    last = html_of(panel)[-1]
    assert "glm-error" in last and "QuotaExceededError" in last and "\n" not in last
    assert panel.send("works").text == "echo: works"


def test_hostile_answer_is_sanitized(zhipu):
    zhipu.push(Reply(events=stream_frames(HOSTILE, "glm-4-flash")))
    panel = ChatPanel(provider="zhipu")
    panel.send("be evil")
    out = html_of(panel)[-1]
    # every tag is shown as text: no element, no handler attribute, no javascript: link
    assert "<img" not in out and "<script" not in out and '<a href="javascript' not in out
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in out


def test_retry_undo_clear_and_controls(zhipu):
    panel = ChatPanel(provider="zhipu", system="Be brief.")
    panel.send("one")
    panel.send("two")
    comp = panel.retry()
    assert comp.text == "echo: two" and panel.conversation.turns == 2
    assert zhipu.received[-1].json["messages"][-1] == {"role": "user", "content": "two"}
    panel.undo()
    assert [m["content"] for m in panel.messages] == ["Be brief.", "one", "echo: one"]
    assert len(panel.transcript.children) == 2
    panel.model_w.value = "glm-4-plus"
    panel.temperature_w.value = 0.2
    panel.system_w.value = "Be kind."
    panel.send("three")
    body = zhipu.received[-1].json
    assert body["model"] == "glm-4-plus" and body["temperature"] == pytest.approx(0.2)
    assert body["messages"][0] == {"role": "system", "content": "Be kind."}
    panel.clear()
    assert panel.messages == [{"role": "system", "content": "Be kind."}]
    assert panel.transcript.children == ()
    panel.provider_w.value = "local"
    assert panel.model_w.value == "default"
    with pytest.raises(ValueError):
        panel.send("  ")


@pytest.mark.local
def test_panel_on_the_local_model():
    panel = ChatPanel(provider="local")
    panel.temperature_w.value = 0.0
    comp = panel.send("What is the capital of France?")
    assert "Paris" in comp.text and "Paris" in html_of(panel)[-1]
    assert "free" in panel.status.value


def test_chat_subcommand_returns_a_panel(shell, zhipu):
    panel = shell.run_line_magic("glm", "chat")
    assert isinstance(panel, ChatPanel) and panel.chat == "default"
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_a_fast_long_answer_in_the_panel_sends_linear_bytes(zhipu):
    """100 KB in 4-character pieces as fast as the server sends: the bubble ends with the
    whole answer, and its updates send a few times the answer, not its square."""
    from glm_magic.live import MESSAGE_BYTES
    from glm_magic.widget import _bot_html

    from glm_magic.testing.zhipu import sse
    from tests.support.answers import long_markdown, pieces

    text = long_markdown(100_000)
    frames = sse(*[{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces(text)],
                 {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    zhipu.push(Reply(events=[b"".join(frames[i:i + 64]) for i in range(0, len(frames), 64)]))
    panel = ChatPanel(provider="zhipu")
    sent: list[int] = []
    panel.transcript.observe(
        lambda change: [w.observe(lambda c: sent.append(len(c["new"]) + MESSAGE_BYTES), "value")
                        for w in change["new"][len(change["old"]):]], "children")
    comp = panel.send("write the report")
    assert comp.text == text
    assert html_of(panel)[-1] == _bot_html(text)
    assert sent and sum(sent) <= 5 * len(text.encode())
