"""What a long streamed answer costs the page: JupyterLab + headless Chromium, answers of 10 KB,
100 KB and 1 MB streamed in 4-character pieces by the bench server (50 KB/s).

For each: the bytes of display messages the page received (over the answer's size) and the
browser main thread's busy share while the answer streamed (CDP `Performance.getMetrics`,
`TaskDuration`), for `%%glm` and for the common hand-written loop over the openai SDK that
re-renders the whole answer 20 times a second. Also checks that `%%glm`'s final render is
the one-output render of the same text."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the repo's
from tests.support.answers import long_markdown  # noqa: E402
from tests.support.lab import (  # noqa: E402
    ANSWER_HTML,
    display_bytes,
    lab_server,
    launch,
    wait_for_kernel,
)

SIZES = (10_000, 100_000, 1_000_000)
PEER_SIZES = (10_000, 100_000)  # re-sending 1 MB 20 times a second stalls the page for minutes
NAIVE = """import time
from IPython.display import HTML, Markdown, display
from openai import OpenAI
client = OpenAI(api_key={key!r}, base_url={base!r})
text, last = "", 0.0
handle = display(Markdown(""), display_id=True)
for chunk in client.chat.completions.create(model="md-{size}", stream=True,
                                            messages=[{{"role": "user", "content": "go"}}]):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
        if time.monotonic() - last >= 0.05:
            handle.update(Markdown(text))
            last = time.monotonic()
handle.update(Markdown(text))
display(HTML('<div class="glm-footer">done</div>'))"""
REFERENCE = """from glm_magic.sanitize import answer_bundle
from tests.support.answers import long_markdown
display(answer_bundle(long_markdown({size}), final=True), raw=True)"""
SETTLED = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))"


def _notebook(base: str, key: str, size: int, mode: str):
    setup = (f"import os\nos.environ['ZHIPUAI_API_KEY'] = {key!r}\n"
             f"os.environ['ZHIPUAI_BASE_URL'] = {base!r}\n%load_ext glm_magic")
    body = (f"%%glm -m md-{size} --once\nwrite the report" if mode == "glm_magic"
            else NAIVE.format(key=key, base=base, size=size))
    nb = new_notebook(cells=[new_code_cell(setup), new_code_cell(body),
                             new_code_cell(REFERENCE.format(size=size))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _measure(browser, lab, name: str, size: int) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(600_000)
    frames: list = []  # (arrival, payload) of every websocket frame the page received
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda p: frames.append((time.monotonic(), p))))
    page.goto(lab.url(name, workspace=name.replace(".", "-")))
    wait_for_kernel(page)
    cells = page.locator(".jp-Notebook .jp-Cell")
    _run_cell(page, cells.nth(0))  # the setup: environment and %load_ext
    cells.nth(0).locator(".jp-InputPrompt", has_text="[1]").wait_for(timeout=120_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.evaluate(SETTLED)
    frames.clear()
    samples = [(time.monotonic(), _task_s(cdp))]  # main-thread busy seconds, every 50 ms
    _run_cell(page, cells.nth(1))
    footer = page.locator(".glm-footer")
    while not footer.count():
        page.wait_for_timeout(50)
        samples.append((time.monotonic(), _task_s(cdp)))
    page.evaluate(SETTLED)
    samples.append((time.monotonic(), _task_s(cdp)))
    shown = [(t, len(p)) for t, p in frames if display_bytes([p])[0]]
    first_at = shown[0][0]  # the first piece of the answer on the page
    final_at = max(shown, key=lambda s: s[1])[0]  # the largest message: the whole answer
    streamed = [s for s in samples if first_at <= s[0] <= final_at] or samples[:2]
    messages, sent = display_bytes([p for _, p in frames])
    answer = len(long_markdown(size).encode())
    (t0, b0), (t1, b1) = streamed[0], streamed[-1]
    (c0, d0), (c1, d1) = samples[0], samples[-1]
    out = {"bytes_x": sent / answer, "messages": messages,
           "busy_streaming": (b1 - b0) / (t1 - t0) if t1 > t0 else float("nan"),
           "streaming_s": t1 - t0, "busy_cell": (d1 - d0) / (c1 - c0), "cell_s": c1 - c0}
    if "glm_magic" in name:  # the reference render of the same text, in the same page
        page.evaluate(SETTLED)
        _run_cell(page, cells.nth(2))
        page.wait_for_function(f"() => ({ANSWER_HTML})(2) !== null", timeout=120_000)
        time.sleep(2)  # typesetting of both outputs
        ours, ref = page.evaluate(ANSWER_HTML, 1), page.evaluate(ANSWER_HTML, 2)
        out["identical"] = ours == ref and ours is not None
    page.close()
    return out


def _run_cell(page, cell) -> None:
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _task_s(cdp) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def run(base: str, key: str, rounds: int = 3) -> dict:
    """{size: {"glm_magic": {...}, "openai": {...}}} for each size: medians of `rounds`
    measurements, each in a fresh page and kernel."""
    from playwright.sync_api import sync_playwright

    cases = [(size, mode) for size in SIZES for mode in ("glm_magic", "openai")
             if mode == "glm_magic" or size in PEER_SIZES]
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp, lab_server(Path(tmp)) as lab, \
            sync_playwright() as pw:
        browser = launch(pw)
        for size, mode in cases:
            runs = []
            for i in range(rounds):
                name = f"stream-{size}-{mode}-{i}.ipynb"
                nbformat.write(_notebook(base, key, size, mode), Path(tmp) / name)
                runs.append(_measure(browser, lab, name, size))
            got = {k: statistics.median(r[k] for r in runs) for k in runs[0]
                   if k != "identical"}
            if mode == "glm_magic":
                got["identical"] = all(r["identical"] for r in runs)
            results.setdefault(size, {})[mode] = got
            print(f"[bench] browser {mode} {size:,} B: {got}", flush=True)
        browser.close()
    return results
