"""Baidu Qianfan v1 "wenxinworkshop" (ChatGLM3-6B and ERNIE endpoints): an OAuth access
token from the AK/SK pair, the model name as the endpoint, `result` bodies, `error_code` errors
whatever the HTTP status, and local validation of the API's documented limits."""

from __future__ import annotations

import threading
import time
from typing import Any

from .. import errors
from .._secrets import SecretDict, mask, secret
from ..sse import Event
from ..types import Choice, Completion, Message, Usage, as_text, text_chunk
from .base import HTTPRequest, ModelInfo, Provider

ENDPOINTS = {  # model name → preset endpoint; anything else is the user's own service name
    "ernie-3.5-8k": "completions", "ernie-4.0-8k": "completions_pro",
    "ernie-speed-8k": "ernie_speed", "ernie-speed": "ernie_speed",
    "ernie-lite-8k": "ernie-lite-8k", "ernie-lite": "ernie-lite-8k",
    "chatglm2-6b-32k": "chatglm2_6b_32k",
}
SYSTEM_OK = ("completions", "completions_pro", "ernie_speed", "ernie-lite-8k")
RETRY_CODES = {2: errors.ServerError, 18: errors.RateLimitError, 336100: errors.ServerError,
               336501: errors.RateLimitError, 336502: errors.RateLimitError}
TOKEN_CODES = {110, 111}
MAX_CHARS = 4800
TOKEN_MARGIN_S = 300.0


