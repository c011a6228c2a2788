"""Baidu Cloud's `bce-auth-v1` request signing: how the qianfan SDK authenticates with an IAM
Access Key / Secret Key pair (`QIANFAN_ACCESS_KEY` / `QIANFAN_SECRET_KEY`). The Secret Key never
leaves the machine; each request carries an HMAC-SHA256 signature over its method, path, query
and chosen headers, valid for a limited time."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit

EXPIRATION_S = 1800
SIGNED = ("host", "content-type", "content-md5", "content-length")


def _encode(text: str, safe: str = "-_.~") -> str:
    return quote(str(text), safe=safe)


def timestamp(now: float | None = None) -> str:
    """The UTC time a signature starts from, as the `x-bce-date` header carries it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def canonical_request(method: str, url: str, headers: Mapping[str, str],
                      params: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The text that is signed, and the (sorted, lower-case) header names it covers."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params or {})
    lowered = {k.lower(): str(v).strip() for k, v in headers.items()}
    lowered.setdefault("host", parts.netloc)
    names = sorted(n for n in lowered if n in SIGNED or n.startswith("x-bce-"))
    canonical_query = "&".join(sorted(f"{_encode(k)}={_encode(v)}" for k, v in query.items()
                                      if k.lower() != "authorization"))
    canonical_headers = "\n".join(sorted(f"{_encode(n)}:{_encode(lowered[n])}" for n in names))
    text = "\n".join((method.upper(), _encode(parts.path or "/", safe="/-_.~"),
                      canonical_query, canonical_headers))
    return text, names


def authorization(access_key: str, secret_key: str, method: str, url: str,
                  headers: Mapping[str, str], params: Mapping[str, str] | None = None, *,
                  date: str | None = None, expiration_s: int = EXPIRATION_S) -> str:
    """The `Authorization` header value for one request. `date` is the request's `x-bce-date`."""
    prefix = f"bce-auth-v1/{access_key}/{date or timestamp()}/{expiration_s}"
    signing_key = hmac.new(secret_key.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    text, names = canonical_request(method, url, headers, params)
    signature = hmac.new(signing_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return f"{prefix}/{';'.join(names)}/{signature}"
