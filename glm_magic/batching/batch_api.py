"""`batch(..., via="batch_api")`: the rows as one job of the provider's Batch API — half the
online price, run by the provider within its completion window, independent of this kernel.
`submit` writes one request per row (a stable `custom_id`), uploads the JSONL file, creates
the job and returns a `BatchJob` at once; the job id and the row mapping go to a small JSON
file (atomically), so `batch_job(path_or_id)` picks the job up in a new kernel or elsewhere."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from ..sanitize import terminal_safe
from .job_files import (
    checked_id,
    jobs_dir,
    read_state,
    safe_name,
    set_aside,
    write_state,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..calls.sessions import Session
    from .plan import Plan

__all__ = ["BatchJob", "BatchNotFinishedError", "batch_job", "checked_id", "dry_run", "job_key",
           "jobs_dir", "request_lines", "submit", "write_state"]
STATE_VERSION = 1
TERMINAL = ("completed", "failed", "expired", "cancelled")
PREVIEW_LINES = 3


def custom_id(position: int, key: str) -> str:
    """Stable per row: its position and a digest of its index label and prompt."""
    return f"r{position}-{key[:12]}"


def request_lines(client: Any, plan: Plan, system: str | None,
                  params: dict[str, Any]) -> list[dict[str, Any]]:
    """One Batch API request per row, in the provider's JSONL shape."""
    from .plan import row_messages

    url = client.provider.batch_line_url
    return [{"custom_id": custom_id(i, key), "method": "POST", "url": url,
             "body": {"model": plan.model, "messages": row_messages(system, text), **params}}
            for i, (key, text) in enumerate(zip(plan.keys, plan.prompts, strict=True))]


def _labels(index: Any) -> list[Any]:
    """Index labels as JSON values (others as their text)."""
    return [v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
            for v in (index.tolist() if hasattr(index, "tolist") else list(index))]


