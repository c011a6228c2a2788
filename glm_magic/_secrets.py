"""A process-wide set of secrets (API keys, tokens) and a redactor for any text we show or store.

Every place that turns data into text a user could see or save (errors, reprs, ledger rows,
dry-run output) passes it through `redact`, so a key echoed back by a server never leaks."""

from __future__ import annotations

import re

_SECRETS: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(secret: str | None) -> None:
    """Remember a secret so `redact` hides it (and its parts around a '.', for id.secret keys)."""
    global _pattern
    if not secret or len(secret) < 6:
        return
    new = {secret} | {p for p in secret.split(".") if len(p) >= 8}
    if new <= _SECRETS:
        return
    _SECRETS.update(new)
    _pattern = re.compile("|".join(re.escape(s) for s in sorted(_SECRETS, key=len, reverse=True)))


def mask(secret: str | None) -> str:
    """`sk-…abcd` style: enough to recognise which key, never enough to use it."""
    if not secret:
        return "<not set>"
    if len(secret) <= 8:
        return "…" + secret[-2:]
    return f"{secret[:3]}…{secret[-4:]}"


def redact(text: str) -> str:
    if _pattern is None or not text:
        return text
    return _pattern.sub(lambda m: mask(m.group(0)), text)


_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]{12,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")


def scrub(text: str) -> str:
    """`redact` plus generic patterns (bearer tokens, JWTs) for text from outside."""
    text = redact(text)
    text = _BEARER.sub(r"\1***", text)
    return _JWT.sub("<jwt>", text)


KEY_LIKE = re.compile(
    r"\b(sk-[A-Za-z0-9]{20,}|[0-9a-f]{32}\.[A-Za-z0-9]{16}|bce-v3/[A-Za-z0-9/\-]{20,})\b")


def looks_like_key(text: str) -> bool:
    """True when text contains something shaped like an API key (to warn users in cells)."""
    return bool(KEY_LIKE.search(text))
