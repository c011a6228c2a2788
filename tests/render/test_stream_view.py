"""A long streamed answer in a notebook: settled Markdown blocks move to outputs of their own,
the bytes sent grow with the answer, and the final render is exactly the one-output render."""

from __future__ import annotations

import pytest
from glm_magic.live import POOL, SPLIT_AFTER, settled_length

from glm_magic.render import FORMATS, NotebookView
from glm_magic.sanitize import answer_bundle, markdown_parser
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import sse
from glm_magic.types import Completion, chunk_from_openai
from tests.payloads import PAYLOADS, inert_problems
from tests.support.answers import long_markdown, pieces
from tests.support.frontend import FrontEnd


def _chunk(text: str = "", reasoning: str = ""):
    delta = {"content": text} if text else {}
    if reasoning:
        delta["reasoning_content"] = reasoning
    return chunk_from_openai({"choices": [{"index": 0, "delta": delta}]})


def _stream(view: NotebookView, text: str, reasoning: str = "", width: int = 4) -> None:
    for piece in pieces(reasoning, width):
        view.update(_chunk(reasoning=piece))
    for piece in pieces(text, width):
        view.update(_chunk(piece))


# --- which blocks are settled ---------------------------------------------------------------
@pytest.mark.parametrize("text, settled", [
    ("para one\n\npara two\n", "para one\n\n"),
    ("para one\n\npa", ""),  # only whole lines count
    ("para\n\n", ""),  # the last block can still grow
    ("| a |\n|---|\n| 1 |\nnext\n\nz\n", "| a |\n|---|\n| 1 |\nnext\n\n"),
    ("- a\n\n- b\n\npara\n\nq\n", "- a\n\n- b\n\npara\n\n"),
    ("```\ncode\n\nmore\n\nx\n", ""),  # an open fence takes everything after it
    ("$$\nopen math\n\nmore\n\nx\n", ""),  # so does an open $$ once it closes
    ("a\n\n$$\nx\n\nmore\n\ny\n", "a\n\n"),
    ("para\nstill para\n# heading\n", ""),  # no blank line: not a safe cut
    ("x\r\n\r\ny\r\n", "x\r\n\r\n"),
])
def test_settled_length(text, settled):
    assert text[:settled_length(text)] == settled


def test_a_settled_cut_is_a_block_boundary_of_the_whole_answer():
    """Whatever arrives later, the cut made on a prefix starts a top-level block of the
    whole text: the blocks before it can no longer change."""
    text = long_markdown(30_000)
    md = markdown_parser()
    line_starts = {0}
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.add(i + 1)
    starts = {t.map[0] for t in md.parse(text) if t.level == 0 and t.nesting >= 0 and t.map}
    offsets = sorted(line_starts)
    cuts = 0
    for k in range(200, len(text), 97):
        cut = settled_length(text[:k])
        if cut:
            cuts += 1
            assert offsets.index(cut) in starts, (k, text[cut - 40:cut + 40])
    assert cuts > 100


# --- the final render -----------------------------------------------------------------------
@pytest.mark.parametrize("size", [2_000, SPLIT_AFTER + 5_000, 100_000])
def test_long_markdown_final_render_is_one_output(shell, size):
    text = long_markdown(size)
    fe = FrontEnd()
    with fe.installed(shell):
        view = NotebookView("markdown", footer=False, max_fps=0)  # a frame for every piece
        _stream(view, text)
        if size > SPLIT_AFTER:
            assert len(view.slots) > 1  # it did stream into several outputs
        view.finish(Completion(provider="zhipu", model="m"))
    assert fe.shown == [answer_bundle(text, "markdown", final=True)]
    assert len(view.slots) <= POOL
    # linear, not quadratic: re-sending the whole answer 20 times a second would be ~100×
    assert fe.bytes_sent <= 5 * len(text.encode())


def test_every_update_at_every_frame_is_identical_at_the_end_and_inert(shell):
    """max_fps=0 updates on every piece: the hardest case for splitting and for safety."""
    text = "".join(f"{p}\n\n" for p in PAYLOADS) * 3 + long_markdown(40_000)
    fe = FrontEnd()
    with fe.installed(shell):
        view = NotebookView("markdown", footer=False, max_fps=0)
        seen: list[str] = []
        original = fe.publish

        def spy(data, *args, **kwargs):
            seen.append(data.get("text/html", ""))
            original(data, *args, **kwargs)

        fe.publish = spy
        _stream(view, text, width=7)
        view.finish(Completion(provider="zhipu", model="m"))
    assert fe.shown == [answer_bundle(text, "markdown", final=True)]
    assert seen and all(inert_problems(h) == [] for h in seen)


def test_a_long_thinking_trace_keeps_its_own_output(shell):
    reasoning = long_markdown(SPLIT_AFTER)
    text = long_markdown(30_000)
    fe = FrontEnd()
    with fe.installed(shell):
        view = NotebookView("markdown", footer=False, max_fps=0)
        _stream(view, text, reasoning)
        assert len(view.slots) > 2
        view.finish(Completion(provider="zhipu", model="m"))
    assert fe.shown == [answer_bundle(text, "markdown", final=True, reasoning=reasoning)]


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "markdown"])
def test_other_formats_stay_one_output(shell, fmt):
    text = long_markdown(40_000)
    fe = FrontEnd()
    with fe.installed(shell):
        view = NotebookView(fmt, footer=False)
        _stream(view, text)
        assert len(view.slots) == 1
        view.finish(Completion(provider="zhipu", model="m"))
    assert fe.shown == [answer_bundle(text, fmt, final=True)]
    assert fe.bytes_sent <= 5 * len(text.encode())


# --- through the magic ----------------------------------------------------------------------
def _frames(text: str, *, finish: bool = True) -> list[bytes]:
    chunks = [{"id": "r", "created": 1, "model": "glm-4-flash",
               "choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces(text)]
    if finish:
        chunks.append({"id": "r", "created": 1, "model": "glm-4-flash",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 9,
                                 "total_tokens": 14}})
    frames = sse(*chunks, done=finish)
    return [b"".join(frames[i:i + 64]) for i in range(0, len(frames), 64)]


def test_glm_cell_streams_a_long_answer_into_one_final_output(shell, zhipu):
    text = long_markdown(60_000)
    zhipu.push(Reply(events=_frames(text)))
    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    fe = FrontEnd()
    with fe.installed(shell):
        shell.run_cell_magic("glm", "--once", "write the report")
    answer, footer = fe.shown
    assert answer == answer_bundle(text, "markdown", final=True)
    assert "glm-4-flash" in footer["text/html"]
    assert all(not out["data"] for out in fe.outputs[1:-1])  # any other output is emptied


def test_a_broken_long_stream_keeps_the_partial_answer_in_one_output(shell, zhipu):
    text = long_markdown(60_000)
    zhipu.push(Reply(events=_frames(text, finish=False)[:100], reset=True))
    shell.run_line_magic("config", "GLMMagics.output = 'notebook'")
    fe = FrontEnd()
    with fe.installed(shell):
        shell.run_cell("%%glm --once\nwrite the report")  # the error is shown as one line
    partial = [o for o in fe.shown if "Findings for region 1" in o.get("text/html", "")]
    assert len(partial) == 1
    got = partial[0]["text/plain"]
    assert 1000 < len(got) < len(text) and text.startswith(got)
    assert partial[0] == answer_bundle(got, "markdown", final=True)