class QianfanProvider(Provider):
    name = "qianfan"

    def embedding_request(self, params: dict[str, Any]) -> HTTPRequest:
        raise self._unsupported("embeddings API here")
    default_base_url = "https://aip.baidubce.com"
    key_env = "QIANFAN_AK"
    base_url_env = "QIANFAN_BASE_URL"
    default_model = "ERNIE-Speed-8K"
    temperature_range = (0.0001, 1.0)
    blocking_auth = True  # the token fetch is a blocking call: AsyncClient runs it in a thread
    models = (ModelInfo("ERNIE-Speed-8K", 8_000, "free"), ModelInfo("ERNIE-Lite-8K", 8_000, "free"),
              ModelInfo("ERNIE-3.5-8K", 8_000), ModelInfo("ERNIE-4.0-8K", 8_000),
              ModelInfo("ChatGLM2-6B-32K", 32_000),
              ModelInfo("ChatGLM3-6B", 8_000, "your own deployed endpoint"))

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 secret_key: str | None = None, max_chars: int = MAX_CHARS, *,
                 iam_access_key: str | None = None, iam_secret_key: str | None = None,
                 **options: Any):
        """Two ways in, as the qianfan SDK has them: the app's API Key / Secret Key
        (`QIANFAN_AK` / `QIANFAN_SK`, an OAuth token) or an IAM Access Key / Secret Key
        (`QIANFAN_ACCESS_KEY` / `QIANFAN_SECRET_KEY`, every request signed). The app pair wins
        when both are set."""
        from ..config import env_value, source_of

        super().__init__(api_key, base_url, **options)
        self._secret = secret(secret_key or env_value("QIANFAN_SK"))
        self._iam_ak = secret(iam_access_key or env_value("QIANFAN_ACCESS_KEY"))
        self._iam_sk = secret(iam_secret_key or env_value("QIANFAN_SECRET_KEY"))
        self._iam_source = "code" if iam_access_key else source_of("QIANFAN_ACCESS_KEY")
        self.max_chars = max_chars
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    @property
    def signs_requests(self) -> bool:
        """True when requests are signed with the IAM pair (no app key pair is set)."""
        return not (self._api_key and self._secret) and bool(self._iam_ak and self._iam_sk)

    def credential_envs(self) -> tuple[str, ...]:
        return (*super().credential_envs(), "QIANFAN_SK", "QIANFAN_ACCESS_KEY",
                "QIANFAN_SECRET_KEY")

    def check_destination(self) -> None:
        if not self.signs_requests:
            return super().check_destination()
        src = self.base_url_source
        if src in ("default", "code", "environment") or src == self._iam_source:
            return
        raise errors.ConfigurationError(
            f"refusing to sign requests with QIANFAN_ACCESS_KEY ({mask(self._iam_ak)}) for "
            f"{self.base_url}, which {src} set", provider=self.name,
            hint="if you trust that host, set QIANFAN_BASE_URL in your environment or pass "
                 "base_url=")

    def require_key(self) -> str:
        self.check_destination()
        if self.signs_requests:
            return self._iam_ak  # type: ignore[return-value]
        if not self._api_key or not self._secret:
            raise errors.ConfigurationError(
                "Qianfan needs an API Key and a Secret Key", provider=self.name,
                hint="set QIANFAN_AK and QIANFAN_SK (the app's keys), or QIANFAN_ACCESS_KEY and "
                     "QIANFAN_SECRET_KEY (IAM), in the environment or .env; or pass api_key= "
                     "and secret_key=")
        return self._api_key

    # --- token -----------------------------------------------------------------------------
    def access_token(self, refresh: bool = False) -> str:
        with self._lock:
            if refresh or self._token is None or time.time() >= self._expires:
                self._token, ttl = self._fetch_token()
                self._expires = time.time() + max(60.0, ttl - TOKEN_MARGIN_S)
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        """The OAuth token for the app key pair, fetched through the client's bounded
        `fetch` (its timeout and deadline, a 64 KiB cap): a hostile token endpoint cannot hang
        a call or fill memory."""
        import json

        if self.fetch is None:
            raise errors.ConfigurationError("the Qianfan token is fetched by the client that "
                                            "sends for this provider", provider=self.name,
                                            hint="use Client('qianfan') or AsyncClient")
        ak = self.require_key()
        status, body = self.fetch(
            "POST", f"{self.base_url}/oauth/2.0/token",
            params=SecretDict({"grant_type": "client_credentials", "client_id": ak,
                               "client_secret": self._secret}))
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise errors.ProtocolError("token response is not JSON", provider=self.name,
                                       status=status) from None
        if isinstance(data, dict):
            data = SecretDict(data)  # holds the token: masked in any traceback
        token = secret(data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            desc = (data.get("error_description") or data.get("error")
                    if isinstance(data, dict) else None) or "no access_token"
            raise errors.AuthenticationError(f"token request refused: {desc}",
                                             provider=self.name,
                                             code=data.get("error") if isinstance(data, dict)
                                             else None,
                                             status=status)
        return token, _seconds(data.get("expires_in"), 2_592_000.0)

    def on_auth_failure(self, err: errors.GLMError) -> bool:
        if self.signs_requests:
            return False  # a signature does not expire like a token: nothing to refresh
        if err.code and err.code.isdigit() and int(err.code) in TOKEN_CODES:
            self.access_token(refresh=True)
            return True
        return False

    # --- request ---------------------------------------------------------------------------
    def endpoint(self, model: str, params: dict[str, Any]) -> str:
        return params.get("endpoint") or ENDPOINTS.get(model.lower(), model)

    def validate(self, params: dict[str, Any]) -> None:
        msgs = [m for m in params.get("messages") or [] if m.get("role") != "system"]
        fail = lambda text, hint="": errors.BadRequestError(  # noqa: E731
            text, provider=self.name, hint=hint or "see Qianfan's message rules")
        if not msgs:
            raise fail("messages must not be empty")
        if len(msgs) % 2 != 1:
            raise fail(f"Qianfan needs an odd number of messages, got {len(msgs)}",
                       "the conversation must end with a user message")
        for i, m in enumerate(msgs):
            want = "user" if i % 2 == 0 else "assistant"
            if m.get("role") != want:
                raise fail(f"message {i} must be {want!r} (strictly alternating, user first), "
                           f"not {m.get('role')!r}", "start a fresh conversation (--new)")
            if not m.get("content"):
                raise fail(f"message {i} has empty content")
        total = sum(len(str(m.get("content"))) for m in msgs)
        if total > self.max_chars:
            raise fail(f"the conversation has {total} characters; the limit is {self.max_chars}",
                       "start a fresh conversation (--new) or set max_history_tokens")
        t = params.get("temperature")
        if t is not None and not 0 < t <= 1:
            raise fail(f"temperature must be in (0, 1], not {t}")
        tp = params.get("top_p")
        if tp is not None and not 0 < tp <= 1:
            raise fail(f"top_p must be in (0, 1], not {tp}")
        ps = params.get("penalty_score")
        if ps is not None and not 1.0 <= ps <= 2.0:
            raise fail(f"penalty_score must be in [1.0, 2.0], not {ps}")
        tk = params.get("top_k")
        if tk is not None and (not isinstance(tk, int) or tk <= 0):
            raise fail(f"top_k must be a positive integer, not {tk!r}")
        stop = params.get("stop")
        if stop is not None:
            stop = [stop] if isinstance(stop, str) else stop
            if len(stop) > 4 or any(len(s) > 20 for s in stop):
                raise fail("stop takes at most 4 strings of at most 20 characters each")
        system = [m for m in params.get("messages") or [] if m.get("role") == "system"]
        if system and self.endpoint(params.get("model", ""), params) not in SYSTEM_OK:
            raise fail("this Qianfan endpoint takes no system prompt",
                       "drop -s / the system message, or use an ERNIE model")

    def prepare(self, params: dict[str, Any], stream: bool) -> HTTPRequest:
        p = {k: v for k, v in params.items() if v is not None}
        model = p.pop("model")
        endpoint = self.endpoint(model, p)
        p.pop("endpoint", None)
        messages = p.pop("messages")
        system = [m["content"] for m in messages if m.get("role") == "system"]
        body: dict[str, Any] = {"messages": [m for m in messages if m.get("role") != "system"]}
        if system:
            body["system"] = "\n".join(system)
        if "max_tokens" in p:
            body["max_output_tokens"] = p.pop("max_tokens")
        if isinstance(p.get("stop"), str):
            p["stop"] = [p["stop"]]
        body.update(p)
        if stream:
            body["stream"] = True
        url = f"{self.base_url}/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{endpoint}"
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self.signs_requests:
            return HTTPRequest("POST", url, self._signed(url, headers), body)
        return HTTPRequest("POST", url, headers, body,
                           params={"access_token": self.access_token()})

    def _signed(self, url: str, headers: dict[str, str]) -> dict[str, str]:
        """The IAM route: `x-bce-date` and a bce-auth-v1 signature over host, content type
        and date, as the qianfan SDK signs."""
        from . import bce_auth

        self.require_key()
        date = bce_auth.timestamp()
        signed = {**headers, "Content-Type": "application/json", "x-bce-date": date}
        signed["Authorization"] = bce_auth.authorization(
            self._iam_ak, self._iam_sk, "POST", url, signed, date=date)  # type: ignore[arg-type]
        return signed

    # --- responses -------------------------------------------------------------------------
    def raise_for_body(self, data: Any, status: int = 200) -> None:
        if isinstance(data, dict) and data.get("error_code"):
            raise self.error_from(status, data, {})

    @staticmethod
    def _extra(data: dict) -> dict[str, Any]:
        return {k: data[k] for k in ("is_truncated", "need_clear_history", "ban_round",
                                     "flag") if k in data}

    def parse_completion(self, data: Any) -> Completion:
        self.raise_for_body(data)
        u = data.get("usage") or {}
        usage = Usage(u.get("prompt_tokens"), u.get("completion_tokens"),
                      u.get("total_tokens")) if isinstance(u, dict) and u else None
        return Completion(id=data.get("id") or "", created=data.get("created") or 0,
                          choices=[Choice(0, Message("assistant", as_text(data.get("result")) or ""),
                                          data.get("finish_reason") or "stop")],
                          usage=usage, request_id=data.get("id"), provider=self.name, raw=data,
                          extra=self._extra(data))

    def parse_event(self, ev: Event):
        if not ev.data:
            return None
        data = self.event_json(ev.data)
        self.raise_for_body(data)
        u = data.get("usage") or {}
        usage = Usage(u.get("prompt_tokens"), u.get("completion_tokens"),
                      u.get("total_tokens")) if isinstance(u, dict) and u else None
        finish = (data.get("finish_reason") or "stop") if data.get("is_end") else None
        return text_chunk(as_text(data.get("result")) or "", id=data.get("id") or "",
                          finish_reason=finish, usage=usage, raw=data, extra=self._extra(data))

    def error_from(self, status: int, body: Any, headers: Any) -> errors.GLMError:
        if isinstance(body, dict) and "error_code" in body:
            code = int(body.get("error_code") or 0)
            cls = self.error_class(status, str(code))
            return cls(body.get("error_msg") or f"error {code}", provider=self.name,
                       code=str(code), status=status if status >= 400 else None,
                       request_id=body.get("id") or body.get("log_id"))
        return super().error_from(status, body, headers)

    def error_class(self, status: int, code: str | None) -> type[errors.GLMError]:
        c = int(code) if code and code.lstrip("-").isdigit() else None
        if c in RETRY_CODES:
            return RETRY_CODES[c]
        if c in TOKEN_CODES or c in (13, 14, 15):
            return errors.AuthenticationError
        if c in (4, 17, 19):
            return errors.QuotaExceededError
        if c == 6:
            return errors.PermissionDeniedError
        if c == 336003 or c == 336001 or c == 336103:
            return errors.BadRequestError
        if c is not None and c >= 336000:
            return errors.BadRequestError
        return super().error_class(status or 400, code)


def _seconds(value: object, default: float) -> float:
    """A token lifetime from the server: a finite positive number, else the default (a body
    saying `"expires_in": "soon"` must not break the call)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return seconds if 0 < seconds < 1e9 else default
