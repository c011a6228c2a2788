"""`%%glm --image-gen` and `%glm image`: images generated (CogView), shown inline, saved on
request; downloads only from public hosts or the provider's own, bounded in size."""

from __future__ import annotations

import base64
import html
import os
from typing import Any

from IPython.core.error import UsageError

from .. import errors
from ..sanitize import clean_html, terminal_safe
from .cell_errors import cell_error
from .output import GLMMagics


def run_image(magics: GLMMagics, prompt: str, *, model: str | None, size: str | None,
              n: int | None, out: str | None, save: str | None, provider: str | None) -> None:
    """Generate, show inline (from the URL or b64_json), optionally save; priced per image."""
    from IPython.display import Image, display

    from ..accounting import pricing

    if not prompt:
        raise UsageError("the image prompt is empty")
    s = magics.session
    try:
        resp = s.generate_image(prompt, model=model or "cogview-3", size=size, n=n,
                                provider=provider, source="magic",
                                cell=getattr(magics.shell, "execution_count", None))
    except errors.GLMError as err:
        raise cell_error(err) from None
    trusted = s.client(provider).provider.base_url
    for i, item in enumerate(resp.data):
        data = image_bytes(item, trusted)
        if save and data is not None:
            path = save if len(resp.data) == 1 else _numbered(save, i + 1)
            with open(path, "wb") as f:
                f.write(data)
            print(f"saved {path}")
        if data is not None:
            display(Image(data=data))
        elif item.url:
            display({"text/html": clean_html(f'<a href="{html.escape(item.url)}">image {i + 1}'
                                             "</a>"),
                     "text/plain": terminal_safe(f"image {i + 1}: {item.url}")}, raw=True)
    comp = getattr(resp, "completion", None)
    if comp is not None and magics.show_footer:
        count = f"{len(resp.data)} image{'s' if len(resp.data) != 1 else ''}"
        line = " · ".join([comp.model, count, f"{comp.latency_s or 0:.2f} s",
                           pricing.format_cost(comp.cost if comp.cost is not None else
                                               float("nan"), comp.currency,
                                               comp.cost_status or "unpriced",
                                               magics.session.exchange_rate)])
        print(f"[{terminal_safe(line)}]")
    ns = magics.shell.user_ns if magics.shell is not None else {}
    if out:
        ns[out] = resp
    ns["_glm_image"] = resp
    return None


def image_bytes(item: Any, trusted: str | None = None) -> bytes | None:
    """The image's bytes: decoded from b64_json, or downloaded from its URL when that is a
    public http(s) address or the provider's own host (else shown as a link, with why)."""
    if item.b64_json:
        return base64.b64decode(item.b64_json)
    if item.url:
        import httpx

        from ..media import fetch_image

        try:
            return fetch_image(item.url, trusted)
        except ValueError as exc:
            print(terminal_safe(f"glm-magic: not downloading the image: {exc}"))
        except httpx.HTTPError:
            return None
    return None


def _numbered(path: str, i: int) -> str:
    root, ext = os.path.splitext(path)
    return f"{root}-{i}{ext}"
