"""The chat panel in a real browser: JupyterLab on loopback, headless Chromium via Playwright.

Types a question for the local model and waits for streamed text, stops a long answer, and
checks that a hostile answer renders as text with no script run. Skipped only when
GLM_MAGIC_SKIP_BROWSER is set outside CI (CI always runs it; `make test` installs Chromium)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import API_KEY, stream_frames
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.local]
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "browser"
HOSTILE = '<img src=x onerror=alert(1)> <script>alert(2)</script> <a href="javascript:alert(3)">go</a>'


@pytest.fixture(scope="module")
def lab(tmp_path_factory, _zhipu_server):
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    work = tmp_path_factory.mktemp("lab")
    setup = "\n".join([
        "import os",
        f"os.environ['ZHIPUAI_API_KEY'] = {API_KEY!r}",
        f"os.environ['ZHIPUAI_BASE_URL'] = {_zhipu_server.base_url!r}",
        "from glm_magic import ChatPanel",
        "local = ChatPanel(provider='local', chat='local')",
        "local.temperature_w.value = 0.0",
        "local",
    ])
    nb = new_notebook(cells=[new_code_cell(setup),
                             new_code_cell("remote = ChatPanel(provider='zhipu', chat='remote')\n"
                                           "remote")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, work / "panel.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIPUAI", "OPENAI"))}
    env["GLM_MAGIC_LEDGER"] = str(work / "ledger.sqlite")
    env["JUPYTER_CONFIG_DIR"] = str(work / "jupyter-config")
    labconfig = work / "jupyter-config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(  # no news toast over the panel
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={work}", "--LabApp.news_url=",
         "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=(work / "lab.log").open("w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/api/status?token={token}", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (work / "lab.log").read_text()[-2000:])
    yield f"{base}/lab/tree/panel.ipynb?token={token}"
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_chat_panel_in_jupyterlab(lab, _zhipu_server):
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.set_default_timeout(60_000)
        page.goto(lab)
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                               timeout=90_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
        panels = page.locator(".glm-chat-panel")
        for attempt in range(3):  # a run sent while the kernel still connects can be dropped
            page.locator(".jp-Cell").first.click()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            try:
                expect(panels).to_have_count(2, timeout=40_000)
                break
            except AssertionError:
                page.screenshot(path=str(SHOTS / f"not-run-{attempt}.png"))
                if attempt == 2:
                    raise
        local, remote = panels.nth(0), panels.nth(1)

        # 1. a question for the bundled local model: streamed text arrives
        local.locator("input[type='text']").last.fill("What is the capital of France?")
        local.locator("button.jupyter-button", has_text="Send").click()
        expect(local.locator(".glm-assistant")).to_contain_text("Paris", timeout=60_000)
        expect(local.locator(".glm-status")).to_contain_text("tokens", timeout=30_000)

        # 2. a long answer, stopped half-way: the partial text stays, marked stopped
        words = " ".join(f"word{i}" for i in range(300))
        _zhipu_server.push(Reply(events=stream_frames(words, "glm-4-flash"), pause=0.03))
        remote.locator("input[type='text']").last.fill("Tell me a very long story")
        remote.locator("button.jupyter-button", has_text="Send").click()
        expect(remote.locator(".glm-assistant").last).to_contain_text("word5", timeout=30_000)
        remote.locator("button.jupyter-button", has_text="Stop").click()
        expect(remote.locator(".glm-assistant").last).to_contain_text("[stopped]",
                                                                      timeout=30_000)
        assert "word299" not in remote.locator(".glm-assistant").last.inner_text()

        # 3. a hostile answer renders as text: no element, no script, no dialog
        _zhipu_server.push(Reply(events=stream_frames(HOSTILE, "glm-4-flash")))
        remote.locator("input[type='text']").last.fill("say something nasty")
        remote.locator("button.jupyter-button", has_text="Send").click()
        last = remote.locator(".glm-assistant").last
        expect(last).to_contain_text("<script>alert(2)</script>", timeout=30_000)
        page.wait_for_timeout(500)
        assert last.locator("img, script, a[href^='javascript']").count() == 0
        assert dialogs == []
        local.screenshot(path=str(SHOTS / "chat-panel-local.png"))
        remote.screenshot(path=str(SHOTS / "chat-panel-remote.png"))
        page.screenshot(path=str(SHOTS / "jupyterlab.png"))
        browser.close()
    sent = [r.json for r in _zhipu_server.received if r.json]
    assert json.dumps(sent[-1]["messages"][0]) == json.dumps(
        {"role": "user", "content": "Tell me a very long story"})
