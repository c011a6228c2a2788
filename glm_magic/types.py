"""OpenAI-shaped response objects, so code written for the official SDKs (`resp.choices[0].message.content`)
works unchanged whichever provider answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

MAX_TOKENS_COUNT = 10**12  # more than any call could use; a larger count is a broken server


def count(value: Any) -> int:
    """A token count from a server: a non-negative int, whatever was sent (`"NaN"`, `2**63`,
    `-500`, a dict → 0 or the cap), so a hostile body can neither crash recording nor
    credit the budget."""
    if isinstance(value, bool):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    if number != number or number <= 0:  # NaN or negative
        return 0
    return int(min(number, MAX_TOKENS_COUNT))


def _dump(value: Any) -> Any:
    if isinstance(value, SDKObject):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


class SDKObject:
    """The idioms users of the official SDKs write: `model_dump()`, `model_dump_json()`,
    `to_dict()`, `to_json()`, and `print(obj)` showing every field (pydantic's `str`)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()  # the wire fields, in the SDK's order

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        out = {name: _dump(getattr(self, name)) for name in self._fields}
        return {k: v for k, v in out.items() if v is not None} if exclude_none else out

    def model_dump_json(self, *, indent: int | None = None) -> str:
        import json

        return json.dumps(self.model_dump(), ensure_ascii=False, indent=indent, default=str)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    def __str__(self) -> str:
        # repr() of every value: control and bidi characters stay escaped on a terminal
        return " ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)


@dataclass(slots=True)
class Usage(SDKObject):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    estimated: bool = False  # True when we counted because the provider sent nothing
    _fields: ClassVar[tuple[str, ...]] = ("prompt_tokens", "completion_tokens", "total_tokens")

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        out = SDKObject.model_dump(self)
        if self.cached_tokens is not None:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens is not None:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return out

    def __post_init__(self) -> None:
        self.prompt_tokens = count(self.prompt_tokens)
        self.completion_tokens = count(self.completion_tokens)
        self.total_tokens = max(count(self.total_tokens),
                                self.prompt_tokens + self.completion_tokens)
        if self.cached_tokens is not None:  # billed lower: never more than the prompt
            self.cached_tokens = min(count(self.cached_tokens), self.prompt_tokens)
        if self.reasoning_tokens is not None:
            self.reasoning_tokens = min(count(self.reasoning_tokens), self.completion_tokens)

    @classmethod
    def from_openai(cls, data: dict | None) -> Usage | None:
        if not data:
            return None
        if not isinstance(data, dict):
            return None
        details = data.get("prompt_tokens_details")
        cdetails = data.get("completion_tokens_details")
        return cls(
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            total_tokens=data.get("total_tokens"),
            cached_tokens=details.get("cached_tokens") if isinstance(details, dict) else None,
            reasoning_tokens=cdetails.get("reasoning_tokens") if isinstance(cdetails, dict)
            else None,
        )


@dataclass(slots=True)
class FunctionCall(SDKObject):
    name: str = ""
    arguments: str = ""
    _fields: ClassVar[tuple[str, ...]] = ("name", "arguments")


@dataclass(slots=True)
class ToolCall(SDKObject):
    id: str = ""
    type: str = "function"
    function: FunctionCall = field(default_factory=FunctionCall)
    index: int = 0
    _fields: ClassVar[tuple[str, ...]] = ("id", "type", "function", "index")

    @classmethod
    def from_dict(cls, data: dict) -> ToolCall:
        fn = data.get("function") or {}
        return cls(
            id=data.get("id") or "",
            type=data.get("type") or "function",
            function=FunctionCall(fn.get("name") or "", fn.get("arguments") or ""),
            index=data.get("index") or 0,
        )


@dataclass(slots=True)
class Message(SDKObject):
    role: str = "assistant"
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    _fields: ClassVar[tuple[str, ...]] = ("content", "role", "reasoning_content", "tool_calls")

    def to_dict(self) -> dict[str, Any]:
        """The message as the API expects it back in a conversation (no reasoning)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content or ""}
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": t.id, "type": t.type,
                 "function": {"name": t.function.name, "arguments": t.function.arguments}}
                for t in self.tool_calls
            ]
        return out


@dataclass(slots=True)
class Choice(SDKObject):
    index: int = 0
    message: Message = field(default_factory=Message)
    finish_reason: str | None = None
    _fields: ClassVar[tuple[str, ...]] = ("index", "finish_reason", "message")


@dataclass(slots=True)
class Completion(SDKObject):
    """A finished answer. `raw` keeps the provider's own response for fields we don't model.
    `model_dump()` / `print()` give the SDK's fields; status, cost and timing are ours."""

    id: str = ""
    model: str = ""
    created: int = 0
    choices: list[Choice] = field(default_factory=list)
    usage: Usage | None = None
    request_id: str | None = None
    provider: str = ""
    web_search: list[dict] | None = None
    raw: Any = None
    extra: dict[str, Any] | None = None  # provider-specific flags (need_clear_history, …)
    status: str = "ok"  # ok | error | filtered | interrupted
    latency_s: float | None = None
    ttft_s: float | None = None
    cost: float | None = None
    currency: str | None = None
    cost_status: str | None = None
    error: str | None = None
    attempt: int = 1
    task_status: str | None = None  # async tasks: PROCESSING | SUCCESS | FAIL
    _fields: ClassVar[tuple[str, ...]] = ("id", "object", "created", "model", "choices",
                                          "usage", "request_id")

    @property
    def object(self) -> str:
        return "chat.completion"

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        out = SDKObject.model_dump(self, exclude_none=exclude_none)
        if self.web_search:
            out["web_search"] = self.web_search
        return out

    @property
    def text(self) -> str:
        """The answer text of the first choice ('' when there is none)."""
        if not self.choices:
            return ""
        return self.choices[0].message.content or ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    def __repr__(self) -> str:
        u = self.usage
        tokens = f"{u.prompt_tokens}+{u.completion_tokens} tokens" if u else "no usage"
        preview = self.text[:60].replace("\n", " ")
        return (f"Completion(provider={self.provider!r}, model={self.model!r}, status={self.status!r}, "
                f"finish_reason={self.finish_reason!r}, {tokens}, text={preview!r})")


@dataclass(slots=True)
class Delta(SDKObject):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    _fields: ClassVar[tuple[str, ...]] = ("content", "role", "reasoning_content", "tool_calls")


@dataclass(slots=True)
class ChunkChoice(SDKObject):
    index: int = 0
    delta: Delta = field(default_factory=Delta)
    finish_reason: str | None = None
    _fields: ClassVar[tuple[str, ...]] = ("index", "delta", "finish_reason")


@dataclass(slots=True)
class Chunk(SDKObject):
    """One streamed piece of an answer, shaped like OpenAI's `ChatCompletionChunk`."""

    id: str = ""
    model: str = ""
    created: int = 0
    choices: list[ChunkChoice] = field(default_factory=list)
    usage: Usage | None = None
    request_id: str | None = None
    web_search: list[dict] | None = None
    raw: Any = None
    extra: dict[str, Any] | None = None
    _fields: ClassVar[tuple[str, ...]] = ("id", "object", "created", "model", "choices",
                                          "usage")

    @property
    def object(self) -> str:
        return "chat.completion.chunk"

    @property
    def text(self) -> str:
        if not self.choices:
            return ""
        return self.choices[0].delta.content or ""


def text_chunk(text: str, *, model: str = "", finish_reason: str | None = None,
               usage: Usage | None = None, id: str = "", raw: Any = None,
               reasoning: str | None = None, extra: dict[str, Any] | None = None) -> Chunk:
    """Build a single-choice chunk; used by dialects whose streams carry plain text."""
    return Chunk(id=id, model=model, usage=usage, raw=raw, request_id=id or None, extra=extra,
                 choices=[ChunkChoice(0, Delta(content=text, reasoning_content=reasoning),
                                      finish_reason)])


def chunk_from_openai(data: dict) -> Chunk:
    """Parse an OpenAI/Zhipu-v4 shaped stream chunk (the hot path of every stream)."""
    choices = []
    for c in data.get("choices") or ():
        d = c.get("delta") or _EMPTY
        tcs = d.get("tool_calls")
        text, reasoning = d.get("content"), d.get("reasoning_content")
        if text is not None and text.__class__ is not str:  # odd but valid JSON
            text = as_text(text)
        if reasoning is not None and reasoning.__class__ is not str:
            reasoning = as_text(reasoning)
        choices.append(ChunkChoice(
            c.get("index") or 0,
            Delta(d.get("role"), text, reasoning,
                  [ToolCall.from_dict(t) for t in tcs] if tcs else None),
            c.get("finish_reason")))
    usage = data.get("usage")
    search = data.get("web_search")
    return Chunk(data.get("id") or "", data.get("model") or "", data.get("created") or 0,
                 choices, Usage.from_openai(usage) if usage else None, data.get("request_id"),
                 as_references(search) if search is not None else None, data)


_EMPTY: dict = {}


def as_text(value: Any) -> str | None:
    """Message content as text, whatever valid JSON a server put there: a list of content
    parts gives their text, a number or object its JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p if isinstance(p, str) else str(p.get("text") or "")
                       if isinstance(p, dict) else "" for p in value)
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def as_references(value: Any) -> list[dict] | None:
    """`web_search` results as a list of dicts (a bare string becomes its title)."""
    if not isinstance(value, list):
        return None
    out = [v if isinstance(v, dict) else {"title": v} for v in value
           if isinstance(v, (dict, str))]
    return out or None


def completion_from_openai(data: dict, provider: str = "") -> Completion:
    """Parse an OpenAI/Zhipu-v4 shaped completion body."""
    choices = []
    for c in data.get("choices") or ():
        m = c.get("message") or {}
        tcs = m.get("tool_calls")
        choices.append(Choice(
            c.get("index") or 0,
            Message(m.get("role") or "assistant", as_text(m.get("content")),
                    as_text(m.get("reasoning_content")),
                    [ToolCall.from_dict(t) for t in tcs] if tcs else None),
            c.get("finish_reason"),
        ))
    return Completion(
        id=data.get("id") or "", model=data.get("model") or "", created=data.get("created") or 0,
        choices=choices, usage=Usage.from_openai(data.get("usage")),
        request_id=data.get("request_id") or data.get("id"), provider=provider,
        web_search=as_references(data.get("web_search")), raw=data,
    )


class Accumulator:
    """Folds a stream of chunks into one Completion (text, reasoning, tool calls, usage)."""

    __slots__ = ("id", "model", "created", "request_id", "parts", "reasoning", "tools",
                 "finish_reason", "usage", "web_search", "role", "extra", "size")

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.request_id: str | None = None
        self.parts: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, ToolCall] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.web_search: list[dict] | None = None
        self.role = "assistant"
        self.extra: dict[str, Any] | None = None
        self.size = 0  # characters of text, reasoning and tool arguments so far

    def add(self, chunk: Chunk) -> None:
        if not self.model:  # the first chunk names the answer
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        if chunk.request_id:
            self.request_id = chunk.request_id
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.web_search:
            self.web_search = chunk.web_search
        if chunk.extra:
            self.extra = {**(self.extra or {}), **chunk.extra}
        for c in chunk.choices:
            if c.index:
                continue  # we assemble the first choice; n>1 streams keep raw chunks
            d = c.delta
            if d.content:
                text = d.content if isinstance(d.content, str) else str(d.content)
                self.parts.append(text)
                self.size += len(text)
            if d.reasoning_content:
                text = str(d.reasoning_content)
                self.reasoning.append(text)
                self.size += len(text)
            if d.tool_calls:
                for t in d.tool_calls:
                    cur = self.tools.get(t.index)
                    if cur is None:
                        self.tools[t.index] = ToolCall(t.id, t.type, FunctionCall(
                            t.function.name, t.function.arguments), t.index)
                    else:
                        cur.id = cur.id or t.id
                        cur.function.name = cur.function.name or t.function.name
                        cur.function.arguments += t.function.arguments
                    self.size += len(t.function.arguments or "")
            if c.finish_reason:
                self.finish_reason = c.finish_reason

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def completion(self, provider: str = "") -> Completion:
        msg = Message(self.role, self.text, "".join(self.reasoning) or None,
                      [self.tools[k] for k in sorted(self.tools)] or None)
        return Completion(id=self.id, model=self.model, created=self.created,
                          choices=[Choice(0, msg, self.finish_reason)], usage=self.usage,
                          request_id=self.request_id or self.id or None, provider=provider,
                          web_search=self.web_search, extra=self.extra)


@dataclass(slots=True)
class TokenCount(SDKObject):
    """`client.tokenizer.create(...)`: how many tokens a request's messages are, counted by
    the provider's own tokenizer."""

    prompt_tokens: int = 0
    model: str = ""
    id: str = ""
    request_id: str | None = None
    raw: Any = None
    _fields: ClassVar[tuple[str, ...]] = ("id", "model", "usage")

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, 0, self.prompt_tokens)


