"""API keys never leak: not in outputs, reprs, errors, logs, the ledger or saved notebooks."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import glm_magic
from glm_magic import Client, errors
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import API_KEY

ROOT = Path(__file__).resolve().parents[2]
SECRET_PART = API_KEY.split(".")[1]
FAKE_KEY = "sk-LEAKCHECK0123456789abcdefLEAK"


def assert_clean(text: str) -> None:
    for secret in (API_KEY, SECRET_PART, FAKE_KEY):
        assert secret not in text, f"secret leaked: {secret[:6]}…"


def test_reprs_errors_and_config_are_masked(zhipu, shell, capsys):
    c = Client(provider="zhipu", auth="jwt")
    c.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "x"}])
    token = zhipu.received[-1].headers["authorization"][7:]
    s = glm_magic.session()
    s.complete("hi", stream=False)
    texts = [repr(c), str(c), repr(c.provider), repr(s), repr(s.client("zhipu")), repr(s.last)]
    zhipu.push(Reply(401, {"error": {"code": "1000", "message": f"bad key {API_KEY} {token}"}}))
    with pytest.raises(errors.AuthenticationError) as ei:
        s.complete("x", stream=False)
    texts += [str(ei.value), repr(ei.value)]
    shell.run_line_magic("glm", "config")
    shell.run_cell_magic("glm", "--dry-run", "x")
    texts.append(capsys.readouterr().out)
    for t in texts:
        assert_clean(t)
        assert token not in t
    assert "…" in texts[-1]  # masked, still recognisable


def test_logs_are_redacted(zhipu, caplog, monkeypatch):
    from tests.servers.others import QianfanServer

    qf = QianfanServer()
    monkeypatch.setenv("QIANFAN_AK", qf.ak)
    monkeypatch.setenv("QIANFAN_SK", qf.sk)
    monkeypatch.setenv("QIANFAN_BASE_URL", qf.url)
    try:
        with caplog.at_level(logging.DEBUG):
            Client(provider="qianfan").chat.completions.create(
                messages=[{"role": "user", "content": "x"}])
            Client(provider="zhipu").chat.completions.create(
                messages=[{"role": "user", "content": "x"}])
        token = qf.tokens[0]
    finally:
        qf.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "access_token=***" in logged  # httpx logged the URL, with the token hidden
    assert token not in logged and qf.sk not in logged
    assert_clean(logged)


def test_key_in_a_cell_warns(shell, zhipu, capsys):
    shell.run_cell_magic("glm", "--dry-run", "my key is sk-abcdefghijklmnopqrstuvwxyz123456")
    assert "looks like an API key" in capsys.readouterr().out


@pytest.mark.local
def test_tutorial_notebooks_and_ledger_never_contain_the_key(tmp_path, monkeypatch):
    """Run tutorials with a recognisable key set; grep every output, the saved .ipynb files
    and the ledger file for it."""
    ledger = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("GLM_MAGIC_LEDGER", str(ledger))
    monkeypatch.setenv("ZHIPUAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    for name in ("02-magics.ipynb", "06-glm-features.ipynb"):
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        out = tmp_path / name
        nbformat.write(nb, out)
        assert_clean(out.read_text(encoding="utf-8"))
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.sqlite*"))
    assert raw, "the notebooks wrote no ledger"
    for secret in (API_KEY, SECRET_PART, FAKE_KEY):
        assert secret.encode() not in raw
    assert os.environ["ZHIPUAI_API_KEY"] == FAKE_KEY
