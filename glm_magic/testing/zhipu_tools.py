"""The loopback Zhipu server's search agent and file parser: `POST /tools` (web-search-pro:
intent, results and recommended queries as the message's tool calls, JSON or SSE) and the
parser's routes (`/files/parser/create`, `/files/parser/result/{task}/{format}`,
`/files/parser/sync`), which read the text out of real .docx, .xlsx, .pdf and text files.
`sample_docx()` writes a small Word file for tutorials and tests."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
import zipfile
from io import BytesIO
from typing import Any
from xml.etree import ElementTree

from .batches import multipart
from .loopback import Received, Reply, sse

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _error(code: str, message: str, status: int = 400) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def search_steps(query: str, n: int = 3) -> list[dict[str, Any]]:
    """web-search-pro's three tool calls for `query`: intent, results, recommendations."""
    return [
        {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "search_intent", "search_intent": [
            {"category": "", "index": 0, "intent": "SEARCH_ALL", "keywords": query,
             "query": query}]},
        {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "search_result", "search_result": [
            {"index": 0, "title": f"{query} — result {i + 1}",
             "link": f"https://example.com/search/{i + 1}",
             "content": f"What page {i + 1} says about {query}.", "icon": "",
             "media": "example.com", "refer": f"ref_{i + 1}"} for i in range(n)]},
        {"id": f"call_{uuid.uuid4().hex[:8]}", "type": "search_recommend",
         "search_recommend": [{"index": 0, "query": f"{query} latest"}]},
    ]


def _last_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list) and messages:
        last = messages[-1]
        return str(last.get("content") if isinstance(last, dict) else last)
    return ""


def search_agent_reply(rec: Received) -> Reply:
    body = rec.json or {}
    query = _last_text(body.get("messages"))
    if not query or not body.get("model"):
        return _error("1214", "model and messages are required")
    rid = f"req-{uuid.uuid4().hex[:8]}"
    steps = search_steps(query)
    usage = {"prompt_tokens": 12, "completion_tokens": 0, "total_tokens": 12}
    if body.get("stream"):
        frames = [{"id": rid, "created": 1, "choices": [{"index": 0, "delta": {
            "role": "tool", "tool_calls": [{"index": i, **step}]}}]}
            for i, step in enumerate(steps)]
        frames.append({"id": rid, "created": 1, "choices": [
            {"index": 0, "finish_reason": "stop", "delta": {"role": "tool"}}],
            "usage": usage})
        return Reply(events=sse(*frames))
    return Reply(body={"id": rid, "request_id": rid, "created": int(time.time()),
                       "choices": [{"index": 0, "finish_reason": "stop", "message": {
                           "role": "tool", "tool_calls": steps}}], "usage": usage})


def mcp_steps(body: dict[str, Any], query: str) -> list[dict[str, Any]]:
    """What the server's MCP client did for a chat call with `{"type": "mcp"}` tools: list
    each server's tools, then call the first allowed one with the question."""
    steps: list[dict[str, Any]] = []
    for i, tool in enumerate(t for t in body.get("tools") or () if t.get("type") == "mcp"):
        spec = tool.get("mcp") or {}
        label = str(spec.get("server_label") or "")
        name = (spec.get("allowed_tools") or ["search"])[0]
        steps.append({"id": f"mcp_{i}_list", "type": "mcp", "index": 2 * i, "mcp": {
            "id": f"mcp_{i}_list", "type": "mcp_list_tools", "server_label": label,
            "tools": [{"name": name, "description": f"{name} on {label}",
                       "input_schema": {"type": "object"}}]}})
        steps.append({"id": f"mcp_{i}_call", "type": "mcp", "index": 2 * i + 1, "mcp": {
            "id": f"mcp_{i}_call", "type": "mcp_call", "server_label": label, "name": name,
            "arguments": json.dumps({"query": query}, ensure_ascii=False),
            "output": f"{label} found: {query}"}})
    return steps


