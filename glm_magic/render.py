"""Stream views: an in-place, throttled display in a notebook; plain text in a terminal.
Everything a model wrote reaches the screen only through `glm_magic.sanitize`."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .pricing import format_cost
from .sanitize import (
    answer_bundle,
    code_block,
    footer_html,
    markdown_html,
    notice_html,
    references_html,
    references_text,
    safe_html,
    terminal_safe,
    tool_html,
)
from .types import Chunk, Completion

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
    if comp.cost_status:
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
    """Renders the answer into one display area, updated in place at most `max_fps` times a
    second so that a long stream costs little."""

    def __init__(self, fmt: str = "markdown", *, footer: bool = True, max_fps: float = 20.0,
                 rate: tuple[str, float] | None = None, allow_images: bool = False) -> None:
        self.fmt = fmt
        self.allow_images = allow_images
        self.footer = footer
        self.interval = 1.0 / max_fps if max_fps else 0.0
        self.rate = rate
        self.parts: list[str] = []
        self.reasoning: list[str] = []
        self.handle: Any = None
        self._last = 0.0
        self._dirty = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def update(self, chunk: Chunk) -> None:
        for c in chunk.choices:
            if c.index == 0:
                if c.delta.content:
                    self.parts.append(c.delta.content)
                    self._dirty = True
                if c.delta.reasoning_content:
                    self.reasoning.append(c.delta.reasoning_content)
                    self._dirty = True
        now = time.monotonic()
        if self._dirty and now - self._last >= self.interval:
            self._last = now
            self._show(final=False)

    def _show(self, final: bool, text: str | None = None) -> None:
        from IPython.display import display

        body = self.text if text is None else text
        bundle = answer_bundle(body, self.fmt, final=final, reasoning="".join(self.reasoning),
                               allow_images=self.allow_images)
        self._dirty = False
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def finish(self, comp: Completion) -> None:
        text = comp.text or self.text
        if text or self.handle is not None:
            self._show(final=True, text=text)
        if comp.web_search:
            _display_html(references_html(comp.web_search))
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
        if self.footer and _worth_a_footer(comp):
            out.write(f"[{terminal_safe(footer_text(comp, self.rate))}]\n")
        out.flush()

    def show_notice(self, text: str) -> None:
        self._out.write(f"ⓘ {terminal_safe(text)}\n")

    def show_tool(self, name: str, arguments: str, result: str) -> None:
        self._out.write(terminal_safe(f"[tool] {name}({arguments}) → {result}") + "\n")
