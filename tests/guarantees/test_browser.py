"""The chat panel in a real browser: JupyterLab on loopback, headless Chromium via Playwright.

Types a question for the local model and waits for streamed text, stops a long answer, and
checks that a hostile answer renders as text with no script run. Skipped only when
GLM_MAGIC_SKIP_BROWSER is set outside CI (CI always runs it; `make test` installs Chromium)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import API_KEY, stream_frames
from tests.support.lab import (
    ANSWER_HTML,
    CHROMIUM,
    lab_server,
    launch,
    run_all,
    wait_for_kernel,
)

pytestmark = [pytest.mark.browser, pytest.mark.local]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
HOSTILE = '<img src=x onerror=alert(1)> <script>alert(2)</script> <a href="javascript:alert(3)">go</a>'


def run_all_cells(page, until, shots_prefix: str, count: int = 1) -> None:
    """Run all cells once the kernel is idle; a run sent while it still connects can be
    dropped, so retry until `until()` matches `count` elements (at most three times)."""
    from playwright.sync_api import expect

    wait_for_kernel(page)
    for attempt in range(3):
        run_all(page)
        try:
            expect(until()).to_have_count(count, timeout=40_000)
            return
        except AssertionError:
            page.screenshot(path=str(SHOTS / f"{shots_prefix}-not-run-{attempt}.png"))
            if attempt == 2:
                raise


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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIPUAI", "OPENAI"))}
    env["GLM_MAGIC_LEDGER"] = str(work / "ledger.sqlite")
    try:
        with lab_server(work, env) as server:
            yield server
    except RuntimeError as err:  # JupyterLab did not start
        pytest.fail(str(err))


def test_chat_panel_in_jupyterlab(lab, _zhipu_server):
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.set_default_timeout(60_000)
        page.goto(lab.url("panel.ipynb"))
        panels = page.locator(".glm-chat-panel")
        run_all_cells(page, lambda: panels, "panel", count=2)
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


# --- hostile answers in every front-end ------------------------------------------------------
PRETTY = ("Euler: $e^{i\\pi} + 1 = 0$\n\n$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$\n\n"
          "| model | score |\n|---|---|\n| glm-4 | 0.9 |\n\n```python\nprint('hello')\n```\n")
FIND_BAD = """() => {
  const out = [];
  for (const el of document.querySelectorAll('.jp-OutputArea-output *, .glm-chat-panel *')) {
    for (const a of el.attributes) {
      const v = (a.value || '').trim().toLowerCase();
      if (a.name.startsWith('on')) out.push(el.tagName + ' ' + a.name);
      if (['href', 'src', 'action', 'xlink:href', 'formaction'].includes(a.name)
          && /^(javascript|data|vbscript):/.test(v)) {
        const mime = (el.closest('[data-mime-type]') || {dataset: {}}).dataset.mimeType;
        out.push(el.tagName + ' ' + a.name + '=' + v.slice(0, 30) + ' in ' + mime);
      }
    }
    if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'META', 'BASE', 'STYLE']
        .includes(el.tagName)) out.push('element ' + el.tagName);
  }
  return out;
}"""


def _hostile_notebook(server_url: str):
    from glm_magic.testing.zhipu import API_KEY as key

    setup = "\n".join([
        "import os",
        f"os.environ['ZHIPUAI_API_KEY'] = {key!r}",
        f"os.environ['ZHIPUAI_BASE_URL'] = {server_url!r}",
        "%load_ext glm_magic",
        "def lookup(q: str) -> str:",
        "    '''Look something up.'''",
        "    from tests_payloads import ALL",
        "    return ALL",
    ])
    cells = [new_code_cell(setup)]
    for fmt in ("markdown", "text", "code", "json", "html"):
        cells.append(new_code_cell(f"%%glm -f {fmt} --once\nsummarise the page"))
    cells.append(new_code_cell("%%glm --thinking --once\nthink about the page"))
    cells.append(new_code_cell("%%glm --tools lookup --once\nlook it up"))
    cells.append(new_code_cell("%%glm --once\nshow me math"))
    cells.append(new_code_cell("from glm_magic import ChatPanel\n"
                               "p = ChatPanel(provider='zhipu', chat='hostile')\np"))
    cells.append(new_code_cell("p.send('summarise the page')"))
    cells.append(new_code_cell("print('all cells ran')"))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def test_hostile_answers_run_nothing_in_jupyterlab(lab, _zhipu_server):
    """Every -f format, a thinking block, a tool display and the panel answer with the whole
    payload corpus; nothing may run, navigate or fetch, and math, tables and code still render."""
    from playwright.sync_api import expect, sync_playwright

    from glm_magic.testing.loopback import sse
    from tests.payloads import PAYLOADS

    everything = "\n\n".join(PAYLOADS)
    (lab.root / "tests_payloads.py").write_text(f"ALL = {everything!r}\n")
    nbformat.write(_hostile_notebook(_zhipu_server.base_url), lab.root / "hostile.ipynb")
    _zhipu_server.reset()
    for _ in range(5):  # one answer per -f format
        _zhipu_server.push(Reply(events=stream_frames(everything, "glm-4-flash")))
    _zhipu_server.push(Reply(events=sse(
        {"choices": [{"index": 0, "delta": {"reasoning_content": everything}}]},
        {"choices": [{"index": 0, "delta": {"content": everything}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
         "web_search": [{"title": p, "link": "javascript:window.__glm_pwned(2)"}
                        for p in PAYLOADS[:8]]})))
    args = json.dumps({"q": everything})
    _zhipu_server.push(Reply(events=sse(
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": args}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})))
    _zhipu_server.push(Reply(events=stream_frames(everything, "glm-4-flash")))
    _zhipu_server.push(Reply(events=stream_frames(PRETTY, "glm-4-flash")))
    _zhipu_server.push(Reply(events=stream_frames(everything, "glm-4-flash")))  # the panel

    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    foreign: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})

        def guard(route):
            host = route.request.url.split("/")[2].split(":")[0] if "://" in \
                route.request.url else ""
            if host in ("127.0.0.1", "localhost") or route.request.url.startswith(
                    ("data:", "blob:")):
                route.continue_()
            else:
                foreign.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        context.add_init_script("window.__glm_hits = 0;"
                                "window.__glm_pwned = () => { window.__glm_hits += 1; };")
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.set_default_timeout(60_000)
        page.goto(lab.url("hostile.ipynb", workspace="hostile"))
        run_all_cells(page, lambda: page.locator(".glm-chat-panel"), "hostile")
        expect(page.get_by_text("all cells ran", exact=True)).to_have_count(1, timeout=90_000)
        expect(page.locator(".glm-chat-panel .glm-assistant")).to_have_count(1)
        expect(page.locator(".glm-chat-panel .glm-status")).to_contain_text("tokens",
                                                                           timeout=30_000)
        expect(page.locator("mjx-container").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)  # let any late handler fire
        bad = page.evaluate(FIND_BAD)
        hits = page.evaluate("window.__glm_hits")
        outputs = page.locator(".jp-OutputArea-output")
        assert outputs.count() >= 12
        # the payloads are there, as text
        assert page.get_by_text("<script>", exact=False).count() > 0
        assert page.locator(".glm-thinking").count() == 1 and page.locator(".glm-tool").count() == 1
        last = page.locator(".jp-Cell", has_text="show me math")
        last.scroll_into_view_if_needed()
        assert last.locator("table").count() == 1 and last.locator("pre code").count() == 1
        assert last.locator("mjx-container").count() >= 2
        last.screenshot(path=str(SHOTS / "math-table-code.png"))
        page.screenshot(path=str(SHOTS / "hostile.png"), full_page=True)
        browser.close()
    assert bad == [], bad
    assert hits == 0
    assert dialogs == []
    assert foreign == [], foreign


# --- a long answer streams into several outputs and ends as one --------------------------------


def test_long_answer_ends_as_the_one_output_render(lab, _zhipu_server):
    """60 KB of Markdown in 4-character pieces: while it streams, finished blocks are outputs
    of their own; at the end the page shows exactly what one output with the whole answer
    shows (compared with that output rendered by the same page), and nothing else."""
    from playwright.sync_api import sync_playwright

    from glm_magic.testing.loopback import sse
    from tests.support.answers import long_markdown, pieces

    size = 60_000
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]}
              for p in pieces(long_markdown(size))]
    frames = sse(*chunks, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 9,
                                     "total_tokens": 14}})
    _zhipu_server.reset()
    _zhipu_server.push(Reply(events=[b"".join(frames[i:i + 100])
                                     for i in range(0, len(frames), 100)], pause=0.01))
    setup = "\n".join([
        "import os",
        f"os.environ['ZHIPUAI_API_KEY'] = {API_KEY!r}",
        f"os.environ['ZHIPUAI_BASE_URL'] = {_zhipu_server.base_url!r}",
        "%load_ext glm_magic",
    ])
    reference = ("from glm_magic.sanitize import answer_bundle\n"
                 "from tests.support.answers import long_markdown\n"
                 f"display(answer_bundle(long_markdown({size}), final=True), raw=True)\n"
                 "print('all cells ran')")
    nb = new_notebook(cells=[new_code_cell(setup),
                             new_code_cell("%%glm --once\nwrite the report"),
                             new_code_cell(reference)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, lab.root / "long.ipynb")
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(lab.url("long.ipynb", workspace="long"))
        run_all_cells(page, lambda: page.get_by_text("all cells ran", exact=True), "long")
        page.locator(".glm-footer").wait_for(state="attached", timeout=90_000)
        cell = page.locator(".jp-Notebook .jp-Cell").nth(1)
        # typesetting is asynchronous: wait until both renders hold the same math
        page.wait_for_function(
            """() => { const c = document.querySelectorAll('.jp-Notebook .jp-Cell');
                       const n = i => c[i].querySelectorAll('mjx-container').length;
                       return n(1) > 0 && n(1) === n(2); }""", timeout=60_000)
        page.wait_for_timeout(500)
        streamed, whole = page.evaluate(ANSWER_HTML, 1), page.evaluate(ANSWER_HTML, 2)
        children = cell.locator(".jp-OutputArea > *").count()
        shown = page.evaluate(
            """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')[1]
                     .querySelectorAll('.jp-OutputArea-output')]
                     .filter(o => o.getBoundingClientRect().height > 0).length""")
        bad = page.evaluate(FIND_BAD)
        page.screenshot(path=str(SHOTS / "long-answer.png"))
        browser.close()
    assert streamed and streamed == whole
    assert children > 2  # it streamed into several outputs ...
    assert shown == 2  # ... and ends as the answer and its footer
    assert bad == [], bad
