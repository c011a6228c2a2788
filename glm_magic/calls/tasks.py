"""Zhipu's asynchronous tasks on the call path: submit now, fetch later; the exchange joins
its conversation and the ledger when the answer is fetched."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .. import errors
from ..accounting.recording import Call, failed_completion
from ..types import Completion

if TYPE_CHECKING:
    from .sessions import Session


def submit_task(session: Session, prompt: Any, **kwargs: Any) -> Completion:
    """Submit an asynchronous task; the answer is fetched later with `task_result`."""
    kwargs.setdefault("source", "api")
    # prepared, never begun: the exchange joins its conversation when the answer is fetched
    call = session.prepare(prompt, claim=False, **kwargs)
    task = session.client(call.provider).chat.asyncCompletions.create(
        model=call.model, messages=call.messages, **call.params)
    session.tasks[task.id] = {"call": call, "prompt": prompt, "submitted": time.time(),
                              "status": task.task_status or "PROCESSING", "recorded": False}
    return task


def task_result(session: Session, task_id: str, *, wait: bool = False, timeout: float = 300.0,
                poll: float = 1.0, provider: str | None = None) -> Completion:
    """The task's state; when it has finished, its ledger row and conversation turn."""
    info = session.tasks.get(task_id)
    call: Call | None = info["call"] if info else None
    client = session.client(call.provider if call else provider)
    api = client.chat.asyncCompletions
    try:
        comp = api.wait(task_id, timeout=timeout, poll=poll) if wait else \
            api.retrieve_completion_result(task_id)
    except errors.NotFoundError as err:
        err.hint = (f"no task {task_id!r} at {client.provider.name}: check the id "
                    "(%glm tasks lists this session's tasks)")
        raise
    except errors.ServerError as err:  # FAIL
        if info is not None and not info["recorded"]:
            info["status"], info["recorded"] = "FAIL", True
            failed = failed_completion(call, err)
            failed.latency_s = time.time() - info["submitted"]
            session.recorder.settle(call, failed)
        raise
    if info is None:
        return comp
    info["status"] = comp.task_status or info["status"]
    if (comp.task_status or "").upper() == "SUCCESS" and not info["recorded"]:
        info["recorded"] = True
        comp.latency_s = time.time() - info["submitted"]
        comp.provider = call.provider
        session.recorder.settle(call, comp)
        if call.conversation is not None:
            conv = session.chat(call.conversation)
            conv.add("user", info["prompt"])
            conv.messages.append(comp.choices[0].message.to_dict())
        session.last = comp
    return comp
