"""`ChatPanel`: a chat in a plain notebook with nothing but ipywidgets. It streams, stops,
retries, shows what each turn cost, and shares its conversation with the `%%glm` cells.

Requests run as asyncio tasks on the kernel's running loop, so the kernel stays responsive
(the Stop button works while an answer streams); without a running loop (scripts, tests)
`send()` runs the same coroutine to completion and returns the Completion."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ipywidgets as widgets

from .. import errors
from ..accounting.pricing import format_cost
from ..calls.sessions import Session, session
from ..render.live import MESSAGE_BYTES, Budget
from ..render.views import footer_text
from ..sanitize import escape, markdown_html
from ..types import Chunk, Completion

MAX_FPS = 20.0
USER_STYLE = ("background:#eef3fb;border-radius:8px;padding:6px 10px;margin:4px 0 4px 15%;"
              "white-space:pre-wrap;")
BOT_STYLE = "background:#f7f7f7;border-radius:8px;padding:6px 10px;margin:4px 15% 4px 0;"
ERR_STYLE = "color:#b00020;margin:4px 0;font-size:0.9em;"


def _user_html(text: str) -> str:
    return f'<div class="glm-msg glm-user" style="{USER_STYLE}">{escape(text)}</div>'


def _bot_html(text: str, mark: str = "", allow_images: bool = False) -> str:
    body = markdown_html(text, allow_images=allow_images) if text else "<em>…</em>"
    tail = f' <em class="glm-mark">[{mark}]</em>' if mark else ""
    return f'<div class="glm-msg glm-assistant" style="{BOT_STYLE}">{body}{tail}</div>'


class _Bubble:
    """The assistant message being streamed: a widget updated at most MAX_FPS times a second,
    within a byte budget (see `glm_magic.live`)."""

    def __init__(self, widget: widgets.HTML, allow_images: bool = False) -> None:
        self.widget = widget
        self.allow_images = allow_images
        self.parts: list[str] = []
        self._last = 0.0
        self._size = 0
        self.budget = Budget()  # a fast stream's updates thin out as the answer grows
        self.completion: Completion | None = None  # this bubble's answer once it is recorded

    def update(self, chunk: Chunk) -> None:
        if chunk.text:
            self.parts.append(chunk.text)
            self._size += len(chunk.text)
            now = time.monotonic()
            if now - self._last >= 1.0 / MAX_FPS and self.budget.allows(
                    self._size + MESSAGE_BYTES, self._size):  # each update sends it all
                self._last = now
                value = _bot_html("".join(self.parts), allow_images=self.allow_images)
                self.widget.value = value
                self.budget.spend(len(value) + MESSAGE_BYTES)

    def finish(self, comp: Completion) -> None:
        self.completion = comp
        mark = {"interrupted": "stopped", "filtered": "filtered by moderation"}.get(comp.status,
                                                                                   "")
        self.widget.value = _bot_html(comp.text or "".join(self.parts), mark,
                                      self.allow_images)


class ChatPanel:
    """A chat panel bound to conversation `chat` of the kernel's session.

    `panel.send(text)` does what typing and clicking Send does; `panel.messages` is the
    transcript as `{"role", "content"}` dicts; `panel.stop()`, `panel.clear()`."""

    def __init__(self, provider: str | None = None, model: str | None = None,
                 system: str | None = None, chat: str = "default",
                 session_: Session | None = None) -> None:
        from ..providers import names

        self.session = session_ or session()
        self.chat = chat
        prov, mdl = self.session.resolve(provider, model)
        self.conversation = self.session.chat(chat)
        if system is None and not self.conversation.messages:
            system = self.session.system  # %config GLMMagics.system starts new conversations
        if system is not None:
            self.conversation.system = system or None
        self.spent: dict[str, float] = {}
        self._task: asyncio.Task | None = None
        self._busy = False

        self.provider_w = widgets.Dropdown(options=names(), value=prov, description="Provider",
                                           layout=widgets.Layout(width="200px"))
        self.model_w = widgets.Combobox(value=mdl, options=self._models(prov),
                                        description="Model", ensure_option=False,
                                        layout=widgets.Layout(width="260px"))
        start = self.session.temperature  # %config GLMMagics.temperature, else 0.7
        self.temperature_w = widgets.FloatSlider(value=0.7 if start is None else start,
                                                 min=0.0, max=max(1.0, start or 0.0), step=0.05,
                                                 description="Temp.", readout_format=".2f",
                                                 layout=widgets.Layout(width="240px"))
        self.system_w = widgets.Text(value=self.conversation.system or "",
                                     placeholder="system prompt (optional)",
                                     description="System", layout=widgets.Layout(width="98%"))
        self.transcript = widgets.VBox(layout=widgets.Layout(
            max_height="480px", overflow="auto", border="1px solid #ddd", padding="6px"))
        self.input_w = widgets.Text(placeholder="Ask something and press Enter",
                                    layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.send_b = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_b = widgets.Button(description="Stop", button_style="warning", icon="stop",
                                     disabled=True)
        self.retry_b = widgets.Button(description="Retry", icon="redo")
        self.undo_b = widgets.Button(description="Undo", icon="undo")
        self.clear_b = widgets.Button(description="Clear", icon="trash")
        self.status = widgets.HTML(value=self._status_html("ready"))

        self.provider_w.observe(self._on_provider, "value")
        self.system_w.observe(self._on_system, "value")
        self.input_w.on_msg(self._on_input_msg)
        self.send_b.on_click(lambda _: self._submit(self.input_w.value))
        self.stop_b.on_click(lambda _: self.stop())
        self.retry_b.on_click(lambda _: self._start(self.aretry()))
        self.undo_b.on_click(lambda _: self.undo())
        self.clear_b.on_click(lambda _: self.clear())

        controls = widgets.HBox([self.provider_w, self.model_w, self.temperature_w])
        for b in (self.send_b, self.stop_b, self.retry_b, self.undo_b, self.clear_b):
            b.layout = widgets.Layout(width="auto", min_width="72px")
        row = widgets.HBox([self.input_w, self.send_b, self.stop_b, self.retry_b, self.undo_b,
                            self.clear_b], layout=widgets.Layout(width="100%"))
        self.widget = widgets.VBox([controls, self.system_w, self.transcript, row, self.status])
        self.widget.add_class("glm-chat-panel")
        self._render_history()

    # --- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return (f"<ChatPanel chat={self.chat!r} provider={self.provider_w.value!r} "
                f"model={self.model_w.value!r} messages={len(self.messages)}>")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [{"role": m["role"], "content": m.get("content")}
                for m in self.conversation.messages]

    def _models(self, provider: str) -> list[str]:
        from ..providers import provider_class

        return [m.name for m in provider_class(provider).models]

    def _status_html(self, text: str) -> str:
        return f'<span class="glm-status" style="color:#666;font-size:0.85em">{escape(text)}</span>'

    def _render_history(self) -> None:
        children = []
        for m in self.conversation.messages:
            if m["role"] == "user":
                children.append(widgets.HTML(_user_html(str(m.get("content") or ""))))
            elif m["role"] == "assistant":
                mark = "stopped" if m.get("status") == "interrupted" else ""
                body = _bot_html(str(m.get("content") or ""), mark,
                                 self.session.allow_remote_images)
                children.append(widgets.HTML(body))
        self.transcript.children = tuple(children)

    def _on_provider(self, change: Any) -> None:
        from ..providers import provider_class

        self.model_w.options = self._models(change["new"])
        self.model_w.value = provider_class(change["new"]).default_model

    def _on_system(self, change: Any) -> None:
        self.conversation.system = change["new"] or None

    def _on_input_msg(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if content.get("event") == "submit":  # Enter in the input box
            self._submit(self.input_w.value)

    # --- actions -------------------------------------------------------------------------------
    def _submit(self, text: str) -> None:
        if not text.strip() or self._busy:
            return
        self.input_w.value = ""
        self._start(self.asend(text))

    def _start(self, coro: Any) -> Any:
        """On the kernel's running loop: a task (the kernel stays free). Otherwise: run it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._then_close(coro))
        task = loop.create_task(coro)
        self._task = task
        return task

    async def _then_close(self, coro: Any) -> Any:
        """A private loop (no kernel): close its connection pool when the call is done."""
        try:
            return await coro
        finally:
            await self.session.aclose_clients()

    def send(self, text: str) -> Any:
        """Send like the Send button. Returns the Completion (an awaitable task when an event
        loop is running, e.g. in a notebook cell: `await panel.send("hi")`)."""
        if not text or not text.strip():
            raise ValueError("nothing to send: the message is empty")
        return self._start(self.asend(text))

    async def asend(self, text: str) -> Completion | None:
        """Send `text`, stream the answer into the transcript, record it; returns the
        Completion (also when stopped or failed: see its `status`)."""
        self.transcript.children += (widgets.HTML(_user_html(text)),)
        return await self._run(text)

    async def aretry(self) -> Completion | None:
        """Regenerate the last answer."""
        dropped = self.conversation.pop_last_exchange()
        user = next((m for m in dropped if m["role"] == "user"), None)
        if user is None:
            self._set_status("nothing to retry")
            return None
        self._render_history()
        self.transcript.children += (widgets.HTML(_user_html(str(user["content"]))),)
        return await self._run(str(user["content"]))

    def retry(self) -> Any:
        return self._start(self.aretry())

    async def _run(self, text: str) -> Completion | None:
        bubble = _Bubble(widgets.HTML(_bot_html("")), self.session.allow_remote_images)
        self.transcript.children += (bubble.widget,)
        self._busy = True
        self._task = asyncio.current_task()
        self._buttons(streaming=True)
        self._set_status("streaming…")
        comp: Completion | None = None
        try:
            comp = await self.session.acomplete(
                text, provider=self.provider_w.value, model=self.model_w.value or None,
                chat=self.chat, temperature=self.temperature_w.value, view=bubble,
                source="widget")
        except asyncio.CancelledError:
            comp = bubble.completion
            if comp is not None:
                bubble.finish(comp)
        except Exception as err:  # noqa: BLE001 - shown in the panel; the row is recorded
            partial = getattr(err, "partial", None)
            comp = partial if isinstance(partial, Completion) else None
            if comp is not None and comp.text:
                bubble.finish(comp)
            else:
                self.transcript.children = self.transcript.children[:-1]
            text = errors.describe(err)
            self.transcript.children += (widgets.HTML(
                f'<div class="glm-error" style="{ERR_STYLE}">⚠ {escape(text)}</div>'),)
        finally:
            self._busy = False
            self._task = None
            self._buttons(streaming=False)
        for note in self.session.drain_notices():
            self.transcript.children += (widgets.HTML(
                f'<div class="glm-notice" style="color:#b36b00;font-size:0.85em">ⓘ '
                f'{escape(note)}</div>'),)
        if comp is not None:
            self._account(comp)
        return comp

    def _account(self, comp: Completion) -> None:
        if comp.cost_status in ("priced", "estimated") and comp.cost == comp.cost:
            cur = comp.currency or ""
            self.spent[cur] = self.spent.get(cur, 0.0) + (comp.cost or 0.0)
        total = ", ".join(format_cost(v, k) for k, v in self.spent.items()) or "free"
        self._set_status(f"{footer_text(comp, self.session.exchange_rate)} · session: {total}")

    def _set_status(self, text: str) -> None:
        self.status.value = self._status_html(text)

    def _buttons(self, streaming: bool) -> None:
        self.stop_b.disabled = not streaming
        for b in (self.send_b, self.retry_b, self.undo_b, self.clear_b):
            b.disabled = streaming

    def stop(self) -> None:
        """End the streaming answer at once; the partial text stays, marked as stopped."""
        task = self._task
        if task is not None and not task.done():
            task.get_loop().call_soon_threadsafe(task.cancel)

    def undo(self) -> None:
        """Drop the last exchange (question and answer) from the panel and the conversation."""
        self.conversation.pop_last_exchange()
        self._render_history()
        self._set_status("last exchange removed")

    def clear(self) -> None:
        """Empty the conversation (the system prompt stays)."""
        self.conversation.reset(keep_system=True)
        self.transcript.children = ()
        self._set_status("cleared")
