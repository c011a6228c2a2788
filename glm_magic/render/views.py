"""Stream views: an in-place, throttled display in a notebook; plain text in a terminal.
Everything a model wrote reaches the screen only through `glm_magic.sanitize`."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..accounting.pricing import format_cost
from ..sanitize import (
    NO_TYPESET,
    answer_bundle,
    code_block,
    footer_html,
    markdown_html,
    mcp_html,
    mcp_text,
    notice_html,
    references_html,
    references_text,
    safe_html,
    terminal_safe,
    tool_html,
)
from ..types import Chunk, Completion
from .live import BLOCK_MIN, BLOCK_SHARE, MESSAGE_BYTES, POOL, SPLIT_AFTER, Budget, settled_length

__all__ = ["FORMATS", "NotebookView", "TerminalView", "code_block", "footer_text",
           "markdown_html", "safe_html"]

FORMATS = ("markdown", "text", "code", "json", "html")


def footer_text(comp: Completion, rate: tuple[str, float] | None = None) -> str:
    """`glm-4-flash · 12 → 48 tokens · 1.23 s · free` (and the status when not ok)."""
    parts = [comp.model or comp.provider]
    u = comp.usage
    if u is not None:
        approx = "~" if u.estimated else ""
        text = f"{approx}{u.prompt_tokens} → {approx}{u.completion_tokens} tokens"
        extra = []
        if u.cached_tokens:
            extra.append(f"{u.cached_tokens} cached")
        if u.reasoning_tokens:
            extra.append(f"{u.reasoning_tokens} thinking")
        parts.append(text + (f" ({', '.join(extra)})" if extra else ""))
    if comp.latency_s is not None:
        parts.append(f"{comp.latency_s:.2f} s")
    if comp.cached:  # nothing was sent: what it would have cost, from the cache
        saved = "" if not comp.saved else " (saved " + format_cost(
            comp.saved, comp.currency, "priced", rate) + ")"
        parts.append("cached" + saved)
    elif comp.cost_status:
        parts.append(format_cost(comp.cost if comp.cost is not None else float("nan"),
                                 comp.currency, comp.cost_status, rate))
    if comp.status != "ok":
        parts.append(comp.status.upper())
    return " · ".join(parts)


def _worth_a_footer(comp: Completion) -> bool:
    """A failed call with no answer gets only its one error line, not a footer before it."""
    return not (comp.status in ("error", "filtered") and not comp.text)


def _display_html(fragment: str) -> None:
    from IPython.display import display

    display({"text/html": fragment}, raw=True)


class NotebookView:
    """Renders the answer in place, at most `max_fps` updates a second.

    A long Markdown answer streams into a few outputs: the blocks nothing later can change
    move to outputs of their own and only the unfinished tail is re-sent, within a byte
    budget (see `glm_magic.live`). When the answer ends, the first output receives the whole
    answer, exactly as a short one renders, and the others are emptied."""

    def __init__(self, fmt: str = "markdown", *, footer: bool = True, max_fps: float = 20.0,
                 rate: tuple[str, float] | None = None, allow_images: bool = False) -> None:
        self.fmt = fmt
        self.allow_images = allow_images
        self.footer = footer
        self.interval = 1.0 / max_fps if max_fps else 0.0
        self.rate = rate
        self.parts: list[str] = []
        self.reasoning: list[str] = []
        self.slots: list[Any] = []  # display handles in page order; the last one is live
        self.settled = 0  # characters of the answer shown in the slots before the live one
        self.budget = Budget()
        self._size = 0  # characters received, answer and thinking
        self._thought = 0  # characters of thinking received
        self._tried = 0  # tail length at the last search for settled blocks
        self._last = 0.0
        self._dirty = False

    @property
    def handle(self) -> Any:
        """The output that holds the whole answer once it ends (None before the first)."""
        return self.slots[0] if self.slots else None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def update(self, chunk: Chunk) -> None:
        for c in chunk.choices:
            if c.index == 0:
                if c.delta.content:
                    self.parts.append(c.delta.content)
                    self._size += len(c.delta.content)
                    self._dirty = True
                if c.delta.reasoning_content:
                    self.reasoning.append(c.delta.reasoning_content)
                    self._size += len(c.delta.reasoning_content)
                    self._thought += len(c.delta.reasoning_content)
                    self._dirty = True
        now = time.monotonic()
        interval = self.interval * (2 if len(self.slots) > 1 else 1)
        if self._dirty and now - self._last >= interval:
            self._last = now
            self._refresh()

    # --- while it streams ---------------------------------------------------------------
    def _refresh(self) -> None:
        text = self.text
        splits = self.fmt == "markdown" and (self.slots[1:] or len(text) >= SPLIT_AFTER)
        if splits and self._settle(text):
            self._dirty = False  # the commit showed the tail as it is now
            return
        tail = text[self.settled:]
        head = len(self.slots) <= 1
        estimate = len(tail) + (self._thought if head else 0) + MESSAGE_BYTES
        if self.slots and not self.budget.allows(estimate, self._size):
            return  # the next update carries this one's text too
        cost = self._send(-1, self._live(tail, head=head))
        self.budget.spend(cost)
        self._dirty = False

    def _settle(self, text: str) -> bool:
        """Move the settled Markdown blocks at the head of the tail into an output of their
        own; True when it did (and so showed the tail)."""
        tail = text[self.settled:]
        need = max(BLOCK_MIN, self.settled // BLOCK_SHARE)
        if len(self.slots) == 1 and tail and self._thought >= BLOCK_MIN:
            return self._commit(text, self.settled)  # a long thinking trace keeps its output
        if len(tail) < max(need, self._tried + max(need, self._tried) // 4):
            return False  # searched again only after the tail grew by a quarter: linear in all
        self._tried = len(tail)
        cut = settled_length(tail)
        if cut < need:
            return False
        self._tried = 0
        return self._commit(text, self.settled + cut)

    def _commit(self, text: str, end: int) -> bool:
        """Show text[settled:end] as finished: the live slot keeps it and a new live slot
        follows. A full pool commits no more: the tail then grows, paced by the budget."""
        if len(self.slots) >= POOL:
            return False
        self._send(-1, self._live(text[self.settled:end], head=len(self.slots) <= 1))
        self.slots.append(None)
        self.settled = end
        self._send(-1, self._live(text[end:], head=False))
        return True

    def _live(self, text: str, *, head: bool) -> dict[str, Any]:
        """A streaming bundle: HTML only (the final one carries text/plain too). Once a long
        answer is split, its math is typeset only in the final render: each typesetting
        restyles the whole page, which costs more the longer the answer on it."""
        reasoning = "".join(self.reasoning) if head else ""
        html = answer_bundle(text, self.fmt, final=False, reasoning=reasoning,
                             allow_images=self.allow_images)["text/html"]
        if self._size >= SPLIT_AFTER:
            html = f'<div class="{NO_TYPESET}">{html}</div>'
        return {"text/html": html}

    def _send(self, index: int, bundle: dict[str, Any]) -> int:
        """Display or update slot `index` (None slots are displayed); returns the bytes sent."""
        from IPython.display import display

        if not self.slots:
            self.slots.append(None)
        index %= len(self.slots)
        if self.slots[index] is None:
            self.slots[index] = display(bundle, raw=True, display_id=True)
        else:
            self.slots[index].update(bundle, raw=True)
        return sum(len(v) if isinstance(v, str) else 64 for v in bundle.values()) + MESSAGE_BYTES

    # --- when it ends -------------------------------------------------------------------
    def finish(self, comp: Completion) -> None:
        text = comp.text or self.text
        if text or self.slots:
            bundle = answer_bundle(text, self.fmt, final=True, reasoning="".join(self.reasoning),
                                   allow_images=self.allow_images)
            self._send(0, bundle)
            for i in range(1, len(self.slots)):
                self._send(i, {})
        if comp.web_search:
            _display_html(references_html(comp.web_search))
        if comp.mcp_calls:
            _display_html(mcp_html(comp.mcp_calls))
        if self.footer and _worth_a_footer(comp):
            _display_html(footer_html(footer_text(comp, self.rate)))

    def show_notice(self, text: str) -> None:
        _display_html(notice_html(text))

    def show_tool(self, name: str, arguments: str, result: str) -> None:
        _display_html(tool_html(name, arguments, result))


class TerminalView:
    """Prints the answer as it arrives (terminal IPython, scripts, tests)."""

    def __init__(self, fmt: str = "markdown", *, footer: bool = True,
                 stream: TextIO | None = None, rate: tuple[str, float] | None = None) -> None:
        self.fmt = fmt
        self.footer = footer
        self.out = stream
        self.rate = rate
        self.parts: list[str] = []
        self._thinking = False

    @property
    def _out(self) -> TextIO:
        return self.out or sys.stdout

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def update(self, chunk: Chunk) -> None:
        for c in chunk.choices[:1]:
            if c.delta.reasoning_content:
                if not self._thinking:
                    self._out.write("[thinking] ")
                    self._thinking = True
                self._out.write(terminal_safe(c.delta.reasoning_content))
        t = chunk.text
        if t:
            if self._thinking and not self.parts:
                self._out.write("\n[answer] ")
            self.parts.append(t)
            self._out.write(terminal_safe(t))
            self._out.flush()

    def finish(self, comp: Completion) -> None:
        out = self._out
        if not self.parts and comp.text:  # not streamed: print it whole
            out.write(terminal_safe(comp.text))
        out.write("\n")
        if comp.web_search:
            out.write(references_text(comp.web_search) + "\n")
        if comp.mcp_calls:
            out.write(mcp_text(comp.mcp_calls) + "\n")
        if self.footer and _worth_a_footer(comp):
            out.write(f"[{terminal_safe(footer_text(comp, self.rate))}]\n")
        out.flush()

    def show_notice(self, text: str) -> None:
        self._out.write(f"ⓘ {terminal_safe(text)}\n")

    def show_tool(self, name: str, arguments: str, result: str) -> None:
        self._out.write(terminal_safe(f"[tool] {name}({arguments}) → {result}") + "\n")
