"""Chat completions and their stream chunks, OpenAI-shaped, and the accumulator that turns
chunks back into one answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import SDKObject, count


@dataclass(slots=True)
class TokenDetails(SDKObject):
    """A usage breakdown (`prompt_tokens_details`, `completion_tokens_details`)."""

    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    _fields: ClassVar[tuple[str, ...]] = ("cached_tokens", "reasoning_tokens")

    def model_dump(self, *, exclude_none: bool = True) -> dict[str, Any]:
        return {k: v for k, v in (("cached_tokens", self.cached_tokens),
                                  ("reasoning_tokens", self.reasoning_tokens)) if v is not None}


@dataclass(slots=True)
class Usage(SDKObject):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    estimated: bool = False  # True when we counted because the provider sent nothing
    _fields: ClassVar[tuple[str, ...]] = ("prompt_tokens", "completion_tokens", "total_tokens")
    _shown_fields: ClassVar[tuple[str, ...] | None] = (
        "prompt_tokens", "prompt_tokens_details", "completion_tokens",
        "completion_tokens_details", "total_tokens")

    @property
    def prompt_tokens_details(self) -> TokenDetails | None:
        """`usage.prompt_tokens_details.cached_tokens`, as the SDKs spell it."""
        return None if self.cached_tokens is None else TokenDetails(self.cached_tokens)

    @property
    def completion_tokens_details(self) -> TokenDetails | None:
        """`usage.completion_tokens_details.reasoning_tokens`."""
        return None if self.reasoning_tokens is None else TokenDetails(
            reasoning_tokens=self.reasoning_tokens)

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
    _fields: ClassVar[tuple[str, ...]] = ("arguments", "name")  # the SDKs' order


@dataclass(slots=True)
class ToolCall(SDKObject):
    id: str = ""
    type: str = "function"
    function: FunctionCall = field(default_factory=FunctionCall)
    index: int | None = None
    # a server-side MCP tool's step (`type == "mcp"`): mcp_list_tools or mcp_call, with its
    # server_label, name, arguments, output or error, as the server sent it
    mcp: dict[str, Any] | None = None
    # the SDKs' fields of an answer's tool call, `index` and `mcp` only when the server sent
    # them: code sends a message back as `model_dump()`, so an invented field would go on the
    # wire
    _fields: ClassVar[tuple[str, ...]] = ("id", "function", "type", "index", "mcp")

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        out = SDKObject.model_dump(self, exclude_none=exclude_none)
        for sent_only in ("index", "mcp"):
            if getattr(self, sent_only) is None:
                out.pop(sent_only, None)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ToolCall:
        fn = data.get("function") or {}
        index, mcp = data.get("index"), data.get("mcp")
        return cls(
            id=data.get("id") or "",
            type=data.get("type") or "function",
            function=FunctionCall(fn.get("name") or "", fn.get("arguments") or ""),
            index=index if isinstance(index, int) else None,
            mcp=dict(mcp) if isinstance(mcp, dict) else None,
        )


@dataclass(slots=True)
class DeltaToolCall(ToolCall):
    """A streamed piece of a tool call. As in the SDKs, what a piece does not carry is None
    (the pieces after the first hold only `index` and more `arguments`)."""

    _fields: ClassVar[tuple[str, ...]] = ("index", "id", "function", "type", "mcp")

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        out = SDKObject.model_dump(self, exclude_none=exclude_none)
        if self.mcp is None:
            out.pop("mcp", None)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> DeltaToolCall:
        fn = data.get("function") or {}
        mcp = data.get("mcp")
        return cls(id=data.get("id"), type=data.get("type"),
                   function=FunctionCall(fn.get("name"), fn.get("arguments")),
                   index=data.get("index") or 0,
                   mcp=dict(mcp) if isinstance(mcp, dict) else None)


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
        calls = [t for t in self.tool_calls or () if t.mcp is None]  # MCP steps ran on the
        if calls:                                                     # server: not sent back
            out["tool_calls"] = [
                {"id": t.id, "type": t.type,
                 "function": {"name": t.function.name, "arguments": t.function.arguments}}
                for t in calls
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
    cached: bool = False  # answered by the response cache: nothing was sent
    saved: float | None = None  # what the cached answer would have cost (in `currency`)
    units: int | None = None  # a call priced per item (a web search): how many it bought
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
    def mcp_calls(self) -> list[dict[str, Any]]:
        """The server-side MCP steps of the answer (`tools=[{"type": "mcp", ...}]`): each an
        `mcp_list_tools` or `mcp_call` dict with server_label, name, arguments, output."""
        msg = self.choices[0].message if self.choices else None
        return [t.mcp for t in (msg.tool_calls or ()) if t.mcp is not None] if msg else []

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
class AsyncTaskStatus(Completion):
    """A submitted async task (`chat.asyncCompletions.create`): `id`, `task_status`, printed
    and dumped with the SDKs' fields only."""

    _fields: ClassVar[tuple[str, ...]] = ("id", "request_id", "model", "task_status")


@dataclass(slots=True)
class AsyncCompletion(Completion):
    """An async task's result (`retrieve_completion_result`): the SDKs' fields, `choices` and
    `usage` once it succeeded."""

    _fields: ClassVar[tuple[str, ...]] = ("id", "request_id", "created", "model",
                                          "task_status", "choices", "usage")


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
                  [DeltaToolCall.from_dict(t) for t in tcs] if tcs else None),
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
                        self.tools[t.index] = ToolCall(t.id or "", t.type or "function",
                                                       FunctionCall(t.function.name or "",
                                                                    t.function.arguments or ""),
                                                       t.index, t.mcp)
                    else:
                        if t.mcp is not None:  # an MCP step's later pieces add its output
                            cur.mcp = {**(cur.mcp or {}), **t.mcp}
                        cur.id = cur.id or t.id or ""
                        cur.function.name = cur.function.name or t.function.name or ""
                        cur.function.arguments += t.function.arguments or ""
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
