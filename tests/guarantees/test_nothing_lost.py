"""Nothing lost, nothing tangled: kernel interrupts of `batch()`, one call at a time per
conversation, bad prompts that leave the conversation as it was."""

from __future__ import annotations

import asyncio
import signal
import threading
import time

import pytest
from IPython.core.error import UsageError

import glm_magic
from glm_magic import errors
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body


@pytest.fixture
def zhipu(zhipu):
    """The loopback server; tests here swap its answers, so put them back after."""
    original = zhipu.app
    yield zhipu
    zhipu.app = original


def slow(server, delay):
    def app(rec):
        time.sleep(delay)
        text = rec.json["messages"][-1]["content"]
        return Reply(body=completion_body(f"echo: {text}", "glm-4-flash"))
    server.app = app


def test_a_kernel_interrupt_during_batch_returns_the_rows_done(zhipu):
    """Kernel → Interrupt is a SIGINT to the main thread while `batch()` waits."""
    # a kernel turns SIGINT into KeyboardInterrupt; an earlier test's library may have
    # installed a handler of its own in this process
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_a_batch(zhipu)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_a_batch(zhipu):
    slow(zhipu, 0.05)
    main = threading.main_thread().ident
    answer = zhipu.app
    seen = []

    def app(rec):  # the interrupt comes once rows are flowing, however slow the start
        seen.append(rec)
        if len(seen) == 10:
            threading.Timer(0.05, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
        return answer(rec)

    zhipu.app = app
    t0 = time.monotonic()
    df = glm_magic.batch([f"r{i}" for i in range(200)], concurrency=2, progress=False)
    assert time.monotonic() - t0 < 10
    done = (df["status"] == "ok").sum()
    assert 0 < done < 200
    assert (df["status"] == "interrupted").sum() == 200 - done
    assert df.loc[0, "answer"] == "echo: r0"


# --- one call at a time per conversation ------------------------------------------------------
def test_two_threads_on_one_conversation_never_interleave(zhipu):
    slow(zhipu, 0.3)
    s = glm_magic.Session()
    results: dict[str, object] = {}

    def ask(name):
        try:
            results[name] = s.complete(f"question {name}", stream=False)
        except errors.GLMError as err:
            results[name] = err

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    busy = [v for v in results.values() if isinstance(v, errors.ConversationBusyError)]
    ok = [v for v in results.values() if not isinstance(v, Exception)]
    assert len(busy) == 1 and len(ok) == 1
    assert "still answering" in str(busy[0]) and "--chat" in str(busy[0])
    msgs = s.chat().messages
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[1]["content"] == f"echo: {msgs[0]['content']}"
    # free again afterwards
    s.complete("next", stream=False)
    assert [m["role"] for m in s.chat().messages] == ["user", "assistant"] * 2


def test_other_conversations_run_at_the_same_time(zhipu):
    slow(zhipu, 0.3)
    s = glm_magic.Session()

    async def both():
        return await asyncio.gather(s.acomplete("one", chat="a", stream=False),
                                    s.acomplete("two", chat="b", stream=False))

    t0 = time.monotonic()
    a, b = asyncio.run(both())
    assert a.text == "echo: one" and b.text == "echo: two"
    assert time.monotonic() - t0 < 0.55


def test_panel_send_while_a_cell_streams_is_refused_and_the_cell_is_intact(zhipu):
    from glm_magic.widget import ChatPanel

    slow(zhipu, 0.4)
    s = glm_magic.Session()
    panel = ChatPanel(provider="zhipu", model="glm-4-flash", session_=s)
    box = {}
    cell = threading.Thread(target=lambda: box.setdefault("c", s.complete("from the cell")))
    cell.start()
    time.sleep(0.1)
    comp = panel.send("from the panel")
    cell.join()
    assert comp is None or comp.status == "error"
    assert box["c"].text == "echo: from the cell"
    html = "".join(getattr(w, "value", "") for w in panel.transcript.children)
    assert "still answering" in html
    assert [m["content"] for m in s.chat().messages] == ["from the cell",
                                                        "echo: from the cell"]


def test_a_batch_on_the_panels_loop_does_not_close_the_panels_client(zhipu):
    slow(zhipu, 0.2)
    s = glm_magic.Session()

    async def main():
        chat = asyncio.ensure_future(s.acomplete("panel question", chat="panel"))
        df = await glm_magic.abatch(["x", "y"], session=s, progress=False)
        comp = await chat
        return df, comp

    df, comp = asyncio.run(main())
    assert (df["status"] == "ok").all()
    assert comp.status == "ok" and comp.text == "echo: panel question"


# --- bad input leaves the conversation as it was --------------------------------------------
def test_a_lone_surrogate_is_a_clear_error_and_the_chat_still_works(zhipu, shell):
    s = glm_magic.Session()
    with pytest.raises(errors.BadRequestError, match="unpaired surrogate"):
        s.complete("broken \ud83d paste", stream=False)
    assert s.chat().messages == []
    assert not s.chat().busy
    assert s.complete("fine", stream=False).text == "echo: fine"


def test_a_lone_surrogate_in_a_cell_is_a_usage_error(zhipu, shell):
    from glm_magic import session

    with pytest.raises(UsageError, match="unpaired surrogate"):
        shell.run_cell_magic("glm", "", "broken \ud83d paste")
    assert session().chat().messages == []
    shell.run_cell_magic("glm", "", "fine")
    assert session().chat().messages[-1]["content"] == "echo: fine"
