"""What the drop-in modules share: one recorded `Client` per provider and credentials, the
attribute-access dicts the SDKs return, and copying an exchange into a conversation."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from ..core.client import Client

_CLIENTS: dict[tuple, Client] = {}
_LOCK = threading.Lock()


def client(provider: str, *, api_key: str | None = None, base_url: str | None = None,
           timeout: float | None = None, max_retries: int = 3, backoff_s: float = 0.5,
           **options: Any) -> Client:
    """The recorded client for these settings (built once; rebuilt when the environment's
    credentials change). Keys are part of the cache key only as a digest."""
    secrets = "\0".join(str(v) for v in (api_key, *sorted(
        (k, str(v)) for k, v in options.items())))
    key = (provider, hashlib.sha256(secrets.encode("utf-8", "surrogatepass")).hexdigest(),
           base_url, timeout, max_retries, backoff_s)
    with _LOCK:
        found = _CLIENTS.get(key)
        if found is not None and not found.credentials_changed():
            return found
        made = Client(provider, api_key=api_key, base_url=base_url, timeout=timeout,
                      max_retries=max_retries, backoff_s=backoff_s, source="compat", **options)
        _CLIENTS[key] = made
        return made


def remember(conversation: str | None, messages: list[dict[str, Any]], answer: str) -> None:
    """Copy an exchange into the session's conversation `conversation` (when set): the
    request's messages replace what it held, then the answer follows."""
    if not conversation:
        return
    from ..calls.sessions import session

    conv = session().chat(conversation)
    conv.reset(keep_system=False)
    for m in messages:
        conv.add(str(m.get("role") or "user"), m.get("content"))
    conv.add("assistant", answer)


class AttrDict(dict):
    """A dict whose keys read as attributes too (`resp.output.text`, `resp["output"]`), as
    the SDKs' responses are; `print()` shows it as JSON."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __str__(self) -> str:
        # JSON escapes control characters; terminal_safe also bidi overrides and zero-width
        # characters, so a model's text printed this way cannot drive or disguise the terminal
        from ..sanitize import terminal_safe

        return terminal_safe(json.dumps(self, ensure_ascii=False, indent=4, default=str))


def attr_dict(value: Any) -> Any:
    """Nested dicts (and the dicts in lists) as AttrDicts."""
    if isinstance(value, dict):
        return AttrDict({k: attr_dict(v) for k, v in value.items()})
    if isinstance(value, list):
        return [attr_dict(v) for v in value]
    return value
