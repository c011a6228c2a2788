"""The other API surfaces' objects: token counts, images, embeddings, files, batches and
list pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import SDKObject, count
from .chat import Usage


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
    """The SDKs' usage of an embedding call (`completion_tokens` is always 0)."""

    prompt_tokens: int = 0
    total_tokens: int = 0
    completion_tokens: int = 0
    _fields: ClassVar[tuple[str, ...]] = ("prompt_tokens", "completion_tokens", "total_tokens")


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


def _vector(value: Any) -> list[Any]:
    """The parsed list itself (a copy of every vector cost 17 µs a text), else a list."""
    return value if type(value) is list else list(value or [])


def embeddings_from_openai(data: Any, model: str = "") -> EmbeddingsResponse:
    """Parse the OpenAI/Zhipu embeddings body; vectors ordered by their `index`."""
    items = sorted(data.get("data") or [], key=lambda d: d.get("index") or 0)
    u = data.get("usage") or {}
    prompt = count(u.get("prompt_tokens") or u.get("total_tokens") or 0)
    return EmbeddingsResponse(
        [Embedding(int(d.get("index") or i), _vector(d.get("embedding")))
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
class FileDeleted(SDKObject):
    """`client.files.delete(id)`: `.deleted` is True when the server removed the file."""

    id: str = ""
    deleted: bool = False
    object: str = "file"
    raw: Any = None
    _fields: ClassVar[tuple[str, ...]] = ("id", "deleted", "object")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileDeleted:
        return cls(str(data.get("id") or ""), data.get("deleted") is True,
                   str(data.get("object") or "file"), raw=data)


@dataclass(slots=True)
class FileContent:
    """`client.files.content(id)`: the file's bytes (`.content`, `.text`, `.write_to_file`)."""

    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def read(self) -> bytes:
        return self.content

    def json(self) -> Any:
        """The bytes as JSON (the file parser's result is a JSON object)."""
        import json

        return json.loads(self.content)

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
    # `next_page(after_id)` fetches the following page (set on a sync client's answers)
    next_page: Any = field(default=None, repr=False, compare=False)
    _fields: ClassVar[tuple[str, ...]] = ("object", "data", "has_more")

    def has_next_page(self) -> bool:
        """Whether `get_next_page()` can ask for more: as in the SDKs' cursor pages, any
        non-empty page whose last item has an id (the server's `has_more` is in `.has_more`;
        the SDKs do not consult it, and iterating ends at the first empty page)."""
        last = self.data[-1] if self.data else None
        return bool(self.next_page is not None and getattr(last, "id", None))

    def get_next_page(self) -> ListPage:
        if not self.has_next_page():
            raise RuntimeError("no next page; check .has_next_page() before .get_next_page()")
        return self.next_page(self.data[-1].id)

    def iter_pages(self) -> Any:
        """This page, then each following one, as the SDKs' cursor pages do — stopping, unlike
        them, when a server ignores the cursor and sends an item already seen (which would
        otherwise loop for ever)."""
        page, seen = self, set()
        while True:
            yield page
            seen.update(getattr(item, "id", None) for item in page.data)
            if not page.has_next_page():
                return
            page = page.get_next_page()
            if any(getattr(item, "id", None) in seen for item in page.data):
                return

    def __iter__(self) -> Any:
        """Every item, across pages (the SDKs' `for item in page`)."""
        for page in self.iter_pages():
            yield from page.data

    def __len__(self) -> int:
        return len(self.data)


class APIObject(SDKObject):
    """An answer whose fields are the server's own (web search, the reader, moderation):
    attribute access over its JSON as in the SDKs (`resp.search_result[0].title`),
    `model_dump()` gives the JSON back. A field the server did not send is None."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _as_api_value(self._data.get(name))

    def __getitem__(self, name: str) -> Any:
        return _as_api_value(self._data[name])

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]:
        import copy

        out = copy.deepcopy(self._data)
        return {k: v for k, v in out.items() if v is not None} if exclude_none else out

    def __str__(self) -> str:
        return " ".join(f"{k}={_as_api_value(v)!r}" for k, v in self._data.items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._data)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, APIObject) and other._data == self._data

    __hash__ = None  # type: ignore[assignment]


def _as_api_value(value: Any) -> Any:
    if isinstance(value, dict):
        return APIObject(value)
    if isinstance(value, list):
        return [_as_api_value(v) for v in value]
    return value
