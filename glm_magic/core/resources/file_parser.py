"""`client.file_parser`: Zhipu's document parser (PDF, Word, Excel, PowerPoint, images, text)
with the SDKs' names — `create(file=, file_type=, tool_type=)` submits a parsing task (POST
/files/parser/create, one ledger row priced per document under `file-parser-<tool_type>`),
`content(task_id, format_type="text")` fetches its result (free, as polling is), and
`create_sync(...)` parses in one call (POST /files/parser/sync). `parse(path)` does the whole
round — submit, poll until the task ends — and returns the text, which is what `%glm parse`
uses."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .files import MAX_UPLOAD_BYTES, checked_parser, safe_id, upload_source
from .sdk_options import split_call_options, with_call_options

if TYPE_CHECKING:
    from ..base_client import BaseClient

_LITE = ("pdf", "docx", "doc", "xls", "xlsx", "ppt", "pptx", "png", "jpg", "jpeg", "csv", "txt",
         "md")
FILE_TYPES = {  # what each parsing tool reads, from the API reference of /files/parser/create
    "lite": _LITE,
    "expert": ("pdf",),
    "prime": _LITE + ("html", "bmp", "gif", "webp", "heic", "eps", "icns", "im", "pcx", "ppm",
                      "tiff", "xbm", "heif", "jp2"),
}
TOOL_TYPES = tuple(FILE_TYPES)
POLL_S = 1.0  # between result polls; the parser takes seconds to minutes per document
PARSE_TIMEOUT_S = 600.0


def file_type_of(name: str, tool_type: str = "prime") -> str:
    """The parser's `file_type` from a file name (`report.pdf` → `PDF`), checked against
    what `tool_type` reads."""
    suffix = os.path.splitext(name)[1].lstrip(".").lower()
    readable = FILE_TYPES.get(tool_type.removesuffix("-sync"), FILE_TYPES["prime"])
    if suffix not in readable:
        raise ValueError(f"{os.path.basename(name)}: the {tool_type} parser reads "
                         f"{', '.join(readable)} files, not "
                         f"{suffix or 'a file without a suffix'}")
    return suffix.upper()


class FileParser:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def _submit(self, path: str, file: Any, file_type: str | None, tool_type: str,
                params: dict[str, Any]) -> Any:
        from ... import errors
        from ...types import APIObject

        c = self._client
        name, data = upload_source(file, "document")
        if len(data) > MAX_UPLOAD_BYTES:
            raise errors.BadRequestError(
                f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB",
                provider=c.provider.name, hint="split the document, or parse its pages")
        fields, options = split_call_options(
            {"file_type": file_type or file_type_of(name, tool_type), "tool_type": tool_type},
            params)
        form = {k: v if isinstance(v, str) else str(v) for k, v in fields.items()}
        build = with_call_options(lambda: c.provider.api_request(
            "POST", path, files={"file": (name, data, "application/octet-stream")},
            data=form), options)
        return c.recorded_json(build, checked_parser(c, APIObject), {"model": ""},
                               f"file-parser-{tool_type}")

    def create(self, *, file: Any, file_type: str | None = None, tool_type: str,
               **params: Any) -> Any:
        """Submit a document → `task_id`, `message`, `success`. `file`: a path, bytes, a
        (name, bytes) pair or an open binary file; `file_type` defaults to its suffix."""
        if not file:
            raise ValueError("At least one `file` must be provided.")
        return self._submit("files/parser/create", file, file_type, tool_type, params)

    def create_sync(self, *, file: Any, file_type: str | None = None,
                    tool_type: str = "prime-sync", **params: Any) -> Any:
        """Parse in one call → `task_id`, `status`, `content`, `parsing_result_url`."""
        if not file:
            raise ValueError("At least one `file` must be provided.")
        return self._submit("files/parser/sync", file, file_type, tool_type, params)

    def content(self, task_id: str, *, format_type: str = "text", **params: Any) -> Any:
        """The task's result as the server sent it (`.json()`: `status` processing |
        succeeded | failed, `content` for text, `parsing_result_url` for download_link)."""
        if not task_id:
            raise ValueError(f"Expected a non-empty value for `task_id` but received {task_id!r}")
        c = self._client
        options = split_call_options({}, params)[1]
        options["headers"] = {"Accept": "application/binary", **options["headers"]}
        return c._raw(with_call_options(lambda: c.provider.api_request(
            "GET", f"files/parser/result/{safe_id(task_id)}/{safe_id(format_type)}"),
            options))

    def parse(self, file: Any, *, tool_type: str = "lite", file_type: str | None = None,
              timeout_s: float = PARSE_TIMEOUT_S, poll_s: float = POLL_S) -> str:
        """Submit `file`, wait for the parser, return the document's text (sync clients).
        A failed task or one still running after `timeout_s` is a one-line error."""
        from ... import errors

        if self._client.is_async:
            raise TypeError("parse() waits for the result: use it on a Client")
        c = self._client
        task = self.create(file=file, file_type=file_type, tool_type=tool_type)
        if not task.task_id:
            raise errors.ProtocolError(f"the file parser gave no task id: {task.message}",
                                       provider=c.provider.name)
        until = time.monotonic() + timeout_s
        while True:
            result = self.content(task.task_id, format_type="text").json()
            status = str(result.get("status") or "") if isinstance(result, dict) else ""
            if status == "succeeded":
                return str(result.get("content") or "")
            if status == "failed":
                raise errors.BadRequestError(
                    f"the file parser could not read the document: {result.get('message')}",
                    provider=c.provider.name, hint="check the file opens, or try "
                    "tool_type='expert'")
            if time.monotonic() + poll_s > until:
                raise errors.APITimeoutError(
                    f"the file parser was still working after {timeout_s:.0f} s",
                    provider=c.provider.name,
                    hint=f"fetch it later with client.file_parser.content({task.task_id!r})")
            time.sleep(poll_s)