@dataclass(slots=True)
class ImageData(SDKObject):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None
    _fields: ClassVar[tuple[str, ...]] = ("url", "b64_json", "revised_prompt")


@dataclass(slots=True)
class ImagesResponse(SDKObject):
    created: int = 0
    data: list[ImageData] = field(default_factory=list)
    model: str = ""
    _fields: ClassVar[tuple[str, ...]] = ("created", "data")
    raw: Any = None
    completion: Any = None  # the call as recorded (cost, latency), set by the session


@dataclass(slots=True)
class Embedding(SDKObject):
    """One vector of `client.embeddings.create(...)`, as the SDKs shape it."""

    index: int
    embedding: list[float]
    object: str = "embedding"
    _fields: ClassVar[tuple[str, ...]] = ("object", "index", "embedding")


@dataclass(slots=True)
class EmbeddingUsage(SDKObject):
    prompt_tokens: int = 0
    total_tokens: int = 0
    _fields: ClassVar[tuple[str, ...]] = ("prompt_tokens", "total_tokens")


@dataclass(slots=True)
class EmbeddingsResponse(SDKObject):
    """`resp.data[i].embedding`, `resp.usage.prompt_tokens`: the official SDKs' shape."""

    data: list[Embedding] = field(default_factory=list)
    model: str = ""
    usage: EmbeddingUsage = field(default_factory=EmbeddingUsage)
    object: str = "list"
    _fields: ClassVar[tuple[str, ...]] = ("object", "data", "model", "usage")
    raw: Any = None
    completion: Any = None  # the call as recorded (cost, latency), set when recorded


