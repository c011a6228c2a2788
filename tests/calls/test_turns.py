"""`Session.prepare` changes nothing; `begin` applies the turn it worked out. A dry run, an
async task and a refused call leave the conversation, the notices and the claim as they were."""

from __future__ import annotations

import copy

import pytest

import glm_magic
from glm_magic import errors


def _state(s, name="default"):
    conv = s.chats.get(name)
    return (copy.deepcopy(conv.messages) if conv else None, conv.busy if conv else None,
            list(s.notices))


def test_prepare_changes_nothing_and_begin_applies_the_turn(zhipu):
    s = glm_magic.session()
    s.complete("first", stream=False, cell_id="c1")
    s.complete("second", stream=False, cell_id="c2")
    before = _state(s)
    # a re-run of cell c1 with a new system prompt: replaced, not added — once it begins
    call = s.prepare("first again", cell_id="c1", system="be brief")
    assert _state(s) == before, "prepare must not touch the conversation or the notices"
    assert [m["content"] for m in call.messages] == ["be brief", "second",
                                                     "echo: second", "first again"]
    assert any("ran before" in n for n in call.notices)
    s.begin(call)
    conv = s.chat("default")
    assert conv.busy and [m["content"] for m in conv.messages] == [
        "be brief", "second", "echo: second", "first again"]
    assert any("ran before" in n for n in s.notices)
    s.release(call)


def test_a_dry_run_leaves_the_conversation_exactly_as_it_was(shell, zhipu, capsys):
    shell.run_cell_magic("glm", "", "hello")
    s = glm_magic.session()
    before = _state(s)
    shell.run_cell_magic("glm", "--dry-run --new --system 'x'", "what would this send")
    out = capsys.readouterr().out
    assert '"what would this send"' in out and '"x"' in out
    assert _state(s) == before
    assert not zhipu.received or all(r.path.endswith("/tokenizer") or
                                     r.json["messages"][-1]["content"] == "hello"
                                     for r in zhipu.received)


def test_a_refused_call_changes_nothing(zhipu):
    s = glm_magic.session()
    s.complete("hello", stream=False, model="glm-4-plus")
    before = _state(s)
    s.set_budget(1e-12)  # spent by the first call
    with pytest.raises(errors.BudgetExceededError):
        s.complete("over budget", stream=False, new=True, model="glm-4-plus")
    assert _state(s) == before


def test_begin_refuses_a_conversation_that_changed_after_prepare(zhipu):
    s = glm_magic.session()
    s.complete("hello", stream=False)
    call = s.prepare("based on the old state")
    s.complete("someone else's turn", stream=False)
    with pytest.raises(errors.ConversationBusyError, match="changed while"):
        s.begin(call)
    conv = s.chat("default")
    assert not conv.busy and conv.messages[-2]["content"] == "someone else's turn"


def test_an_async_task_joins_its_conversation_only_with_its_answer(zhipu):
    s = glm_magic.session()
    s.complete("hello", stream=False)
    before = _state(s)
    task = s.submit_task("later please", model="glm-4")
    assert _state(s) == before
    done = s.task_result(task.id, wait=True, timeout=10, poll=0.01)
    assert done.text == "async echo: later please"
    assert [m["content"] for m in s.chat("default").messages][-2:] == [
        "later please", "async echo: later please"]