def job_key(plan: Plan, lines: list[dict[str, Any]]) -> str:
    """What makes a job this job: the settings, and every row's id and request. Different rows
    (another DataFrame, another row count) are a different job, never the old one's results."""
    import hashlib

    digest = hashlib.sha256(plan.batch_key.encode())
    for line in lines:
        digest.update(json.dumps(line, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def submit(s: Session, plan: Plan, system: str | None, params: dict[str, Any],
           resume: str | os.PathLike[str] | None = None) -> BatchJob:
    """Upload the rows and start the job, at most once for these rows and settings.

    The job file is written, marked pending, before the job is created, and the job's key
    travels in its `metadata`: a re-run after a crash between the two finds the job it already
    submitted (`batches.list`) instead of paying for a second one. A `resume=` file that holds
    another job (other rows or settings) is moved aside under its job id, and a new job is
    submitted."""
    client = s.client(plan.provider)
    lines = request_lines(client, plan, system, params)
    key = job_key(plan, lines)
    path = Path(resume) if resume else jobs_dir() / f"pending-{key}.json"
    state = read_state(path, pending_ok=True) if path.exists() else None
    if state is not None and state.get("job_key") != key:
        set_aside(path, state)
        state = None
    if state is not None and state.get("id"):
        return BatchJob(state, path, s, plan.index)
    interrupted = state is not None  # a pending file: an earlier submit stopped part way
    state = state or {"version": STATE_VERSION, "id": "", "provider": plan.provider,
                      "model": plan.model, "batch_key": plan.batch_key, "job_key": key,
                      "status": "submitting", "created": time.time(),
                      "custom_ids": [line["custom_id"] for line in lines],
                      "index": _labels(plan.index),
                      "index_name": getattr(plan.index, "name", None), "recorded": False}
    job = _submitted_before(client, key) if interrupted else None
    if job is None:
        if not state.get("input_file_id"):
            data = ("\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
                    + "\n").encode()
            upload = client.files.create(file=(f"glm-magic-{key[:16]}.jsonl", data),
                                         purpose="batch")
            state["input_file_id"] = upload.id
        write_state(path, state)  # pending: a crash from here on is found by its key
        job = client.batches.create(input_file_id=state["input_file_id"],
                                    endpoint=client.provider.batch_endpoint,
                                    metadata={"source": "glm-magic", "rows": str(len(lines)),
                                              "glm_magic_job": key})
    state.update(id=checked_id(job.id), status=job.status)
    if not resume:  # the job file is named by its id, as batch_job(id) looks for it
        final = jobs_dir() / f"{safe_name(job.id)}.json"
        write_state(final, state)
        path.unlink(missing_ok=True)
        path = final
    else:
        write_state(path, state)
    return BatchJob(state, path, s, plan.index)


def _submitted_before(client: Any, key: str) -> Any:
    """The job an earlier, interrupted submit created for `key` (None when there is none)."""
    after = None
    for _ in range(20):  # pages of the provider's recent jobs, newest first
        page = client.batches.list(after=after, limit=100)
        for job in page.data:
            if (job.metadata or {}).get("glm_magic_job") == key:
                return job
        if not page.has_more or not page.data:
            return None
        after = page.data[-1].id
    return None


def batch_job(path_or_id: str | os.PathLike[str], *, provider: str | None = None,
              session: Session | None = None) -> BatchJob:
    """A job submitted earlier: from its job file, or from its id (the file in `jobs_dir()`,
    else the provider alone — rows then come back in submission order, indexed 0..n-1)."""
    from ..calls.sessions import session as default_session

    s = session or default_session()
    path = Path(path_or_id)
    if not path.is_file():
        path = jobs_dir() / f"{safe_name(str(path_or_id))}.json"
    if path.is_file():
        return BatchJob(read_state(path), path, s)
    state = {"version": STATE_VERSION, "id": str(path_or_id),
             "provider": provider or s.resolve()[0], "model": "", "custom_ids": None,
             "index": None, "recorded": False}
    return BatchJob(state, path, s)


class BatchNotFinishedError(errors.GLMError):
    hint = "job.wait() until it ends, or job.status() to see how far it is"


class BatchJob:
    """A Batch API job: `status()`, `wait()`, `result()` (the usual aligned DataFrame),
    `cancel()`. Each row's ledger row (source "batch_api", at the batch price) is written once,
    when the results are first read."""

    def __init__(self, state: dict[str, Any], path: Path, session: Session,
                 index: Any = None) -> None:
        self.state = state
        self.path = path
        self.session = session
        self._index = index
        self.batch: Any = None  # the last Batch object the provider sent

    @property
    def id(self) -> str:
        return self.state["id"]

    def __repr__(self) -> str:
        rows = len(self.state.get("custom_ids") or [])
        return f"BatchJob(id={self.id!r}, status={self.state.get('status')!r}, rows={rows})"

    def _client(self) -> Any:
        return self.session.client(self.state["provider"])

    def _save(self) -> None:
        if self.state.get("custom_ids") is not None:
            write_state(self.path, self.state)

    def status(self) -> str:
        """Ask the provider: validating, in_progress, finalizing, completed, failed, expired,
        cancelling or cancelled."""
        self.batch = self._client().batches.retrieve(self.id)
        self.state["status"] = self.batch.status
        self.state["counts"] = self.batch.request_counts.model_dump()
        self._save()
        return self.batch.status

    def wait(self, *, poll: float = 5.0, timeout: float | None = None,
             progress: bool = True) -> BatchJob:
        """Poll until the job ends (a tqdm bar of rows done); returns the job."""
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(self.state.get("custom_ids") or []) or None,
                       desc=f"batch {terminal_safe(self.id)}", unit="row")
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                status = self.status()
                if bar is not None:
                    counts = self.batch.request_counts
                    bar.total = bar.total or counts.total or None
                    bar.n = counts.completed + counts.failed
                    bar.set_postfix_str(terminal_safe(status))
                    bar.refresh()
                if status in TERMINAL:
                    return self
                if deadline is not None and time.monotonic() + poll > deadline:
                    raise BatchNotFinishedError(
                        f"batch {self.id} is still {status} after {timeout:g} s",
                        provider=self.state["provider"])
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def cancel(self) -> str:
        """Ask the provider to stop; rows already done stay in the results."""
        self.batch = self._client().batches.cancel(self.id)
        self.state["status"] = self.batch.status
        self._save()
        return self.batch.status

    def result(self) -> pd.DataFrame:
        """The rows as `batch()` returns them, aligned with the input: finished rows `ok`,
        failed ones `error` with the provider's message, rows the job never reached carry
        the job's end (`expired`, `cancelled`, `failed`)."""
        import pandas as pd

        from .plan import COLUMNS

        status = self.state.get("status")
        if status not in TERMINAL or self.batch is None:
            status = self.status()
        if status not in TERMINAL:
            raise BatchNotFinishedError(f"batch {self.id} is still {status}",
                                        provider=self.state["provider"])
        answers = self._read(self.batch.output_file_id) + self._read(self.batch.error_file_id)
        by_id = {a.get("custom_id"): a for a in answers if isinstance(a, dict)}
        ids = self.state.get("custom_ids") or sorted(by_id, key=_position)
        provider = self._client().provider
        rows = [self._row(by_id.get(cid), status, provider) for cid in ids]
        self._price(ids, rows)
        frame = pd.DataFrame(rows, columns=COLUMNS, index=self._frame_index(len(ids)))
        frame.attrs["batch_id"] = self.id
        frame.attrs["batch_status"] = status
        return frame

    def _read(self, file_id: str | None) -> list[Any]:
        if not file_id:
            return []
        text = self._client().files.content(file_id).text
        out = []
        for line in text.splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a damaged line: its row shows as not done
        return out

    def _frame_index(self, n: int) -> Any:
        import pandas as pd

        if self._index is not None:
            return self._index
        labels = self.state.get("index")
        if labels and len(labels) == n:
            return pd.Index(labels, name=self.state.get("index_name"))
        return pd.RangeIndex(n)

    def _row(self, answer: dict[str, Any] | None, job_status: str, provider: Any
             ) -> dict[str, Any]:
        from ..types import Usage

        empty = {"answer": None, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0,
                 "latency_s": None, "attempts": 0}
        if answer is None:
            return {**empty, "status": job_status if job_status != "completed" else "missing",
                    "error": f"the batch ended ({job_status}) before this row was done"}
        response = answer.get("response") if isinstance(answer.get("response"), dict) else {}
        body = response.get("body") if isinstance(response.get("body"), dict) else {}
        code = response.get("status_code")
        if answer.get("error") or (isinstance(code, int) and code >= 400) or "error" in body:
            return {**empty, "status": "error", "attempts": 1, "error": _message(answer, body)}
        from ..core.responses import parse_body

        comp = parse_body(provider, provider.parse_completion, json.dumps(body).encode(), 200)
        u = comp.usage or Usage()
        return {"answer": comp.text, "status": "ok", "error": None,
                "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "cost": None, "latency_s": None, "attempts": 1, "_comp": comp}

    def _price(self, ids: list[str], rows: list[dict[str, Any]]) -> None:
        """Each answered row's cost at the batch price; the first reading of the results
        also writes one ledger row per answered or failed row."""
        from ..accounting.recording import Call
        from ..types import Choice, Completion, Message

        rec = self.session.recorder
        record = not self.state.get("recorded")
        provider, model = self.state["provider"], self.state.get("model") or ""
        price_key = self._client().provider.pricing_key()  # api.z.ai bills in USD
        for cid, row in zip(ids, rows, strict=True):
            comp = row.pop("_comp", None)
            if row["status"] not in ("ok", "error"):
                continue
            call = Call(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.id}/{cid}").hex, provider,
                        model or (comp.model if comp else ""), "batch_api", None, [], {})
            call.tags = f"batch:{self.id}"
            call.pricing = price_key
            if comp is None:
                comp = Completion(provider=provider, model=call.model, status="error",
                                  error=row["error"],
                                  choices=[Choice(0, Message("assistant", ""), None)])
            comp.provider = provider
            comp.latency_s = 0.0
            rec.settle(call, comp, write=record)
            row["cost"] = comp.cost if row["status"] == "ok" else 0.0
        if record:
            self.state["recorded"] = True
            self._save()


def _position(cid: Any) -> int:
    m = re.match(r"r(\d+)-", str(cid))
    return int(m.group(1)) if m else 1 << 62


def _message(answer: dict[str, Any], body: dict[str, Any]) -> str:
    err = body.get("error") if isinstance(body.get("error"), dict) else answer.get("error")
    if isinstance(err, dict):
        code = err.get("code")
        text = str(err.get("message") or "request failed")
        return f"{text} (code {code})" if code else text
    return str(err or "request failed")


def dry_run(s: Session, plan: Plan, system: str | None, params: dict[str, Any]) -> Any:
    """What `via="batch_api"` would upload (the first JSONL lines) and the one estimate
    (`calls.estimates`) at the batch price beside the online price."""
    import pandas as pd

    from ..calls.estimates import estimate_requests
    from .plan import row_requests

    client = s.client(plan.provider)
    lines = request_lines(client, plan, system, params)
    est = estimate_requests(client, plan.model, row_requests(plan, system))
    return pd.Series({
        "rows": len(lines), "provider": plan.provider, "model": plan.model, "via": "batch_api",
        "jsonl": [json.dumps(line, ensure_ascii=False) for line in lines[:PREVIEW_LINES]],
        "prompt_tokens": est.prompt_tokens, "prompt_tokens_counted_by": est.counted_by,
        "prompt_cost_batch": est.batch_cost, "prompt_cost_online": est.cost,
        "currency": est.currency, "cost_status": est.cost_status,
        "note": "answer tokens are not included; the batch price applies to them too"})
