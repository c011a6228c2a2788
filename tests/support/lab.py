"""A JupyterLab server on loopback and headless Chromium, for the browser tests and the
benchmark that measures what a streamed answer costs the page."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
# page.evaluate(ANSWER_HTML, i): the HTML of cell i's first rendered HTML output (None if none)
ANSWER_HTML = """(i) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const out = cell.querySelector('.jp-OutputArea-output.jp-RenderedHTMLCommon');
  return out ? out.innerHTML : null;
}"""


class LabServer:
    """A running JupyterLab: `url(name)` opens notebook `name` from its root folder."""

    def __init__(self, base: str, token: str, root: Path) -> None:
        self.base, self.token, self.root = base, token, root

    def url(self, notebook: str, workspace: str | None = None) -> str:
        """A fresh named workspace opens only that notebook (no tabs left from before)."""
        if workspace:
            return (f"{self.base}/lab/workspaces/{workspace}/tree/{notebook}"
                    f"?reset&token={self.token}")
        return f"{self.base}/lab/tree/{notebook}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def lab_server(root: Path, env: dict[str, str] | None = None) -> Iterator[LabServer]:
    """JupyterLab serving `root`, with no news toast and its own config folder; the kernel
    gets `env` (default: this process's environment without provider keys)."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIPUAI", "OPENAI"))}
    repo = str(Path(__file__).resolve().parent.parent.parent)  # kernels import tests.support
    env = dict(env, JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
               PYTHONPATH=os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p))
    labconfig = root / "jupyter-config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = _free_port(), secrets.token_hex(16)
    log = root / "lab.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
         "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/api/status?token={token}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start: " + log.read_text()[-2000:])
        yield LabServer(base, token, root)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def launch(pw: Any) -> Any:
    """Debian's Chromium, headless, with nothing running in the background."""
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-quic"])


def wait_for_kernel(page: Any) -> None:
    page.wait_for_selector(".jp-Notebook", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=90_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)


def run_all(page: Any) -> None:
    """Run > Run All Cells, from the first cell."""
    first = page.locator(".jp-Cell").first
    first.scroll_into_view_if_needed()
    first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def display_bytes(ws_frames: list[Any]) -> tuple[int, int]:
    """(messages, bytes) of the display_data / update_display_data messages among websocket
    frames a page received (JupyterLab's binary v1 protocol or plain JSON)."""
    count = total = 0
    for payload in ws_frames:
        if isinstance(payload, str):
            msg_type = json.loads(payload).get("header", {}).get("msg_type", "")
            size = len(payload.encode())
        else:
            n = int.from_bytes(payload[:8], "little")
            offsets = [int.from_bytes(payload[8 + 8 * i:16 + 8 * i], "little")
                       for i in range(n)]
            header = json.loads(payload[offsets[1]:offsets[2]])
            msg_type, size = header.get("msg_type", ""), len(payload)
        if msg_type in ("display_data", "update_display_data"):
            count += 1
            total += size
    return count, total
