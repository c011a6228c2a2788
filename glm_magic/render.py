"""Stream views: an in-place, throttled display in a notebook; plain text in a terminal.
Everything model-written that becomes HTML goes through `safe_html` first."""

from __future__ import annotations

import html
import json
import sys
import time
from typing import Any, TextIO

from .pricing import format_cost
from .types import Chunk, Completion

FORMATS = ("markdown", "text", "code", "json", "html")
ALLOWED_SCHEMES = {"http", "https", "mailto", "data"}


def safe_html(fragment: str) -> str:
    """Sanitize untrusted HTML: no scripts, no event handlers, no javascript: links."""
    import nh3

    return nh3.clean(fragment, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer")


def markdown_html(text: str) -> str:
    """Markdown → sanitized HTML (raw HTML in the answer is escaped, not rendered)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return safe_html(md.render(text))


def footer_text(comp: Completion, rate: tuple[str, float] | None = None) -> str:
    """`glm-4-flash · 12 → 48 tokens · 1.23 s · free` (and the status when not ok)."""
    parts = [comp.model or comp.provider]
    u = comp.usage
    if u is not None:
        approx = "~" if u.estimated else ""
        parts.append(f"{approx}{u.prompt_tokens} → {approx}{u.completion_tokens} tokens")
    if comp.latency_s is not None:
        parts.append(f"{comp.latency_s:.2f} s")
    if comp.cost_status:
        parts.append(format_cost(comp.cost if comp.cost is not None else float("nan"),
                                 comp.currency, comp.cost_status, rate))
    if comp.status != "ok":
        parts.append(comp.status.upper())
    return " · ".join(parts)


def code_block(text: str) -> tuple[str, str]:
    """(language, code) of the first fenced block, or ('', text) when there is none."""
    start = text.find("```")
    if start < 0:
        return "", text.strip()
    nl = text.find("\n", start)
    if nl < 0:
        return "", text.strip()
    lang = text[start + 3:nl].strip()
    end = text.find("```", nl + 1)
    return lang, text[nl + 1: end if end >= 0 else len(text)].rstrip()


def render_object(text: str, fmt: str = "markdown", final: bool = True) -> Any:
    """An IPython display object for the answer in the chosen format."""
    from IPython.display import HTML, JSON, Markdown

    if fmt == "text" or (not final and fmt in ("json",)):
        return _Text(text)
    if fmt == "html":
        return HTML(safe_html(text))
    if fmt == "code":
        lang, code = code_block(text)
        return Markdown(f"```{lang}\n{code}\n```")
    if fmt == "json" and final:
        try:
            return JSON(json.loads(text))
        except ValueError:
            return _Text(text)
    return Markdown(text)


def references_html(refs: list[dict[str, Any]]) -> str:
    """Web-search results as a small, safe reference list."""
    items = []
    for r in refs:
        link = str(r.get("link") or "")
        title = html.escape(str(r.get("title") or link))
        if link.startswith(("http://", "https://")):
            items.append(f'<li><a href="{html.escape(link)}" rel="noopener noreferrer" '
                         f'target="_blank">{title}</a></li>')
        else:
            items.append(f"<li>{title}</li>")
    return ('<div class="glm-refs" style="font-size:0.85em"><b>References</b><ol>'
            + "".join(items) + "</ol></div>")


class _Text:
    """Plain text that renders as text/plain only (no HTML interpretation)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


class NotebookView:
    """Renders the answer into one display area, updated in place at most `max_fps` times a
    second so that a long stream costs little."""

    def __init__(self, fmt: str = "markdown", *, footer: bool = True, max_fps: float = 20.0,
                 rate: tuple[str, float] | None = None) -> None:
        self.fmt = fmt
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
        if self.reasoning and self.fmt == "markdown":
            # the model's reasoning, collapsed above the answer (never sent back to it)
            thinking = html.escape("".join(self.reasoning))
            body = (f"<details><summary>thinking</summary>\n\n<pre>{thinking}</pre>\n\n"
                    f"</details>\n\n{body}")
        obj = render_object(body, self.fmt, final=final)
        self._dirty = False
        if self.handle is None:
            self.handle = display(obj, display_id=True)
        else:
            self.handle.update(obj)

    def finish(self, comp: Completion) -> None:
        from IPython.display import HTML, display

        text = comp.text or self.text
        if text or self.handle is not None:
            self._show(final=True, text=text)
        if comp.web_search:
            display(HTML(references_html(comp.web_search)))
        if self.footer:
            display(HTML('<div class="glm-footer" style="color:#888;font-size:0.8em;'
                         f'margin-top:2px">{html.escape(footer_text(comp, self.rate))}</div>'))

    def show_notice(self, text: str) -> None:
        from IPython.display import HTML, display

        display(HTML(f'<div class="glm-notice" style="color:#b36b00;font-size:0.85em">'
                     f'ⓘ {html.escape(text)}</div>'))

    def show_tool(self, name: str, arguments: str, result: str) -> None:
        from IPython.display import HTML, display

        display(HTML(f'<details class="glm-tool" style="font-size:0.85em;color:#555"><summary>'
                     f'🔧 {html.escape(name)}({html.escape(arguments)})</summary>'
                     f'<pre>{html.escape(result)}</pre></details>'))


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
                self._out.write(c.delta.reasoning_content)
        t = chunk.text
        if t:
            if self._thinking and not self.parts:
                self._out.write("\n[answer] ")
            self.parts.append(t)
            self._out.write(t)
            self._out.flush()

    def finish(self, comp: Completion) -> None:
        out = self._out
        if not self.parts and comp.text:  # not streamed: print it whole
            out.write(comp.text)
        out.write("\n")
        for ref in comp.web_search or []:
            out.write(f"  ↳ {ref.get('title') or ''} {ref.get('link') or ''}\n")
        if self.footer:
            out.write(f"[{footer_text(comp, self.rate)}]\n")
        out.flush()

    def show_notice(self, text: str) -> None:
        self._out.write(f"ⓘ {text}\n")

    def show_tool(self, name: str, arguments: str, result: str) -> None:
        self._out.write(f"[tool] {name}({arguments}) → {result}\n")