def embeddings_from_openai(data: Any, model: str = "") -> EmbeddingsResponse:
    """Parse the OpenAI/Zhipu embeddings body; vectors ordered by their `index`."""
    items = sorted(data.get("data") or [], key=lambda d: d.get("index") or 0)
    u = data.get("usage") or {}
    prompt = count(u.get("prompt_tokens") or u.get("total_tokens") or 0)
    return EmbeddingsResponse(
        [Embedding(int(d.get("index") or i), list(d.get("embedding") or []))
         for i, d in enumerate(items)],
        str(data.get("model") or model), EmbeddingUsage(prompt, max(prompt, count(
            u.get("total_tokens") or 0))), raw=data)


@dataclass(slots=True)
class FileObject(SDKObject):
    """`client.files.create(...)`: an uploaded file (a Batch API input or output)."""

    id: str = ""
    bytes: int = 0
    created_at: int = 0
    filename: str = ""
    purpose: str = ""
    object: str = "file"
    raw: Any = None
    _fields: ClassVar[tuple[str, ...]] = ("id", "object", "bytes", "created_at", "filename",
                                          "purpose")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileObject:
        return cls(str(data.get("id") or ""), count(data.get("bytes")),
                   count(data.get("created_at")), str(data.get("filename") or ""),
                   str(data.get("purpose") or ""), raw=data)


