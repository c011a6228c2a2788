"""A process-wide set of secrets (API keys, tokens) and a redactor for any text we show or store.

Every place that turns data into text a user could see or save (errors, reprs, ledger rows,
dry-run output) passes it through `redact`, so a key echoed back by a server never leaks."""

from __future__ import annotations

import re
from typing import Any

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


class Secret(str):
    """A key or token as a `str` whose repr is masked: a traceback that shows the variable
    holding it (`%xmode Verbose` prints frame locals) shows `sk-…abcd`, never the key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask(str(self)))


def secret(value: str | None) -> Secret | None:
    """`value` registered for redaction and wrapped so its repr is masked."""
    if not value or not isinstance(value, str):
        return None
    register(value)
    return value if isinstance(value, Secret) else Secret(value)


SENSITIVE_NAMES = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key",
                             "api_key", "apikey", "access_token", "client_secret",
                             "secret_key", "secret", "token", "x-dashscope-apikey"})


def masked_mapping(mapping: Any) -> str:
    """The repr of a dict with sensitive values masked and every known secret redacted."""
    if not isinstance(mapping, dict):
        return scrub(repr(mapping))
    parts = []
    for k, v in mapping.items():
        shown = mask(str(v)) if sensitive(k) and v else v
        parts.append(f"{k!r}: {shown!r}")
    return scrub("{" + ", ".join(parts) + "}")


def sensitive(name: object) -> bool:
    n = str(name).lower()
    return n in SENSITIVE_NAMES or n.endswith(("_key", "_secret", "_token", "password"))


def register_options(providers: dict[str, Any]) -> dict[str, Any]:
    """Per-provider options as configured (`%config GLMMagics.providers`): every key, secret
    or token in them is registered for redaction at once and held as a `Secret`."""
    out: dict[str, Any] = {}
    for name, opts in providers.items():
        if isinstance(opts, dict):
            opts = {k: secret(v) if sensitive(k) and isinstance(v, str) else v
                    for k, v in opts.items()}
        out[name] = opts
    return out


class SecretDict(dict):
    """Request headers and query parameters: a plain dict to httpx, masked in any repr."""

    def __repr__(self) -> str:
        return masked_mapping(self)


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
_TOKEN_QS = re.compile(r"(access_token=)[^&\s\"']+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")


def scrub(text: str) -> str:
    """`redact` plus generic patterns (bearer tokens, JWTs) for text from outside."""
    text = redact(text)
    text = _BEARER.sub(r"\1***", text)
    text = _TOKEN_QS.sub(r"\1***", text)
    return _JWT.sub("<jwt>", text)


# what `mask_credentials` hides in text we send out (`%glm fix`): key shapes, passwords in URLs
# (libpq's `user:pass@` and `?password=`), and string literals assigned to secret-sounding names
_KEY_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{16,}|[0-9A-Za-z]{16,}\.[A-Za-z0-9]{12,}|bce-v3/[A-Za-z0-9/\-]{20,}"
    r"|ALTAK[A-Za-z0-9]{10,}|AKID[A-Za-z0-9]{10,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|AIza[A-Za-z0-9_\-]{30,}|xox[abprs]-[A-Za-z0-9\-]{10,})")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@'\"]*:)([^\s@/'\"]+)(@)", re.I)
_QUERY_PASSWORD = re.compile(r"((?:[?&;\s]|^)(?:password|passwd|pwd|sslpassword)\s*=\s*)"
                             r"('[^']*'|\"[^\"]*\"|[^&\s'\"]+)", re.I | re.M)
_SECRET_ASSIGNED = re.compile(
    r"""(?P<lhs>[\w.\[\]'"-]*(?:key|secret|token|password|passwd|pwd|_sk|_ak|credential)"""
    r"""[\w'"\]]*\s*(?::\s*[\w\[\], |]+)?\s*[=:]\s*[rbuf]{0,2})"""
    r"""(?P<q>['"])(?P<value>[^'"\n]{4,})(?P=q)""", re.I)


def mask_credentials(text: str) -> str:
    """`scrub` plus everything shaped like a credential, for text that leaves the machine in
    a prompt: key shapes (`sk-…`, `id.secret`, bearer, JWT), passwords in URLs and libpq
    strings, and string literals assigned to names like `*key*`, `*secret*`, `*token*`,
    `*password*` (`dashscope.api_key = "…"`, `os.environ["QIANFAN_SK"] = "…"`)."""
    text = scrub(text)
    text = _SECRET_ASSIGNED.sub(lambda m: f"{m['lhs']}{m['q']}***{m['q']}", text)
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _QUERY_PASSWORD.sub(r"\1***", text)
    return _KEY_SHAPES.sub(lambda m: mask(m.group(0)), text)


KEY_LIKE = re.compile(
    r"\b(sk-[A-Za-z0-9]{20,}|[0-9a-f]{32}\.[A-Za-z0-9]{16}|bce-v3/[A-Za-z0-9/\-]{20,})\b")


def looks_like_key(text: str) -> bool:
    """True when text contains something shaped like an API key (to warn users in cells)."""
    return bool(KEY_LIKE.search(text))


class RedactingFilter:
    """A logging filter that hides every registered secret in a record's message (httpx logs
    request URLs, and Qianfan's carry the access token in the query string)."""

    def filter(self, record: object) -> bool:
        import logging

        if not isinstance(record, logging.LogRecord):
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_filter_installed = False


def install_log_filter() -> None:
    """Attach the redacting filter to the loggers of the HTTP stack (once)."""
    global _filter_installed
    if _filter_installed:
        return
    import logging

    f = RedactingFilter()
    for name in ("httpx", "httpcore", "aiohttp.client", "glm_magic"):
        logging.getLogger(name).addFilter(f)  # type: ignore[arg-type]
    _filter_installed = True
