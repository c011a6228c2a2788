"""The one object every front-end uses: settings, cached clients, named conversations, the
ledger and the budget. `Session.complete` is the single code path from a prompt to a recorded,
remembered answer; the magic, the chat panel and the batch runner only wrap it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from .. import errors
from ..accounting.caching import cache_mode
from ..accounting.recording import Call, Recorder, failed_completion
from ..core.client import AsyncClient, Client
from ..providers import default_provider_name, make_provider, provider_class
from ..types import Choice, Completion, Message
from .client_pool import ClientPool
from .conversation import Conversation, check_encodable
from .options import (
    ROUTING,
    View,
    check_options,
    check_reasoning,
    mark_cut_off_json,
    model_info,
    split_target,
)
from .setting_effects import apply_setting
from .turns import PendingTurn, draft_turn, forget_turn, history_limit, remember, window_notice

__all__ = ["ROUTING", "Session", "View", "check_options", "model_info", "session",
           "split_target"]


def _setting(name: str) -> property:
    """A session attribute that is the settings object's trait of that name."""
    return property(lambda self: getattr(self.settings, name),
                    lambda self, value: setattr(self.settings, name, value),
                    doc=f"`session().settings.{name}`")


class Session:
    """Conversations, clients and the ledger for one kernel (see `glm_magic.session()`)."""

    def __init__(self, ledger_path: str | None = None, *, log_text: bool = False) -> None:
        from .settings import GLMSettings

        self.chats: dict[str, Conversation] = {}
        self.provider_options: dict[str, dict[str, Any]] = {}  # masked: see _secrets
        self.exchange_rate: tuple[str, float] | None = None
        self.last: Completion | None = None
        self.tasks: dict[str, dict[str, Any]] = {}
        self.notices: list[str] = []
        self.recorder = Recorder(ledger_path, log_text=log_text, notice=self.notice)
        self._pool = ClientPool()
        self.settings = GLMSettings(log_text=log_text)
        self.settings.observe(lambda change: apply_setting(self, change))

    def __repr__(self) -> str:
        return (f"<Session provider={self.provider!r} model={self.model!r} "
                f"chats={list(self.chats)} ledger={self.ledger_path or 'default'!r}>")

    # --- parts ---------------------------------------------------------------------------
    # recording lives in `self.recorder`; these names keep the session's public surface
    ledger = property(lambda self: self.recorder.ledger, doc="The usage ledger (lazy).")
    spent = property(lambda self: self.recorder.spent)
    budget = property(lambda self: self.recorder.budget)

    @property
    def ledger_path(self) -> str | None:
        return self.recorder.ledger_path

    # settings read through the one settings object (`session().settings`, `%config`)
    provider = _setting("provider")
    model = _setting("model")
    temperature = _setting("temperature")
    system = _setting("system")
    max_history_tokens = _setting("max_history_tokens")
    timeout = _setting("timeout")
    max_retries = _setting("max_retries")
    allow_remote_images = _setting("allow_remote_images")
    log_text = _setting("log_text")

    def set_ledger(self, path: str | None) -> None:
        self.recorder.set_ledger(path)

    def set_budget(self, amount: float | None, currency: str = "CNY") -> None:
        self.recorder.set_budget(amount, currency)

    def chat(self, name: str = "default") -> Conversation:
        conv = self.chats.get(name)
        if conv is None:
            conv = self.chats[name] = Conversation(name)
        return conv

    def resolve(self, provider: str | None = None, model: str | None = None) -> tuple[str, str]:
        """(provider, model) for a call: explicit values, then the session's, then defaults.
        The session's default model applies only when no other provider was named."""
        provider, model = split_target(provider, model)
        dprov, dmodel = split_target(self.provider, self.model)
        # a replay answers what was recorded, keyless: GLM, as when the key was set
        name = provider or dprov or ("zhipu" if self.recorder.cache_mode == "replay"
                                     else default_provider_name())
        if model is None and dmodel and provider in (None, dprov):
            model = dmodel
        return name, model or provider_class(name).default_model

    def client(self, provider: str | None = None) -> Client:
        """The session's client for `provider` (cached; rebuilt when its key changed)."""
        name, _ = self.resolve(provider)
        return self._pool.get((name, repr(self.timeout), self.max_retries), lambda: Client(
            self.provider_for(name), timeout=self.timeout, max_retries=self.max_retries,
            record=False))

    def aclient(self, provider: str | None = None, max_retries: int | None = None
                ) -> AsyncClient:
        """An AsyncClient for the running event loop (httpx pools are bound to one loop);
        call it from async code."""
        name, _ = self.resolve(provider)
        retries = self.max_retries if max_retries is None else max_retries
        return self._pool.aget((name, repr(self.timeout), retries), lambda: AsyncClient(
            self.provider_for(name), timeout=self.timeout, max_retries=retries,
            record=False))

    async def aclose_clients(self) -> None:
        """Close the AsyncClients of the running loop (a batch's private loop ends)."""
        await self._pool.aclose_loop()

    def provider_for(self, name: str) -> Any:
        """A new provider (dialect) named `name`, with the session's per-provider options and
        the key and base URL read now (so a corrected `.env` counts)."""
        return make_provider(name, **self.provider_options.get(name, {}))

    def reset_clients(self) -> None:
        """Drop cached clients so new settings (timeouts, provider options) take effect."""
        self._pool.reset()

    def close(self) -> None:
        self.reset_clients()
        self.recorder.close()

    # --- one call --------------------------------------------------------------------------
    def prepare(self, prompt: Any = None, *, messages: list[dict] | None = None,
                provider: str | None = None, model: str | None = None, chat: str = "default",
                system: str | None = None, once: bool = False, new: bool = False,
                source: str = "api", cell: int | None = None, tags: Any = None,
                check_credentials: bool = True, call_id: str | None = None,
                attempt: int = 1, claim: bool = True, cell_id: str | None = None,
                append: bool = False, cache: str | bool | None = None, **params: Any) -> Call:
        """Resolve provider/model, build the exact messages to send, check the budget — and
        change nothing: the call's turn in its conversation travels on the call until
        `begin(call)` applies it (a dry run or a refused call just drops it). `claim=False`
        lets `begin` skip reserving the conversation."""
        check_options(params)
        name, model_name = self.resolve(provider, model)
        check_reasoning(name, model_name, params)
        mode = cache_mode(cache)
        client = self.client(name)
        provider_obj = client.provider
        if check_credentials and (mode or self.recorder.cache_mode) != "replay":
            provider_obj.require_credentials()  # fail before anything changes
        check_encodable(prompt if messages is None else messages)
        turn: PendingTurn | None = None
        if messages is not None:
            msgs = [dict(m) for m in messages]
        elif once:
            msgs = ([{"role": "system", "content": system}] if system else []) + \
                [{"role": "user", "content": prompt}]
        else:
            conv = self.chats.get(chat) or Conversation(chat)
            if claim and conv.busy:  # say so now, not after the prompt was worked out
                conv.claim(call_id or "")
            turn, msgs = draft_turn(conv, prompt, new=new, system=system, cell_id=cell_id,
                                    append=append, history=history_limit(
                                        name, model_name, params, self.max_history_tokens))
        call = Call(call_id or uuid.uuid4().hex, name, model_name, source,
                    turn.conversation if turn else None, msgs,
                    {k: v for k, v in params.items() if v is not None}, cell,
                    ",".join(tags) if isinstance(tags, (list, tuple)) else tags,
                    attempt_offset=attempt - 1)
        call.turn, call.claim, call.client = turn, claim, client
        call.cache = mode
        call.replaced = turn.replaced if turn else None
        call.notices = list(turn.notices) if turn else []
        warning = window_notice(name, model_name, msgs)
        if warning:
            call.notices.append(warning)
        call.pricing = provider_obj.pricing_key()
        self.recorder.check_budget(call)
        return call

    def begin(self, call: Call) -> None:
        """The call starts: its conversation is reserved for it (one call at a time) and
        takes the turn `prepare` worked out; its notices are shown."""
        turn = call.turn
        if turn is not None:
            conv = self.chat(turn.conversation)
            if call.claim:
                conv.claim(call.call_id)
            if not turn.still_fits(conv):
                if call.claim:
                    conv.release(call.call_id)
                raise errors.ConversationBusyError(
                    f"conversation {conv.name!r} changed while this prompt was prepared",
                    hint="run the prompt again")
            conv.messages[:] = turn.messages
            conv.tokens_used = turn.tokens_used
        for text in call.notices:
            self.notice(text)

    def release(self, call: Call) -> None:
        """The call is over: its conversation may take the next one."""
        if call.conversation is not None and call.conversation in self.chats:
            self.chats[call.conversation].release(call.call_id)

    def complete(self, prompt: Any = None, *, stream: bool = True, view: View | None = None,
                 **kwargs: Any) -> Completion:
        """Send a prompt (continuing conversation `chat`), stream it into `view`, record it.

        Errors are raised after their partial answer and ledger row are kept; a
        KeyboardInterrupt ends the stream at once and is re-raised after the same."""
        call, client = self._begin(prompt, kwargs, None)
        stream_obj = None
        try:
            if stream:
                stream_obj = client.chat.completions.create(
                    model=call.model, messages=call.messages, stream=True, **call.params)
                for chunk in stream_obj:
                    if view is not None:
                        view.update(chunk)
                comp = stream_obj.completion()
            else:
                comp = client.chat.completions.create(model=call.model, messages=call.messages,
                                                      **call.params)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and stream_obj is not None:
                stream_obj.close()
            self._end_failed(call, exc, stream_obj, view)
            raise
        else:  # recorded and remembered before the conversation takes another call
            return self.finish(call, comp, view)
        finally:
            self.release(call)

    async def acomplete(self, prompt: Any = None, *, stream: bool = True,
                        view: View | None = None, max_retries: int | None = None,
                        client: AsyncClient | None = None, **kwargs: Any) -> Completion:
        """`complete` for async front-ends (chat panel, batch); cancellation = interrupt.
        `client` is one the caller owns (a batch), else the session's for this loop."""
        import asyncio

        call, aclient = self._begin(
            prompt, kwargs, lambda name: client or self.aclient(name, max_retries))
        stream_obj = None
        try:
            if stream:
                stream_obj = await aclient.chat.completions.create(
                    model=call.model, messages=call.messages, stream=True, **call.params)
                async for chunk in stream_obj:
                    if view is not None:
                        view.update(chunk)
                comp = stream_obj.completion()
            else:
                comp = await aclient.chat.completions.create(
                    model=call.model, messages=call.messages, **call.params)
        except BaseException as exc:
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)) and \
                    stream_obj is not None:
                await stream_obj.aclose()
            self._end_failed(call, exc, stream_obj, view)
            raise
        else:
            return self.finish(call, comp, view)
        finally:
            self.release(call)

    def _begin(self, prompt: Any, kwargs: dict[str, Any],
               client_for: Callable[[str], Any] | None) -> tuple[Call, Any]:
        """The shared start of `complete` and `acomplete`: the call prepared, its client
        (`client_for(provider)`, else the sync one `prepare` checked it against) with the
        call's recording pinned, then begun — nothing changes before all three work."""
        call = self.prepare(prompt, **kwargs)
        client = call.client if client_for is None else client_for(call.provider)
        client = client.with_observer(self.recorder.observer(call))
        self.begin(call)
        return call, client

    def _end_failed(self, call: Call, exc: BaseException, stream_obj: Any,
                    view: View | None) -> None:
        """The shared end of a call that raised: an interrupt (or cancellation) keeps what
        arrived, marked; one of our errors keeps its partial answer on `err.partial`; anything
        else still records its row and drops the turn. The caller re-raises."""
        if isinstance(exc, errors.GLMError):
            exc.partial = self.finish(call, self._failed(call, exc), view)
        elif isinstance(exc, Exception):
            self._unexpected(call, exc, stream_obj, view)
        else:  # KeyboardInterrupt, asyncio.CancelledError (BaseExceptions)
            self._interrupted(call, stream_obj, view)

    def _unexpected(self, call: Call, exc: Exception, stream_obj: Any, view: View | None
                    ) -> None:
        """Not one of our errors: record the row (with what arrived) and drop the turn."""
        comp = stream_obj.completion() if stream_obj is not None else Completion(
            provider=call.provider, model=call.model,
            choices=[Choice(0, Message("assistant", ""), None)])
        comp.status, comp.error = "error", f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):  # the original error is the one to see
            self.finish(call, comp, view)

    def _interrupted(self, call: Call, stream_obj: Any, view: View | None) -> Completion:
        """An interrupt ended the call: keep what arrived, marked and recorded."""
        comp = stream_obj.completion() if stream_obj is not None else Completion(
            provider=call.provider, model=call.model)
        comp.status = "interrupted"
        return self.finish(call, comp, view)

    def _failed(self, call: Call, err: errors.GLMError) -> Completion:
        return failed_completion(call, err)

    def finish(self, call: Call, comp: Completion, view: View | None = None) -> Completion:
        """Fill in usage (estimated when missing), cost; write the ledger row; update memory."""
        mark_cut_off_json(call, comp)
        self.recorder.settle(call, comp)
        self._remember(call, comp)
        self.last = comp
        if view is not None:
            view.finish(comp)
        return comp

    def _remember(self, call: Call, comp: Completion) -> None:
        if call.conversation is not None:
            for text in remember(self.chat(call.conversation), call, comp):
                self.notice(text)

    def forget_user_turn(self, call: Call) -> None:
        """Take back the user turn `call` added to its conversation (the call gave no
        answer)."""
        if call.conversation is not None:
            forget_turn(self.chat(call.conversation), call)

    # --- features built on the call path (kept as methods: the public surface) ---------------
    def complete_with_tools(self, prompt: Any, functions: dict[str, Callable[..., Any]],
                            **kwargs: Any) -> Completion:
        """Ask, run the functions the model calls, send their results back, until it answers
        (see `glm_magic.tool_loop.complete_with_tools`)."""
        from .tool_loop import complete_with_tools

        return complete_with_tools(self, prompt, functions, **kwargs)

    def submit_task(self, prompt: Any, **kwargs: Any) -> Completion:
        """Submit an asynchronous task; the answer is fetched later with `task_result`."""
        from .tasks import submit_task

        return submit_task(self, prompt, **kwargs)

    def task_result(self, task_id: str, **kwargs: Any) -> Completion:
        """The task's state; when it has finished, its ledger row and conversation turn."""
        from .tasks import task_result

        return task_result(self, task_id, **kwargs)

    def generate_image(self, prompt: str, **kwargs: Any) -> Any:
        """Generate images (CogView); priced per image in the ledger."""
        from .image_generation import generate_image

        return generate_image(self, prompt, **kwargs)

    # --- notices -------------------------------------------------------------------------------
    def notice(self, text: str) -> None:
        """A one-line message for the user; front-ends show and drain `notices`."""
        self.notices.append(text)

    def drain_notices(self) -> list[str]:
        out, self.notices = self.notices, []
        return out

    # --- analysis --------------------------------------------------------------------------------
    def usage(self, **filters: Any):
        return self.recorder.ledger.frame(**filters)


_session: Session | None = None


def session() -> Session:
    """The kernel-wide session the magic, the chat panel and the batch runner share."""
    global _session
    if _session is None:
        _session = Session()
    return _session


def _reset_session() -> None:
    global _session
    if _session is not None:
        _session.close()
    _session = None


