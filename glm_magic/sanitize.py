"""The one renderer for text that a model or a server wrote.

Such text can carry whatever the page, document or table the model read said, and JupyterLab
renders a live session's outputs unsanitized. So every front-end (the magic's views in every
format, the chat panel, thinking blocks, tool displays, references, history, error text)
turns model text into output only through the functions here:

- `markdown_html`: Markdown → HTML with raw HTML shown as text (markdown-it with `html`
  off), math kept away from the parser (dollarmath) for the front-end's typesetter, then an
  allowlist sanitizer (nh3) as the last gate: links only http/https/mailto with
  `rel="noopener noreferrer"`, nothing executable, styled or navigating.
- Remote images (`![](https://host/?q=…)` leaks the conversation when it loads) become visible
  links unless `allow_images` is set.
- `terminal_safe`: control characters and escape sequences shown escaped (`\\x1b`), newlines
  and tabs kept: for every plain-text path (terminal view, `text/plain`, history).
- `answer_bundle`: the MIME bundle of one answer; it always carries `text/plain`.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from typing import Any

URL_SCHEMES = frozenset({"http", "https", "mailto"})
TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "q",
    "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
})
ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "title"}, "code": {"class"},
    "span": {"class"}, "div": {"class"}, "th": {"align"}, "td": {"align"}, "ol": {"start"},
    "abbr": {"title"},
}
# the only class values kept: a fenced block's language and our math markers
_CLASS_OK = re.compile(r"^(language-[A-Za-z0-9_+#.\-]{1,40}|math|inline|display)$")
# TeX commands that make links, classes, styles or load code in the front-end's typesetter
_RISKY_TEX = re.compile(r"\\(href|url|class|cssId|style|data|html|require|unicode|"
                        r"mmlToken|tag)\b")
# C0 and C1 controls (but \n and \t), DEL, bidi overrides and zero-width characters
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                      "\u2066-\u2069\ufeff]")
# the classes that keep MathJax (and MathJax 2's tex2jax) off an element and its children
NO_TYPESET = "tex2jax_ignore mathjax_ignore"
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_ATTR = re.compile(r"""\b(src|alt)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.I)


def _escape_control(m: re.Match[str]) -> str:
    c = m.group(0)
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def terminal_safe(text: str) -> str:
    """Text with every control character, escape sequence introducer, bidi override and
    zero-width character shown escaped (`\\x1b[2J` stays visible and inert); `\\n` and `\\t`
    are kept, `\\r\\n` becomes `\\n`."""
    if not text:
        return text
    text = str(text).replace("\r\n", "\n")
    return _CONTROL.sub(_escape_control, text)


def escape(text: Any) -> str:
    """Plain text for an HTML context (no markup, no controls)."""
    return html.escape(terminal_safe(str(text)))


def _keep_class(tag: str, attr: str, value: str) -> str | None:
    if attr == "class":
        kept = [c for c in value.split() if _CLASS_OK.match(c)]
        return " ".join(kept) or None
    return value


def clean_html(fragment: str, *, allow_images: bool = False) -> str:
    """The allowlist sanitizer every HTML output passes last (nh3/ammonia)."""
    import nh3

    tags = set(TAGS) | ({"img"} if allow_images else set())
    return nh3.clean(fragment, tags=tags, attributes=ATTRIBUTES, url_schemes=set(URL_SCHEMES),
                     link_rel="noopener noreferrer", strip_comments=True,
                     clean_content_tags={"script", "style", "noscript", "textarea", "xmp",
                                         "iframe", "noembed", "noframes", "plaintext", "title",
                                         "template", "svg", "math", "object"},
                     attribute_filter=_keep_class)


def safe_html(fragment: str, *, allow_images: bool = False) -> str:
    """Untrusted HTML (the `-f html` format): sanitized; images shown as links unless
    `allow_images`."""
    fragment = terminal_safe(fragment)
    if not allow_images:
        fragment = _IMG_TAG.sub(_img_as_link, fragment)
    return _no_risky_math(clean_html(fragment, allow_images=allow_images), fragment)


