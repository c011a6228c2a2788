"""Images as request content: URLs pass as given; files, bytes and PIL images become base64
(raw, without the data: prefix, as Zhipu's SDK sends), checked against the size limits."""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from typing import Any

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 6000


def image_part(source: Any) -> dict[str, Any]:
    """An `image_url` content part from a URL, a path, bytes or a PIL image.
    Raises ValueError with what is wrong and how to fix it."""
    if isinstance(source, str):
        if source.startswith(("http://", "https://")):
            return _part(source)
        if source.startswith("data:"):
            return _part(source.split(",", 1)[-1])
        return _part(_b64(_read_file(source), source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _part(_b64(bytes(source), "the image bytes"))
    if hasattr(source, "save") and hasattr(source, "size"):  # a PIL image
        w, h = source.size
        if max(w, h) > MAX_SIDE:
            raise ValueError(f"the image is {w}×{h} px; the limit is {MAX_SIDE}×{MAX_SIDE} — "
                             "resize it (image.thumbnail((2048, 2048)))")
        buf = io.BytesIO()
        source.save(buf, format="PNG")
        return _part(_b64(buf.getvalue(), "the PIL image"))
    raise ValueError(f"cannot use {type(source).__name__} as an image: give a path, a URL, "
                     "bytes or a PIL image")


def _part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def _read_file(ref: str) -> bytes:
    path = os.path.expanduser(ref)
    if not os.path.isfile(path):
        raise ValueError(f"image file not found: {ref} (give a path or an http(s) URL)")
    mime = mimetypes.guess_type(path)[0]
    if mime is not None and not mime.startswith("image/"):
        raise ValueError(f"{ref} does not look like an image ({mime})")
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise ValueError(f"{ref} is {size / 1e6:.1f} MB; the limit is 5 MB — resize or "
                         "compress it")
    with open(path, "rb") as f:
        return f.read()


def _b64(data: bytes, what: str) -> str:
    if len(data) > MAX_BYTES:
        raise ValueError(f"{what} is {len(data) / 1e6:.1f} MB; the limit is 5 MB — resize or "
                         "compress it")
    return base64.b64encode(data).decode("ascii")


def vision_message(text: str, *images: Any) -> dict[str, Any]:
    """A user message with text and images, ready for `messages=[...]`."""
    return {"role": "user",
            "content": [{"type": "text", "text": text}, *[image_part(i) for i in images]]}
