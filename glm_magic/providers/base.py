"""What every provider dialect implements. The client owns HTTP, retries and timeouts; a dialect
only says how to build a request, parse a response or stream event, and map an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import errors
from .._json import loads
from .._secrets import SecretDict, mask, secret
from ..sse import Event
from ..types import Chunk, Completion, chunk_from_openai, completion_from_openai

STOP = object()  # returned by a stream parser for the terminator event


@dataclass
class HTTPRequest:
    """What to send. Headers and query parameters carry keys and tokens, so they are
    `SecretDict`s: masked in any repr, including a verbose traceback's frame locals."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] | None = None
    files: Any = None  # multipart uploads (the Batch API's input file)
    data: dict[str, str] | None = None  # form fields sent with `files`

    def __post_init__(self) -> None:
        if not isinstance(self.headers, SecretDict):
            self.headers = SecretDict(self.headers)
        if self.params is not None and not isinstance(self.params, SecretDict):
            self.params = SecretDict(self.params)


@dataclass
class ModelInfo:
    """A model the provider serves: its context window and longest answer (tokens), what it
    does, and where and when those figures were read."""

    name: str
    context: int | None = None
    note: str = ""
    max_output: int | None = None
    kind: str = "text"  # text | vision | image | video | embedding
    thinking: bool = False  # takes thinking={"type": "enabled" | "disabled"}
    source: str = ""
    as_of: str = ""
    # reasoning_effort values the model takes (empty: it takes none), and the one it uses
    # when none is sent
    efforts: tuple[str, ...] = ()
    default_effort: str = ""
    thinking_always: bool = False  # thinks on every call: {"type": "disabled"} is refused