def _img_as_link(m: re.Match[str]) -> str:
    attrs = {k.lower(): v.strip("\"'") for k, v in _ATTR.findall(m.group(0))}
    src = html.unescape(attrs.get("src", ""))
    return _image_link(src, html.unescape(attrs.get("alt", "")))


def _image_link(src: str, alt: str) -> str:
    label = escape(f"image: {alt}" if alt else "image")
    if not src.lower().startswith(("http://", "https://")):
        return f"[{label}]"
    return f'<a href="{html.escape(src, quote=True)}">🖼 {label}</a>'


@lru_cache(maxsize=2)
def _markdown(allow_images: bool) -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_space=True, allow_digits=False, double_inline=True)

    def math_inline(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return f'<span class="math inline">${html.escape(tokens[idx].content)}$</span>'

    def math_block(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return f'<div class="math display">$${html.escape(tokens[idx].content)}$$</div>\n'

    def image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tok = tokens[idx]
        src = str(tok.attrGet("src") or "")
        alt = self.renderInlineAsText(tok.children or [], options, env)
        if allow_images:
            return (f'<img src="{html.escape(src, quote=True)}" '
                    f'alt="{html.escape(alt, quote=True)}">')
        return _image_link(src, alt)

    md.add_render_rule("math_inline", math_inline)
    def math_inline_double(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return f'<span class="math display">$${html.escape(tokens[idx].content)}$$</span>'

    md.add_render_rule("math_inline_double", math_inline_double)
    md.add_render_rule("math_block", math_block)
    md.add_render_rule("math_block_label", math_block)
    md.add_render_rule("image", image)
    return md


def markdown_parser() -> Any:
    """The one Markdown parser (CommonMark, tables, math, raw HTML off), for block structure."""
    return _markdown(False)


def markdown_html(text: str, *, allow_images: bool = False) -> str:
    """Markdown → sanitized HTML: raw HTML in the text is shown as text, never rendered."""
    text = terminal_safe(text)
    rendered = _markdown(bool(allow_images)).render(text)
    return _no_risky_math(clean_html(rendered, allow_images=allow_images), text)


def _no_risky_math(clean: str, source: str) -> str:
    """A typesetter could turn `\\href{javascript:…}` into a live link: answers that use such
    commands are marked so the front-end does not typeset them at all."""
    if _RISKY_TEX.search(source):
        return f'<div class="{NO_TYPESET}">{clean}</div>'
    return clean


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


def text_html(text: str) -> str:
    """Plain text shown as text in an HTML front-end (no autolinking of its URLs)."""
    return _no_risky_math(f'<pre class="glm-text">{escape(text)}</pre>', text)


def thinking_html(reasoning: str) -> str:
    """The model's reasoning, collapsed, as escaped text."""
    return (f'<details class="glm-thinking"><summary>thinking</summary>'
            f'<pre>{escape(reasoning)}</pre></details>')


def answer_bundle(text: str, fmt: str = "markdown", *, final: bool = True,
                  reasoning: str = "", allow_images: bool = False) -> dict[str, Any]:
    """The MIME bundle for one answer in format `fmt` (markdown, text, code, json, html).

    Every bundle has `text/plain` (terminal-safe); the HTML, when there is one, is sanitized
    whole on every call, so a tag split across stream chunks never renders live."""
    plain = terminal_safe(text)
    if reasoning:
        plain = f"[thinking] {terminal_safe(reasoning)}\n\n{plain}"
    bundle: dict[str, Any] = {"text/plain": plain}
    head = thinking_html(reasoning) if reasoning and fmt != "text" else ""
    # a front-end autolinks text/plain (JupyterLab links even `data:` URLs), so every bundle
    # carries HTML too: plain text as an escaped <pre>
    if fmt == "text":
        bundle["text/html"] = text_html(plain)
        return bundle
    if fmt == "json":
        if final:
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or nested past any reason
                value = None
            if isinstance(value, (dict, list)) and _shallow(value):
                bundle["application/json"] = value
        bundle["text/html"] = _no_risky_math(head + text_html(text), text + reasoning)
        return bundle
    if fmt == "html":
        bundle["text/html"] = head + safe_html(text, allow_images=allow_images)
    elif fmt == "code":
        lang, code = code_block(text)
        bundle["text/html"] = head + markdown_html(f"````{lang}\n{code}\n````")
        bundle["text/plain"] = terminal_safe(code)
    else:
        bundle["text/html"] = head + markdown_html(text, allow_images=allow_images)
    bundle["text/html"] = _no_risky_math(bundle["text/html"], text + reasoning)
    return bundle


def _shallow(value: Any, limit: int = 64) -> bool:
    """JSON a front-end's tree viewer (and the kernel's serializer) can take: at most 64
    levels; deeper answers are shown as text."""
    from ._json import nesting

    return nesting(value, limit) <= limit


def notice_html(text: str) -> str:
    return (f'<div class="glm-notice" style="color:#b36b00;font-size:0.85em">'
            f'ⓘ {escape(text)}</div>')


def footer_html(text: str) -> str:
    return (f'<div class="glm-footer" style="color:#888;font-size:0.8em;margin-top:2px">'
            f'{escape(text)}</div>')


def tool_html(name: str, arguments: str, result: str) -> str:
    """A function call the model made and what it returned, as escaped text."""
    return _no_risky_math(
        f'<details class="glm-tool" style="font-size:0.85em;color:#555"><summary>'
        f'🔧 {escape(name)}({escape(arguments)})</summary><pre>{escape(result)}</pre></details>',
        name + arguments + result)


def references_html(refs: list[dict[str, Any]]) -> str:
    """Web-search results as a small reference list: titles as text, only http(s) links."""
    items = []
    for r in refs:
        link = str(r.get("link") or "") if isinstance(r, dict) else ""
        title = escape((r.get("title") if isinstance(r, dict) else r) or link)
        if link.lower().startswith(("http://", "https://")) and not _CONTROL.search(link):
            items.append(f'<li><a href="{html.escape(link, quote=True)}" '
                         f'rel="noopener noreferrer">{title}</a></li>')
        else:
            items.append(f"<li>{title}</li>")
    out = clean_html('<div class="glm-refs"><b>References</b><ol>' + "".join(items)
                     + "</ol></div>")
    return _no_risky_math(out, out)


MCP_OUTPUT_CHARS = 2000  # of one MCP tool's output shown under the answer


def _mcp_line(step: dict[str, Any]) -> tuple[str, str]:
    """(what was called, what came back) of one server-side MCP step, as plain text."""
    label = str(step.get("server_label") or "mcp")
    if step.get("type") == "mcp_list_tools":
        names = [str(t.get("name")) for t in step.get("tools") or () if isinstance(t, dict)]
        return f"{label}: tools {', '.join(names) or '(none)'}", str(step.get("error") or "")
    call = f"{label} · {step.get('name') or '?'}({step.get('arguments') or ''})"
    result = step.get("error") or step.get("output") or ""
    if not isinstance(result, str):
        result = json.dumps(result, ensure_ascii=False)
    if len(result) > MCP_OUTPUT_CHARS:
        result = result[:MCP_OUTPUT_CHARS] + "…"
    return call, result


def mcp_html(steps: list[dict[str, Any]]) -> str:
    """The MCP tools the server called for this answer, escaped like the references: the
    call as the summary, the tool's output (or error) as text inside."""
    items = []
    for step in steps:
        call, result = _mcp_line(step)
        body = f"<pre>{escape(result)}</pre>" if result else ""
        items.append(f"<details><summary>🔌 {escape(call)}</summary>{body}</details>")
    text = "".join(" ".join(_mcp_line(s)) for s in steps)
    return _no_risky_math(f'<div class="glm-mcp" style="font-size:0.85em;color:#555">'
                          f'<b>MCP tools</b>{"".join(items)}</div>', text)


def mcp_text(steps: list[dict[str, Any]]) -> str:
    lines = []
    for step in steps:
        call, result = _mcp_line(step)
        lines.append(f"  🔌 {call}" + (f" → {result}" if result else ""))
    return terminal_safe("\n".join(lines))


def references_text(refs: list[Any]) -> str:
    lines = []
    for r in refs:
        if isinstance(r, dict):
            lines.append(f"  ↳ {r.get('title') or ''} {r.get('link') or ''}")
        else:
            lines.append(f"  ↳ {r}")
    return terminal_safe("\n".join(lines))
