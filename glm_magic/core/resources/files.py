"""`client.files`: upload, list, delete and download files (the Batch API's input and output),
with the official SDKs' names."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..base_client import BaseClient

MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # Zhipu's published limit for a batch input file


def upload_source(file: Any, default_name: str = "batch.jsonl") -> tuple[str, bytes]:
    """(filename, bytes) from a path, bytes, a (name, bytes) pair or an open binary file;
    `default_name` names bare bytes."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return os.path.basename(os.fspath(file)), f.read(MAX_UPLOAD_BYTES + 1)
    if isinstance(file, (bytes, bytearray)):
        return default_name, bytes(file)
    if isinstance(file, tuple) and len(file) >= 2:
        data = file[1].read() if hasattr(file[1], "read") else file[1]
        return str(file[0]), bytes(data)
    if hasattr(file, "read"):
        return os.path.basename(str(getattr(file, "name", default_name))), file.read()
    raise TypeError("file must be a path, bytes, (filename, bytes) or an open binary file")


class Files:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, file: Any, purpose: str = "batch") -> Any:
        """Upload a file → `FileObject` (`.id` is what `batches.create` takes)."""
        from ... import errors
        from ...types import FileObject

        name, data = upload_source(file)
        if len(data) > MAX_UPLOAD_BYTES:
            raise errors.BadRequestError(
                f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB",
                provider=self._client.provider.name, hint="split the rows over several batches")
        c = self._client
        return c._json(lambda: c.provider.api_request(
            "POST", "files", files={"file": (name, data, "application/jsonl")},
            data={"purpose": purpose}), checked_parser(c, FileObject.from_dict), {"model": ""})

    def list(self, *, purpose: str | None = None, limit: int | None = None,
             after: str | None = None) -> Any:
        from ...types import FileObject

        c = self._client
        params = {k: str(v) for k, v in (("purpose", purpose), ("limit", limit),
                                         ("after", after)) if v is not None}
        return c._json(lambda: c.provider.api_request("GET", "files", params=params),
                       page_parser(c, FileObject.from_dict, lambda last: self.list(
                           purpose=purpose, limit=limit, after=last)), {"model": ""})

    def delete(self, file_id: str) -> Any:
        """Delete a file → `FileDeleted` (`.id`, `.deleted`)."""
        from ...types import FileDeleted

        c = self._client
        return c._json(lambda: c.provider.api_request("DELETE", f"files/{safe_id(file_id)}"),
                       checked_parser(c, FileDeleted.from_dict), {"model": ""})

    def content(self, file_id: str) -> Any:
        """The file's bytes → `FileContent` (`.content`, `.text`, `.write_to_file(path)`)."""
        c = self._client
        return c._raw(lambda: c.provider.api_request("GET", f"files/{safe_id(file_id)}/content"))


def safe_id(value: str) -> str:
    """An id from a server goes into a URL path: only the characters ids are made of."""
    import re

    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,200}", value):
        raise ValueError(f"not a file or batch id: {value!r}")
    return value


def checked_parser(client: Any, make: Any) -> Any:
    def parse(data: Any) -> Any:
        client.provider.raise_for_body(data)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return make(data)
    return parse


def page_parser(client: Any, make: Any, next_page: Any = None) -> Any:
    """A list answer as a `ListPage`; `next_page(after_id)` fetches the following page (on a
    sync client only: an async client's pages are fetched by calling `list(after=...)`)."""
    from ...types import ListPage

    def parse(data: Any) -> Any:
        client.provider.raise_for_body(data)
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise TypeError("no data list")
        return ListPage([make(d) for d in items if isinstance(d, dict)],
                        bool(isinstance(data, dict) and data.get("has_more")),
                        next_page=None if client.is_async else next_page)
    return parse
