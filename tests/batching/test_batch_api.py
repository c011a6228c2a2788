"""The provider's Batch API: SDK-shaped files and batches on the client, and
batch(via="batch_api") as a job that survives the kernel, against the loopback server."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from glm_magic.sessions import _reset_session

import glm_magic
from glm_magic import Client


def test_files_and_batches_are_sdk_shaped(zhipu):
    client = Client("zhipu")
    line = {"custom_id": "a", "method": "POST", "url": "/v4/chat/completions",
            "body": {"model": "glm-4-flash", "messages": [{"role": "user", "content": "hi"}]}}
    f = client.files.create(file=json.dumps(line).encode(), purpose="batch")
    assert f.id.startswith("file-") and f.purpose == "batch" and f.object == "file"
    assert client.files.content(f.id).text.strip() == json.dumps(line)
    job = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                completion_window="24h", metadata={"k": "v"})
    assert job.status == "validating" and job.request_counts.total == 1
    assert job.metadata == {"k": "v"}
    seen = [client.batches.retrieve(job.id).status for _ in range(3)]
    assert seen == ["in_progress", "finalizing", "completed"]
    done = client.batches.retrieve(job.id)
    out = client.files.content(done.output_file_id).text
    assert json.loads(out)["custom_id"] == "a"
    assert job.id in [b.id for b in client.batches.list()]
    assert client.files.delete(f.id).deleted is True
    with pytest.raises(ValueError, match="not a file or batch id"):
        client.files.content("../../etc/passwd")


def frame():
    return pd.DataFrame({"text": ["alpha", "beta", "fail me", "delta"]},
                        index=pd.Index(["w", "x", "y", "z"], name="key"))


def test_batch_via_batch_api_returns_a_job_at_once_and_aligned_results(zhipu, tmp_path):
    job = glm_magic.batch(frame(), template="Say {text}", model="glm-4-plus",
                          via="batch_api", resume=tmp_path / "job.json")
    assert job.status() == "in_progress"  # created validating; nothing waited on
    state = json.loads((tmp_path / "job.json").read_text())
    assert state["id"] == job.id and len(state["custom_ids"]) == 4
    sent = zhipu.files[state["input_file_id"]]["data"].decode().splitlines()
    assert [json.loads(x)["custom_id"] for x in sent] == state["custom_ids"]
    df = job.wait(poll=0.01, progress=False).result()
    assert list(df.index) == ["w", "x", "y", "z"] and df.index.name == "key"
    assert list(df["status"]) == ["ok", "ok", "error", "ok"]
    assert df.loc["w", "answer"] == "echo: Say alpha"
    assert "fail" in df.loc["y", "error"]
    rows = glm_magic.usage(source="batch_api")
    assert len(rows) == 4 and set(rows["status"]) == {"ok", "error"}
    ok = rows[rows["status"] == "ok"].iloc[0]
    online = glm_magic.pricing.cost("zhipu", "glm-4-plus", glm_magic.types.Usage(
        int(ok["prompt_tokens"]), int(ok["completion_tokens"]), 0))[0]
    assert ok["cost"] == pytest.approx(online / 2)  # the batch price
    assert df["cost"].sum() == pytest.approx(rows["cost"].sum())
    again = job.result()
    assert len(glm_magic.usage(source="batch_api")) == 4  # recorded once
    assert again["cost"].sum() == pytest.approx(df["cost"].sum())  # and priced every time


def test_a_new_kernel_picks_the_job_up_by_file_or_id(zhipu, tmp_path):
    job = glm_magic.batch(["one", "two"], via="batch_api", resume=tmp_path / "j.json")
    _reset_session()  # a new kernel: nothing in memory
    again = glm_magic.batch_job(tmp_path / "j.json")
    df = again.wait(poll=0.01, progress=False).result()
    assert list(df["answer"]) == ["echo: one", "echo: two"]
    by_id = glm_magic.batch_job(job.id, provider="zhipu")  # another machine: the id alone
    assert list(by_id.result()["answer"]) == ["echo: one", "echo: two"]
    rerun = glm_magic.batch(["one", "two"], via="batch_api", resume=tmp_path / "j.json")
    assert rerun.id == job.id  # the same cell run again does not submit twice


@pytest.mark.parametrize("outcome,status", [("expired", "expired"), ("failed", "failed")])
def test_jobs_that_end_early_keep_what_was_done(zhipu, outcome, status):
    zhipu.batch_outcome = outcome
    try:
        job = glm_magic.batch([f"r{i}" for i in range(6)], via="batch_api")
        df = job.wait(poll=0.01, progress=False).result()
    finally:
        zhipu.batch_outcome = "completed"
    assert df.attrs["batch_status"] == status
    done = (df["status"] == "ok").sum()
    assert (done == 3) if outcome == "expired" else (done == 0)
    assert (df["status"] == status).sum() == 6 - done


def test_cancel_keeps_the_rows_already_done(zhipu):
    job = glm_magic.batch([f"r{i}" for i in range(6)], via="batch_api")
    assert job.cancel() == "cancelling"
    df = job.wait(poll=0.01, progress=False).result()
    assert df.attrs["batch_status"] == "cancelled"
    assert (df["status"] == "ok").sum() == 2 and (df["status"] == "cancelled").sum() == 4


def test_result_before_the_end_says_so(zhipu):
    job = glm_magic.batch(["x"], via="batch_api")
    with pytest.raises(glm_magic.batch_api.BatchNotFinishedError, match="still"):
        job.result()


def test_dry_run_shows_the_jsonl_and_both_prices(zhipu):
    est = glm_magic.batch(["a", "b", "c", "d"], model="glm-4-plus", via="batch_api",
                          dry_run=True)
    assert len(est["jsonl"]) == 3 and json.loads(est["jsonl"][0])["url"] == "/v4/chat/completions"
    assert est["prompt_cost_batch"] == pytest.approx(est["prompt_cost_online"] / 2)
    assert not zhipu.batches


def test_bad_via_is_one_clear_error(zhipu):
    with pytest.raises(ValueError, match="via must be"):
        glm_magic.batch(["x"], via="carrier pigeon")
