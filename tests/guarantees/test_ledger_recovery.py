"""The ledger never loses a row and never holds its caller: odd values are cast, a locked,
full, read-only or broken file keeps rows in memory (shown in every read) and receives them
when it works again; resume keeps working through it all."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import threading
import time

import pytest
from glm_magic.ledger import Ledger

import glm_magic
from glm_magic import ledger as ledger_mod

_open_ledgers: list[Ledger] = []


def opened(led: Ledger) -> Ledger:
    _open_ledgers.append(led)
    return led


def unmount(mnt) -> None:
    """Close what the test opened on the mount (an open file keeps it busy), then unmount."""
    while _open_ledgers:
        _open_ledgers.pop().close()
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_odd_values_are_cast_to_the_column_types(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.append({"call_id": "a", "request_id": {"id": "r-1", "nested": [1]},
                "prompt_tokens": float("nan"), "completion_tokens": 2**70,
                "total_tokens": "12", "cost": float("inf"), "latency_s": "0.5",
                "model": b"glm-4", "status": "ok", "error": "bad \ud800 text",
                "cached_tokens": {"weird": True}})
    assert led.pending == 0
    (row,) = sqlite3.connect(tmp_path / "l.sqlite").execute(
        "SELECT request_id, prompt_tokens, completion_tokens, total_tokens, cost, latency_s, "
        "model, error, cached_tokens FROM calls").fetchall()
    assert row[0] == '{"id": "r-1", "nested": [1]}'
    assert row[1] is None and row[2] == 2**63 - 1 and row[3] == 12
    assert row[4] is None and row[5] == 0.5 and row[6] == "glm-4"
    assert row[7].startswith("bad ") and row[8] is None
    df = led.frame()
    assert len(df) == 1 and df["total_tokens"].iloc[0] == 12


@contextlib.contextmanager
def write_lock_held(path, seconds_box):
    """Another process's transaction holding the write lock until released."""
    code = ("import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.readline()")
    p = subprocess.Popen(["python3", "-c", code, str(path)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    try:
        yield
    finally:
        p.stdin.write("\n")
        p.stdin.flush()
        p.wait(timeout=10)


def test_a_locked_file_neither_blocks_nor_loses_rows(tmp_path, monkeypatch):
    path = tmp_path / "locked.sqlite"
    led = Ledger(path)
    led.append({"call_id": "before", "status": "ok"})
    monkeypatch.setattr(ledger_mod, "RETRY_S", 0.2)
    with write_lock_held(path, None):
        times = []
        for i in range(5):
            t0 = time.perf_counter()
            led.append({"call_id": f"during-{i}", "status": "ok"})
            times.append(time.perf_counter() - t0)
        assert max(times) < 0.5
        assert led.pending == 5
        assert [r["call_id"] for r in led.rows()] == ["before"] + [f"during-{i}"
                                                                  for i in range(5)]
    time.sleep(0.25)
    led.append({"call_id": "after", "status": "ok"})
    assert led.pending == 0
    on_disk = [r[0] for r in sqlite3.connect(path).execute(
        "SELECT call_id FROM calls ORDER BY id")]
    assert on_disk == ["before"] + [f"during-{i}" for i in range(5)] + ["after"]


def test_the_event_loop_keeps_running_while_the_ledger_is_locked(zhipu, tmp_path,
                                                                   monkeypatch):
    path = tmp_path / "loop.sqlite"
    monkeypatch.setenv("GLM_MAGIC_LEDGER", str(path))
    s = glm_magic.Session(str(path))
    s.ledger.append({"call_id": "warm", "status": "ok"})
    gaps: list[float] = []

    async def heartbeat(stop):
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def main():
        stop = asyncio.Event()
        beat = asyncio.ensure_future(heartbeat(stop))
        for i in range(5):
            await s.acomplete(f"q{i}", chat=f"c{i}", stream=False)
        stop.set()
        await beat

    with write_lock_held(path, None):
        asyncio.run(main())
    assert max(gaps) < 0.5
    assert s.ledger.pending >= 5  # kept, not lost
    s.ledger.close()
    assert Ledger(path).count() == 6


def test_a_read_only_ledger_still_shows_its_history(tmp_path, capsys):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        path = mnt / "ledger.sqlite"
        first = Ledger(path)
        for i in range(3):
            first.append({"call_id": f"old-{i}", "status": "ok", "model": "m"})
        first.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        led = opened(Ledger(path))
        led.append({"call_id": "new", "status": "ok", "model": "m"})
        assert [r["call_id"] for r in led.rows()] == ["old-0", "old-1", "old-2", "new"]
        assert len(led.frame(model="m")) == 4
        assert "cannot use the ledger" in capsys.readouterr().err
    finally:
        unmount(mnt)


def test_a_full_disk_keeps_rows_in_memory_until_there_is_room(tmp_path, monkeypatch):
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    monkeypatch.setattr(ledger_mod, "RETRY_S", 0.1)
    filler = mnt / "filler"
    try:
        led = opened(Ledger(mnt / "ledger.sqlite"))
        led.append({"call_id": "first", "status": "ok"})
        with contextlib.suppress(OSError), open(filler, "wb") as f:  # fill the disk
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        big = "x" * 1000
        for i in range(60):
            led.append({"call_id": f"full-{i}", "status": "ok", "error": big})
        assert led.pending > 0
        assert len(led.rows()) == 61
        filler.unlink()  # room again
        time.sleep(0.15)
        led.append({"call_id": "last", "status": "ok"})
        assert led.pending == 0 and led.path == led.file
        led.close()
        ids = [r[0] for r in sqlite3.connect(mnt / "ledger.sqlite").execute(
            "SELECT call_id FROM calls ORDER BY id")]
        assert ids == ["first"] + [f"full-{i}" for i in range(60)] + ["last"]
    finally:
        unmount(mnt)


def test_a_broken_file_is_retried_and_replayed_once_repaired(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ledger_mod, "RETRY_S", 0.05)
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"not a database" * 100)
    led = Ledger(path)
    led.append({"call_id": "a", "status": "ok"})
    led.append({"call_id": "b", "status": "ok"})
    assert led.path == ":memory:" and led.count() == 2
    path.unlink()  # the user moves the broken file away
    time.sleep(0.06)
    led.append({"call_id": "c", "status": "ok"})
    assert led.path == str(path) and led.pending == 0
    assert [r[0] for r in sqlite3.connect(path).execute("SELECT call_id FROM calls")] == \
        ["a", "b", "c"]
    err = capsys.readouterr().err
    assert err.count("cannot use the ledger") == 1 and "works again" in err


def test_resume_uses_the_ledger_file_even_while_rows_wait_in_memory(zhipu, tmp_path,
                                                                     monkeypatch):
    path = tmp_path / "resume.sqlite"
    s = glm_magic.Session(str(path))
    first = glm_magic.batch(["a", "b", "c"], resume=True, session=s, progress=False)
    assert (first["status"] == "ok").all()
    with write_lock_held(path, None):
        s.ledger.append({"call_id": "x", "status": "ok"})  # the ledger is now waiting
    zhipu.reset()
    again = glm_magic.batch(["a", "b", "c"], resume=True, session=s, progress=False)
    assert (again["status"] == "ok").all()
    assert zhipu.received == []  # nothing re-sent


def test_threads_appending_together_lose_nothing(tmp_path):
    led = Ledger(tmp_path / "threads.sqlite")

    def work(tag):
        for i in range(200):
            led.append({"call_id": f"{tag}-{i}", "status": "ok"})

    threads = [threading.Thread(target=work, args=(t,)) for t in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    led.close()
    assert Ledger(tmp_path / "threads.sqlite").count() == 800
