"""The Batch API of the loopback Zhipu server: files (multipart upload, content download) and
batches that move validating → in_progress → finalizing → completed one state per poll, or
end as `batch_outcome` says (failed, expired), or cancelled on request."""

from __future__ import annotations

import json
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from .loopback import Received, Reply

STEPS = ("validating", "in_progress", "finalizing", "completed")


def multipart(rec: Received) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name → (filename, bytes)."""
    head = f"Content-Type: {rec.headers.get('content-type', '')}\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + rec.body)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out


class BatchAPI:
    """Mixed into the Zhipu loopback server."""

    files: dict[str, dict[str, Any]]
    batches: dict[str, dict[str, Any]]
    batch_outcome = "completed"  # or "failed", "expired"

    def batch_reply(self, rec: Received, answer_line: Any) -> Reply | None:
        """Answer the files/batches routes (None: not one of them)."""
        path = rec.path.split("/api/paas/v4", 1)[-1]
        parts = path.strip("/").split("/")
        if parts[0] == "files":
            return self._files(rec, parts)
        if parts[0] == "batches":
            return self._batches(rec, parts, answer_line)
        return None

    def _store(self, name: str, data: bytes, purpose: str) -> dict[str, Any]:
        fid = f"file-{uuid.uuid4().hex[:12]}"
        self.files[fid] = {"id": fid, "object": "file", "bytes": len(data),
                           "created_at": int(time.time()), "filename": name,
                           "purpose": purpose, "data": data}
        return self.files[fid]

    @staticmethod
    def _public(f: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in f.items() if k != "data"}

    def _files(self, rec: Received, parts: list[str]) -> Reply:
        if rec.method == "POST" and len(parts) == 1:
            form = multipart(rec)
            if "file" not in form:
                return Reply(400, {"error": {"code": "1214", "message": "file is required"}})
            name, data = form["file"]
            purpose = form.get("purpose", (None, b"batch"))[1].decode()
            return Reply(body=self._public(self._store(name or "upload.jsonl", data, purpose)))
        if len(parts) == 1:
            return Reply(body={"object": "list", "data": [self._public(f) for f in
                                                          self.files.values()]})
        f = self.files.get(parts[1])
        if f is None:
            return Reply(404, {"error": {"code": "1002", "message": "file not found"}})
        if rec.method == "DELETE":
            del self.files[parts[1]]
            return Reply(body={"id": parts[1], "object": "file", "deleted": True})
        if len(parts) == 3 and parts[2] == "content":
            return Reply(body=f["data"], content_type="application/jsonl")
        return Reply(body=self._public(f))

    def _batches(self, rec: Received, parts: list[str], answer_line: Any) -> Reply:
        if rec.method == "POST" and len(parts) == 1:
            body = rec.json or {}
            if body.get("input_file_id") not in self.files:
                return Reply(400, {"error": {"code": "1214", "message": "unknown input file"}})
            bid = f"batch_{uuid.uuid4().hex[:12]}"
            lines = self.files[body["input_file_id"]]["data"].decode().splitlines()
            self.batches[bid] = {
                "id": bid, "object": "batch", "endpoint": body.get("endpoint"),
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window"), "status": "validating",
                "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
                "request_counts": {"total": len([x for x in lines if x.strip()]),
                                   "completed": 0, "failed": 0},
                "metadata": body.get("metadata"), "errors": None,
                "_outcome": self.batch_outcome}
            return Reply(body=self._view(bid))
        if len(parts) == 1:  # a cursor page: the jobs after `after`, at most `limit`
            ids = list(self.batches)
            after = (rec.query.get("after") or [None])[0]
            start = ids.index(after) + 1 if after in ids else 0
            limit = int((rec.query.get("limit") or ["20"])[0])
            page = ids[start:start + limit]
            return Reply(body={"object": "list", "data": [self._view(b) for b in page],
                               "has_more": start + limit < len(ids)})
        job = self.batches.get(parts[1])
        if job is None:
            return Reply(404, {"error": {"code": "1002", "message": "batch not found"}})
        if len(parts) == 3 and parts[2] == "cancel" and rec.method == "POST":
            if job["status"] not in ("completed", "failed", "expired", "cancelled"):
                job["status"] = "cancelling"
            return Reply(body=self._view(parts[1]))
        self._advance(job, answer_line)
        return Reply(body=self._view(parts[1]))

    def _view(self, bid: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def _advance(self, job: dict[str, Any], answer_line: Any) -> None:
        """One state further per poll; the end writes the output and error files."""
        status, outcome = job["status"], job["_outcome"]
        if status == "cancelling":
            self._finish(job, answer_line, "cancelled", share=1 / 3)
        elif status == "validating" and outcome == "failed":
            job["status"] = "failed"
            job["errors"] = {"object": "list", "data": [
                {"code": "invalid_jsonl", "message": "line 1 is not a valid request"}]}
        elif status == "in_progress" and outcome == "expired":
            self._finish(job, answer_line, "expired", share=1 / 2)
        elif status in STEPS[:-1]:
            nxt = STEPS[STEPS.index(status) + 1]
            if nxt == "completed":
                self._finish(job, answer_line, "completed", share=1.0)
            else:
                job["status"] = nxt

    def _finish(self, job: dict[str, Any], answer_line: Any, status: str,
                share: float) -> None:
        lines = [json.loads(x) for x in
                 self.files[job["input_file_id"]]["data"].decode().splitlines() if x.strip()]
        done = lines[:int(len(lines) * share)]
        out, err = [], []
        for req in done:
            line, ok = answer_line(req)
            (out if ok else err).append(json.dumps(line, ensure_ascii=False))
        if out:
            job["output_file_id"] = self._store("output.jsonl", ("\n".join(out) + "\n").encode(),
                                                "batch_output")["id"]
        if err:
            job["error_file_id"] = self._store("errors.jsonl", ("\n".join(err) + "\n").encode(),
                                               "batch_output")["id"]
        job["request_counts"].update(completed=len(out), failed=len(err))
        job["status"] = status
