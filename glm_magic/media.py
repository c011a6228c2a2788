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
    real = os.path.realpath(path)
    if real.startswith(("/proc/", "/sys/", "/dev/")):
        raise ValueError(f"{ref} is not an image file (only regular image files are sent)")
    with open(real, "rb") as f:  # read at most the limit: sizes of special files lie
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{ref} is over 5 MB, the limit — resize or compress it")
    if not data.startswith(IMAGE_MAGIC) and not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise ValueError(f"{ref} is not a PNG, JPEG, GIF, WebP or BMP image")
    return data


IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def _b64(data: bytes, what: str) -> str:
    if len(data) > MAX_BYTES:
        raise ValueError(f"{what} is {len(data) / 1e6:.1f} MB; the limit is 5 MB — resize or "
                         "compress it")
    return base64.b64encode(data).decode("ascii")


def vision_message(text: str, *images: Any) -> dict[str, Any]:
    """A user message with text and images, ready for `messages=[...]`."""
    return {"role": "user",
            "content": [{"type": "text", "text": text}, *[image_part(i) for i in images]]}


MAX_FETCH_BYTES = 20 * 1024 * 1024


def fetch_image(url: str, trusted: str | None = None, timeout: float = 30.0) -> bytes:
    """Download a generated image from the URL an API answer gave. Only http(s) on public
    addresses (or the provider's own host, `trusted`), no redirect elsewhere, at most 20 MB,
    and the bytes must be an image: an answer cannot make the kernel fetch from the local
    network or cloud metadata. Raises ValueError saying why not."""
    import httpx

    for _ in range(4):  # the URL, then at most three redirects, each checked again
        _check_public(url, trusted)
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as r:
            if r.is_redirect and r.headers.get("location"):
                url = str(r.url.join(r.headers["location"]))
                continue
            r.raise_for_status()
            data = bytearray()
            for part in r.iter_bytes():
                data += part
                if len(data) > MAX_FETCH_BYTES:
                    raise ValueError("the image is over 20 MB; not downloaded")
        if not bytes(data[:12]).startswith(IMAGE_MAGIC) and data[8:12] != b"WEBP":
            raise ValueError("the download is not a PNG, JPEG, GIF, WebP or BMP image")
        return bytes(data)
    raise ValueError("too many redirects")


def _check_public(url: str, trusted: str | None) -> None:
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"only http(s) image URLs are fetched, not {parts.scheme or url!r}")
    if trusted:
        t = urlsplit(trusted)
        if (parts.hostname, parts.port) == (t.hostname, t.port):
            return  # the provider's own host
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            raise ValueError(f"{parts.hostname} is a private or local address ({addr}); "
                             "images are fetched only from public hosts")