@dataclass(slots=True)
class FileContent:
    """`client.files.content(id)`: the file's bytes (`.content`, `.text`, `.write_to_file`)."""

    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def read(self) -> bytes:
        return self.content

    def write_to_file(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.content)


@dataclass(slots=True)
class BatchRequestCounts(SDKObject):
    total: int = 0
    completed: int = 0
    failed: int = 0
    _fields: ClassVar[tuple[str, ...]] = ("total", "completed", "failed")


@dataclass(slots=True)
class Batch(SDKObject):
    """`client.batches.create/retrieve/cancel(...)`: a Batch API job, as the SDKs shape it."""

    id: str = ""
    status: str = ""
    endpoint: str = ""
    input_file_id: str = ""
    output_file_id: str | None = None
    error_file_id: str | None = None
    completion_window: str = ""
    created_at: int = 0
    request_counts: BatchRequestCounts = field(default_factory=BatchRequestCounts)
    metadata: dict[str, Any] | None = None
    errors: Any = None
    object: str = "batch"
    raw: Any = None
    _fields: ClassVar[tuple[str, ...]] = (
        "id", "object", "endpoint", "input_file_id", "completion_window", "status",
        "output_file_id", "error_file_id", "created_at", "request_counts", "metadata", "errors")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        rc = data.get("request_counts") if isinstance(data.get("request_counts"), dict) else {}
        return cls(str(data.get("id") or ""), str(data.get("status") or ""),
                   str(data.get("endpoint") or ""), str(data.get("input_file_id") or ""),
                   data.get("output_file_id") or None, data.get("error_file_id") or None,
                   str(data.get("completion_window") or ""), count(data.get("created_at")),
                   BatchRequestCounts(count(rc.get("total")), count(rc.get("completed")),
                                      count(rc.get("failed"))),
                   data.get("metadata") if isinstance(data.get("metadata"), dict) else None,
                   data.get("errors"), raw=data)


@dataclass(slots=True)
class ListPage(SDKObject):
    """A list answer (`client.batches.list()`, `client.files.list()`): `.data`, iterable."""

    data: list[Any] = field(default_factory=list)
    has_more: bool = False
    object: str = "list"
    _fields: ClassVar[tuple[str, ...]] = ("object", "data", "has_more")

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
