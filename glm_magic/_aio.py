"""The one place where sync code drives async code: a private event loop in a worker thread.
It works inside a running notebook loop without patching asyncio, and a KeyboardInterrupt in
the caller cancels the coroutine, which then returns what it has."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_worker(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    box: dict[str, Any] = {}
    task_ready = threading.Event()
    done = threading.Event()  # not Thread.join: an interrupted join can mark the thread dead

    def main() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(coro)
        box["task"] = task
        task_ready.set()
        try:
            box["result"] = loop.run_until_complete(task)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
            finally:
                done.set()

    worker = threading.Thread(target=main, name="glm-magic-batch", daemon=True)
    worker.start()
    try:
        while not done.wait(0.1):  # short waits so a KeyboardInterrupt reaches us promptly
            pass
    except KeyboardInterrupt:
        task_ready.wait()
        loop.call_soon_threadsafe(box["task"].cancel)
        while True:  # a second interrupt while the rows are gathered must not lose them
            try:
                done.wait()
                break
            except KeyboardInterrupt:
                continue
    if "error" in box:
        raise box["error"]
    return box["result"]