class Provider:
    """Base dialect. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    key_env: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    default_model: ClassVar[str] = ""
    local: ClassVar[bool] = False
    models: ClassVar[tuple[ModelInfo, ...]] = ()
    # the stream ends on its own terminator event ([DONE]); False: the connection close ends it
    needs_terminator: ClassVar[bool] = True
    temperature_range: ClassVar[tuple[float, float]] = (0.0, 2.0)
    pricing_name: ClassVar[str | None] = None  # price rows to use, when not `name`
    # the `response_format` types the API itself accepts; a JSON Schema is otherwise stated
    # in the prompt (see structured.py)
    response_formats: ClassVar[tuple[str, ...]] = ()

    def __init__(self, api_key: str | None = None, base_url: str | None = None,
                 *, base_url_from: str | None = None, **options: Any) -> None:
        """`base_url_from` names a project file the base URL was read from (pyproject.toml):
        a key is sent there only when it came from the same place."""
        from ..config import env_value, source_of

        self._api_key = secret(api_key or env_value(self.key_env))
        # where the key and the base URL came from: 'code', 'environment' or a file path
        self.key_source = "code" if api_key else source_of(self.key_env)
        env_url = env_value(self.base_url_env)
        if base_url:
            self.base_url_source = base_url_from or "code"
        elif env_url:
            self.base_url_source = source_of(self.base_url_env)
        else:
            self.base_url_source = "default"
        self.base_url = (base_url or env_url or self.default_base_url).rstrip("/")
        self.options = options
        # `fetch(method, url, **httpx_kwargs) -> (status, body)`: a bounded one-shot request,
        # given by the client that sends for this provider, so that requests the provider makes
        # itself (a token fetch) keep the client's timeout, deadline and size caps
        self.fetch: Any = None
        self.chosen_by_default = False  # True when no provider was named and this one fell due

    def credential_envs(self) -> tuple[str, ...]:
        """The environment variables this provider's credentials and base URL come from."""
        return tuple(v for v in (self.key_env, self.base_url_env) if v)

    @property
    def masked_key(self) -> str:
        """The key as it may be shown: its first and last characters, or nothing."""
        return mask(self._api_key)

    def describe_key(self) -> str:
        """`ZHIPUAI_API_KEY from /home/me/proj/.env (abc…wxyz)`, for error messages."""
        where = {"code": "api_key=", "environment": f"{self.key_env} from the environment"
                 }.get(self.key_source, f"{self.key_env} from {self.key_source}")
        return f"{where} ({mask(self._api_key)})"

    def check_destination(self) -> None:
        """Refuse to send a key to a base URL that a project file set, unless the key came
        from that same file: a cloned project must not redirect the user's own key."""
        src = self.base_url_source
        if src in ("default", "code", "environment") or not self._api_key:
            return
        if src == self.key_source or self.base_url == self.default_base_url:
            return
        env = self.base_url_env or "the base URL"
        raise errors.ConfigurationError(
            f"refusing to send {self.describe_key()} to {self.base_url}, which {src} set",
            provider=self.name,
            hint=f"if you trust that host, set {env} in your environment, pass base_url= to "
                 "Client(...), or set it with %config GLMMagics.providers")

    def pricing_key(self) -> str:
        """Whose price rows bill this provider's calls (presets bill like their vendor)."""
        return self.pricing_name or self.name

    # --- credentials -------------------------------------------------------------------
    def require_credentials(self) -> None:
        """Raise ConfigurationError (with how to fix it) when a call could not authenticate."""
        self.require_key()

    @property
    def has_key(self) -> bool:
        """Whether a key was given or found (its value is never exposed here)."""
        return bool(self._api_key)

    def require_key(self) -> str:
        self.check_destination()
        if not self._api_key:
            env = f"set {self.key_env} (environment or .env)" if self.key_env else "pass api_key="
            raise errors.ConfigurationError(
                f"no API key for provider {self.name!r}", provider=self.name,
                hint=f"{env}, or pass api_key= to Client(...)")
        return self._api_key

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r} key={mask(self._api_key)}>"

    # --- request -------------------------------------------------------------------------
    def http_transport(self) -> Any:
        """An httpx transport that answers in-process (the local model); None: the network."""
        return None

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_key()}"}

    def prepare(self, params: dict[str, Any], stream: bool) -> HTTPRequest:
        body = {k: v for k, v in params.items() if v is not None}
        if stream:
            body["stream"] = True
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        headers.update(self.auth_headers())
        return HTTPRequest("POST", f"{self.base_url}/chat/completions", headers, body)

    def validate(self, params: dict[str, Any]) -> None:
        """Check the provider's documented limits before anything is sent."""

    # --- responses -----------------------------------------------------------------------
    def parse_completion(self, data: Any) -> Completion:
        self.raise_for_body(data)
        return completion_from_openai(data, self.name)

    def raise_for_body(self, data: Any, status: int = 200) -> None:
        """Some APIs put errors in a 200 body; raise them here."""
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise self.error_from(status or 400, data, {})

    def event_json(self, data: str) -> dict[str, Any]:
        """The JSON object of one stream event; anything else is a ProtocolError."""
        try:
            obj = loads(data)
        except ValueError as exc:
            raise errors.ProtocolError(f"malformed JSON in stream event: {data[:80]!r}",
                                       provider=self.name) from exc
        if not isinstance(obj, dict):
            raise errors.ProtocolError(f"stream event is not a JSON object: {data[:80]!r}",
                                       provider=self.name)
        return obj

    def parse_event(self, ev: Event) -> Chunk | object | None:
        """One SSE event → a Chunk, STOP at the terminator, None to skip."""
        data = ev.data
        if data == "[DONE]":
            return STOP
        if not data:
            return None
        obj = self.event_json(data)
        if ev.event == "error" or "error" in obj:
            raise self.error_from(0, obj, {})
        return chunk_from_openai(obj)

    # --- embeddings ------------------------------------------------------------------------
    # (inputs per request, tokens per input) by model; `None` for models not listed
    embedding_limits: ClassVar[dict[str, tuple[int, int]]] = {}
    default_embedding_model: ClassVar[str] = ""

    def embedding_limit(self, model: str) -> tuple[int, int]:
        """Documented maximum inputs per request and tokens per input (defaults: 64, 8192)."""
        return self.embedding_limits.get(model, (64, 8192))

    def embedding_note(self, model: str) -> str | None:
        """Something the user should know about this model's vectors (None: nothing)."""
        return None

    def embedding_request(self, params: dict[str, Any]) -> HTTPRequest:
        """POST /embeddings in the OpenAI shape (Zhipu, OpenAI-compatible servers, local)."""
        return HTTPRequest("POST", f"{self.base_url}/embeddings",
                           {"Accept": "application/json", **self.auth_headers()}, params)

    def parse_embeddings(self, data: Any) -> Any:
        from ..types import embeddings_from_openai

        self.raise_for_body(data)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise errors.ProtocolError("the embeddings answer has no data list",
                                       provider=self.name)
        return embeddings_from_openai(data)

    counts_tokens: ClassVar[bool] = False  # has a tokenizer endpoint (exact counts)
    # the Batch API (files + batches, OpenAI's shape): the path each JSONL line names, and the
    # endpoint a job is created for
    supports_batches: ClassVar[bool] = False
    batch_line_url: ClassVar[str] = "/v1/chat/completions"
    batch_endpoint: ClassVar[str] = "/v1/chat/completions"

    def api_request(self, method: str, path: str, *, json: Any = None,
                    params: dict[str, str] | None = None, files: Any = None,
                    data: dict[str, str] | None = None) -> HTTPRequest:
        """A request to `base_url/path` of the files and batches APIs."""
        if not self.supports_batches:
            raise self._unsupported("files and batches API")
        return HTTPRequest(method, f"{self.base_url}/{path}",
                           {"Accept": "application/json", **self.auth_headers()}, json, params,
                           files, data)

    def tokenizer_request(self, params: dict[str, Any]) -> HTTPRequest:
        """`POST /tokenizer` with model and messages (Zhipu's API; the local model too)."""
        if not self.counts_tokens:
            raise self._unsupported("tokenizer endpoint")
        return HTTPRequest("POST", f"{self.base_url}/tokenizer",
                           {"Accept": "application/json", **self.auth_headers()}, params)

    def parse_token_count(self, data: Any) -> Any:
        from ..types import TokenCount, count

        self.raise_for_body(data)
        usage = data.get("usage") if isinstance(data, dict) else None
        if not isinstance(usage, dict) or "prompt_tokens" not in usage:
            raise errors.ProtocolError("the tokenizer answer has no usage.prompt_tokens",
                                       provider=self.name)
        return TokenCount(count(usage["prompt_tokens"]), str(data.get("model") or ""),
                          str(data.get("id") or ""), data.get("request_id"), data)

    # --- beyond chat (Zhipu) -----------------------------------------------------------------
    def _unsupported(self, what: str) -> errors.ConfigurationError:
        return errors.ConfigurationError(f"provider {self.name!r} has no {what}",
                                         provider=self.name, hint="use provider zhipu")

    def async_submit(self, params: dict[str, Any]) -> HTTPRequest:
        raise self._unsupported("asynchronous tasks")

    def async_result(self, task_id: str) -> HTTPRequest:
        raise self._unsupported("asynchronous tasks")

    def parse_task(self, data: Any) -> Completion:
        raise self._unsupported("asynchronous tasks")

    def image_request(self, params: dict[str, Any]) -> HTTPRequest:
        raise self._unsupported("image generation")

    def parse_images(self, data: Any) -> Any:
        raise self._unsupported("image generation")

    # --- errors --------------------------------------------------------------------------
    def error_from(self, status: int, body: Any, headers: Any) -> errors.GLMError:
        """Map an HTTP status + parsed error body to our exception tree."""
        code, message = None, ""
        if isinstance(body, dict):
            err = body.get("error", body)
            if isinstance(err, dict):
                code = err.get("code")
                message = err.get("message") or err.get("msg") or ""
            else:
                message = str(err)
        elif isinstance(body, str):
            message = body_summary(body)
        rid = header(headers, "x-request-id") or header(headers, "x-log-id")
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            rid = body["error"].get("request_id") or body.get("request_id") or rid
        cls = self.error_class(status, None if code is None else str(code))
        return cls(message or f"HTTP {status}", provider=self.name, code=code,
                   status=status or None, request_id=rid)

    def error_class(self, status: int, code: str | None) -> type[errors.GLMError]:
        return class_for_status(status)

    def is_retryable(self, err: errors.GLMError) -> bool:
        if isinstance(err, errors.QuotaExceededError):
            return False
        return err.retryable or err.status in (408, 409, 429) or (err.status or 0) >= 500

    def on_auth_failure(self, err: errors.GLMError) -> bool:
        """Return True when credentials were refreshed and the request may be repeated once."""
        return False


def class_for_status(status: int) -> type[errors.GLMError]:
    if status in (401,):
        return errors.AuthenticationError
    if status == 403:
        return errors.PermissionDeniedError
    if status == 404:
        return errors.NotFoundError
    if status == 429:
        return errors.RateLimitError
    if status in (408,):
        return errors.APITimeoutError
    if status >= 500:
        return errors.ServerError
    if status >= 400:
        return errors.BadRequestError
    return errors.GLMError


def header(headers: Any, name: str) -> str | None:
    try:
        return headers.get(name)
    except AttributeError:
        return None


def body_summary(text: str) -> str:
    """A one-line description of a non-JSON error body (an HTML page from a proxy, say)."""
    t = text.strip()
    if t[:1] == "<":
        import re
        title = re.search(r"<title>(.*?)</title>", t, re.S | re.I)
        return ("non-JSON response (an HTML page, likely from a proxy or gateway)"
                + (f": {title.group(1).strip()[:80]}" if title else ""))
    return t[:200]
