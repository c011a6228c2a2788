"""The team ledger on a real PostgreSQL server that the tests start themselves: the same rows
and dtypes as SQLite, server-side filters, many writers, and nothing lost while the server is
down."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from glm_magic.ledger import Ledger
from glm_magic.sessions import _reset_session

import glm_magic
from glm_magic import Client
from glm_magic.accounting.ledgers import open_ledger
from glm_magic.testing.postgres import PostgresServer, bindir

pytestmark = pytest.mark.skipif(bindir() is None,
                                reason="PostgreSQL is not installed (make test installs it)")


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture
def team(pg, monkeypatch, tmp_path):
    import psycopg

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # the spool stays in this test's folder

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS calls")
        conn.execute("DROP TABLE IF EXISTS glm_magic_meta")
    monkeypatch.setenv("GLM_MAGIC_LEDGER", pg.url)
    _reset_session()
    yield pg
    _reset_session()


def test_calls_land_in_postgres_with_the_sqlite_columns_and_dtypes(team, zhipu, tmp_path):
    import psycopg

    Client("zhipu").chat.completions.create(model="glm-4-plus",
                                            messages=[{"role": "user", "content": "hi"}])
    df = glm_magic.usage()
    assert len(df) == 1 and df.iloc[0]["model"] == "glm-4-plus" and df.iloc[0]["cost"] > 0
    local = Ledger(str(tmp_path / "local.sqlite"))
    local.append({"model": "x", "prompt_tokens": 3, "cost": 0.1})
    assert list(local.frame().columns) == list(df.columns)
    assert local.frame().dtypes.to_dict() == df.dtypes.to_dict()
    with psycopg.connect(team.url) as conn:
        version = conn.execute("SELECT value FROM glm_magic_meta WHERE key = "
                               "'schema_version'").fetchone()[0]
    assert version == "1"
    assert df.iloc[0]["os_user"] and df.iloc[0]["host"]
    assert glm_magic.cost_summary(by="model").shape[0] == 1


def test_filters_run_on_the_server(team):
    led = open_ledger()
    led.append({"model": "a", "os_user": "alice", "time": 1_000.0})
    led.append({"model": "b", "os_user": "bob", "time": 2_000.0})
    led.append({"model": "c", "os_user": "bob", "time": 3_000.0})
    assert list(glm_magic.usage(user="bob")["model"]) == ["b", "c"]
    assert list(glm_magic.usage(since=2_500.0)["model"]) == ["c"]
    assert list(glm_magic.usage(user="bob", model="b")["model"]) == ["b"]
    led.close()


def test_many_processes_append_without_losing_a_row(team):
    script = textwrap.dedent(f"""
        from glm_magic.accounting.ledgers import open_ledger
        led = open_ledger({team.url!r})
        for i in range(150):
            led.append({{"model": "m", "call_id": f"{{i}}"}})
        led.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert len(glm_magic.usage(model="m")) == 600


def test_rows_wait_in_the_spool_while_the_server_is_down(team, capsys):
    led = open_ledger()
    led.append({"model": "before"})
    team.stop()
    try:
        for i in range(5):
            led.append({"model": "during", "call_id": str(i)})
        assert led.pending == 5
        err = capsys.readouterr().err
        assert "cannot be reached" in err and "postgres" in err
        assert len(led.frame(model="during")) == 5  # shown while they wait
    finally:
        team.start()
    import glm_magic.ledger_pg as lp

    led._retry_at = 0.0  # the next append tries the server at once
    led.append({"model": "after"})
    assert led.pending == 0 and "is back" in capsys.readouterr().err
    models = list(glm_magic.usage()["model"])
    assert models == ["before"] + ["during"] * 5 + ["after"]  # in order, none twice
    assert led.count() == 7
    assert lp.SCHEMA_VERSION == 1
    led.close()


def test_the_password_never_shows(pg, monkeypatch, capsys):
    from glm_magic.ledger_pg import PostgresLedger, safe_url

    url = "postgresql://postgres:hunter2secret@127.0.0.1:1/postgres"
    assert "hunter2secret" not in safe_url(url)
    led = PostgresLedger(url)  # nothing listens on port 1: the spool takes the row
    led.append({"model": "x"})
    text = capsys.readouterr().err + repr(led) + led.file
    assert "hunter2secret" not in text and "cannot be reached" in text
    assert led.pending >= 1