def document_text(name: str, data: bytes) -> str:
    """The text of a document the way a parser would give it: paragraphs of a .docx, rows of
    an .xlsx (cells tab-separated), the strings shown by a .pdf, anything else as UTF-8."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "docx":
        root = ElementTree.fromstring(zipfile.ZipFile(BytesIO(data)).read("word/document.xml"))
        return "\n".join("".join(t.text or "" for t in p.iter(f"{W}t"))
                         for p in root.iter(f"{W}p"))
    if suffix == "xlsx":
        return _xlsx_text(zipfile.ZipFile(BytesIO(data)))
    if suffix == "pdf":
        return _pdf_text(data)
    return data.decode("utf-8", "replace")


def _xlsx_text(book: zipfile.ZipFile) -> str:
    shared: list[str] = []
    if "xl/sharedStrings.xml" in book.namelist():
        root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
        shared = ["".join(t.text or "" for t in si.iter(f"{S}t")) for si in root.iter(f"{S}si")]
    rows = []
    for sheet in sorted(n for n in book.namelist() if n.startswith("xl/worksheets/sheet")):
        for row in ElementTree.fromstring(book.read(sheet)).iter(f"{S}row"):
            cells = []
            for c in row.iter(f"{S}c"):
                v = c.find(f"{S}v")
                text = "".join(t.text or "" for t in c.iter(f"{S}t")) if v is None else v.text
                if c.get("t") == "s" and v is not None:
                    text = shared[int(v.text or 0)]
                cells.append(text or "")
            rows.append("\t".join(cells))
    return "\n".join(rows)


def _pdf_text(data: bytes) -> str:
    import zlib

    streams = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = m.group(1)
        with contextlib.suppress(zlib.error):  # a FlateDecode stream, else as it is
            raw = zlib.decompress(raw)
        streams.append(raw)
    shown = [s for raw in streams for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", raw)]
    return "\n".join(re.sub(rb"\\(.)", rb"\1", s).decode("latin-1") for s in shown)


class FileParserAPI:
    """Mixed into the Zhipu loopback server: tasks finish on their second poll; a document
    whose text says 'unreadable' fails."""

    parser_tasks: dict[str, dict[str, Any]]
    url: str

    def parser_reply(self, rec: Received) -> Reply | None:
        path = rec.path.split("/api/paas/v4", 1)[-1].strip("/")
        if not path.startswith("files/parser/"):
            return None
        parts = path.split("/")
        if rec.method == "POST" and parts[2] in ("create", "sync"):
            form = multipart(rec)
            if "file" not in form or "tool_type" not in form:
                return _error("1214", "file and tool_type are required")
            name, data = form["file"]
            try:
                text = document_text(name or "", data)
            except (zipfile.BadZipFile, KeyError, ElementTree.ParseError):
                text = None
            tid = f"task-{uuid.uuid4().hex[:10]}"
            self.parser_tasks[tid] = {"text": text, "polls": 0,
                                      "tool_type": form["tool_type"][1].decode(),
                                      "file_type": form.get("file_type", (None, b""))[1].decode()}
            if parts[2] == "sync":
                ok = text is not None and "unreadable" not in text
                return Reply(body={"task_id": tid, "message": "ok" if ok else "parse failed",
                                   "status": ok, "content": text if ok else "",
                                   "parsing_result_url": f"{self.url}/files/{tid}.zip"})
            return Reply(body={"task_id": tid, "message": "task created", "success": True})
        if rec.method == "GET" and parts[2] == "result" and len(parts) == 5:
            task = self.parser_tasks.get(parts[3])
            if task is None:
                return _error("1214", f"task {parts[3]} does not exist")
            task["polls"] += 1
            base = {"task_id": parts[3]}
            if task["polls"] < 2:
                return Reply(body={**base, "status": "processing", "message": "parsing"})
            if task["text"] is None or "unreadable" in task["text"]:
                return Reply(body={**base, "status": "failed",
                                   "message": "the document could not be read"})
            if parts[4] == "download_link":
                return Reply(body={**base, "status": "succeeded", "message": "ok",
                                   "parsing_result_url": f"{self.url}/files/{parts[3]}.zip"})
            return Reply(body={**base, "status": "succeeded", "message": "ok",
                               "content": task["text"]})
        return _error("1214", f"no such file parser route: {path}", 404)


def sample_docx(path: str, paragraphs: list[str]) -> str:
    """Write a minimal Word document with these paragraphs (what `%glm parse` reads)."""
    from xml.sax.saxutils import escape

    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(p)}</w:t></w:r></w:p>"
                   for p in paragraphs)
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/><Override '
            'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="word/document.xml"/></Relationships>'),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
            f'openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body>'
            '</w:document>'),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():  # a fixed date: the same paragraphs, the same bytes
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text,
                       compress_type=zipfile.ZIP_DEFLATED)
    return path
