"""web-search-pro (`client.tools.web_search`, JSON and streamed), the file parser
(`client.file_parser`, `%glm parse`) and server-side MCP tools on our own Client and in the
notebook: what the server receives, what the user sees, and the ledger row each call leaves."""

from __future__ import annotations

import asyncio
import zlib

import pytest

import glm_magic
from glm_magic import AsyncClient, Client
from glm_magic.testing.loopback import Reply, sse
from glm_magic.testing.zhipu import completion_body
from glm_magic.testing.zhipu_tools import sample_docx

ASK = [{"role": "user", "content": "glm-5.3 release"}]


def test_search_agent_answers_its_steps_as_tool_calls_in_one_row(zhipu):
    answer = Client("zhipu").tools.web_search(model="web-search-pro", messages=ASK,
                                              recent_days=7)
    calls = answer.choices[0].message.tool_calls
    assert [c.type for c in calls] == ["search_intent", "search_result", "search_recommend"]
    assert calls[1].search_result[0].link == "https://example.com/search/1"
    assert zhipu.received[-1].path == "/api/paas/v4/tools"
    assert zhipu.received[-1].json == {"model": "web-search-pro", "messages": ASK,
                                       "recent_days": 7}
    row = glm_magic.usage(source="client").iloc[-1]
    assert (row["model"], row["status"], row["images"]) == ("web-search-pro", "ok", 1)


def test_a_streamed_search_is_read_as_it_comes_and_booked_when_it_ends(zhipu):
    stream = Client("zhipu").tools.web_search(model="web-search-pro", messages=ASK,
                                              stream=True)
    assert len(glm_magic.usage(source="client")) == 0  # not ended yet
    steps = [(c.delta.tool_calls[0].type if c.delta.tool_calls else c.finish_reason)
             for item in stream for c in item.choices]
    assert steps == ["search_intent", "search_result", "search_recommend", "stop"]
    assert zhipu.received[-1].json["stream"] is True
    rows = glm_magic.usage(source="client")
    assert len(rows) == 1 and rows.iloc[0]["status"] == "ok"


@pytest.mark.parametrize("one_read", [False, True], ids=["frames apart", "in one read"])
def test_an_error_event_mid_stream_raises_and_is_an_error_row(zhipu, one_read):
    """The event before the error is handed out first, also when both came in one read."""
    first = {"id": "s", "choices": [{"index": 0, "delta": {"role": "tool", "tool_calls": [
        {"index": 0, "type": "search_intent", "search_intent": []}]}}]}
    frames = sse(first, {"error": {"code": "1214", "message": "bad query"}})
    zhipu.push(Reply(events=[b"".join(frames)] if one_read else frames))
    seen = []
    with pytest.raises(glm_magic.BadRequestError, match="bad query"):
        for item in Client("zhipu", max_retries=0).tools.web_search(
                model="web-search-pro", messages=ASK, stream=True):
            seen.append(item)
    assert len(seen) == 1
    rows = glm_magic.usage(source="client")
    assert list(rows["status"]) == ["error"]


def test_a_stream_closed_early_is_still_one_row(zhipu):
    with Client("zhipu").tools.web_search(model="web-search-pro", messages=ASK,
                                          stream=True) as stream:
        next(iter(stream))
    assert len(glm_magic.usage(source="client")) == 1


def test_the_search_agent_streams_on_the_async_client(zhipu):
    async def main():
        async with AsyncClient("zhipu") as client:
            stream = await client.tools.web_search(model="web-search-pro", messages=ASK,
                                                   stream=True)
            return [item.choices[0].finish_reason async for item in stream]

    assert asyncio.run(main()) == [None, None, None, "stop"]
    assert len(glm_magic.usage(source="client")) == 1


# --- the file parser --------------------------------------------------------------------------
def _pdf(path, lines):
    shown = b"".join(b"BT (" + line.encode().replace(b")", b"\\)") + b") Tj ET\n"
                     for line in lines)
    stream = zlib.compress(shown)
    head = f"1 0 obj << /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
    path.write_bytes(b"%PDF-1.4\n" + head + stream + b"\nendstream\nendobj\n%%EOF\n")
    return path


def test_parse_reads_word_pdf_and_text_files_and_books_one_row_each(zhipu, tmp_path):
    parser = Client("zhipu").file_parser
    docx = sample_docx(str(tmp_path / "report.docx"), ["Quarterly report", "Sales rose 4%."])
    assert parser.parse(docx, poll_s=0) == "Quarterly report\nSales rose 4%."
    assert parser.parse(_pdf(tmp_path / "memo.pdf", ["Memo (draft)", "Ship on Friday."]),
                        poll_s=0) == "Memo (draft)\nShip on Friday."
    (tmp_path / "notes.md").write_text("# Notes\n\nall good", encoding="utf-8")
    assert parser.parse(tmp_path / "notes.md", poll_s=0) == "# Notes\n\nall good"
    created = zhipu.requests_to("/files/parser/create")
    assert [r.method for r in created] == ["POST"] * 3
    polls = zhipu.requests_to("/files/parser/result/")
    assert len(polls) == 6 and all(r.path.endswith("/text") for r in polls)
    rows = glm_magic.usage(source="client")
    assert list(rows["model"]) == ["file-parser-lite"] * 3  # polling is free
    assert set(rows["cost_status"]) == {"unpriced"}  # no published price: not guessed


def test_a_document_the_parser_cannot_read_is_a_one_line_error(zhipu, tmp_path):
    bad = tmp_path / "scan.txt"
    bad.write_text("unreadable scan", encoding="utf-8")
    with pytest.raises(glm_magic.BadRequestError, match="could not read the document"):
        Client("zhipu").file_parser.parse(bad, poll_s=0)


def test_each_parsing_tool_reads_its_own_file_types(zhipu, tmp_path):
    docx = sample_docx(str(tmp_path / "a.docx"), ["x"])
    with pytest.raises(ValueError, match="the expert parser reads pdf files, not docx"):
        Client("zhipu").file_parser.create(file=docx, tool_type="expert")
    assert zhipu.requests_to("/files/parser") == []


def test_glm_parse_shows_the_text_and_a_prompt_can_use_it(shell, zhipu, tmp_path, capsys):
    from IPython.core.error import UsageError

    docx = sample_docx(str(tmp_path / "report.docx"),
                       ["Quarterly report", "Sales rose 4% <script>alert(1)</script>"])
    shell.run_line_magic("glm", f"parse -o report {docx}")
    assert shell.user_ns["report"] == "Quarterly report\nSales rose 4% <script>alert(1)</script>"
    out = capsys.readouterr().out
    assert out.startswith("report.docx") and "use it as {report} in a prompt" in out
    shell.run_cell_magic("glm", "--no-stream", "Summarise: {report}")
    assert "Sales rose 4%" in zhipu.received[-1].json["messages"][-1]["content"]
    assert list(glm_magic.usage(source="magic")["model"]) == ["file-parser-lite", "glm-4-flash"]
    with pytest.raises(UsageError, match="no file at"):
        shell.run_line_magic("glm", "parse missing.pdf")
    (tmp_path / "tool.exe").write_bytes(b"MZ")
    with pytest.raises(UsageError, match="the lite parser reads pdf, docx"):
        shell.run_line_magic("glm", f"parse {tmp_path / 'tool.exe'}")


# --- server-side MCP tools --------------------------------------------------------------------
def test_mcp_tools_pass_through_and_their_calls_are_listed(shell, zhipu, capsys):
    shell.run_cell_magic("glm", "--no-stream --mcp search-mcp", "AI trends")
    assert zhipu.received[-1].json["tools"] == [{"type": "mcp", "mcp": {
        "server_label": "search-mcp", "transport_type": "streamable-http"}}]
    out = capsys.readouterr().out
    assert "echo: AI trends" in out
    assert "🔌 search-mcp: tools search" in out
    assert '🔌 search-mcp · search({"query": "AI trends"}) → search-mcp found: AI trends' in out
    shell.run_cell_magic("glm", "--mcp docs=https://mcp.example.com/mcp", "AI trends")
    assert zhipu.received[-1].json["tools"][0]["mcp"]["server_url"] == \
        "https://mcp.example.com/mcp"
    assert "🔌 docs · search(" in capsys.readouterr().out


def test_an_mcp_tools_output_is_shown_escaped_in_the_notebook(zhipu):
    from IPython.utils.capture import capture_output

    from glm_magic.render.views import NotebookView

    hostile = completion_body("done", "glm-4.6")
    hostile["choices"][0]["message"]["tool_calls"] = [{"id": "m1", "type": "mcp", "mcp": {
        "id": "m1", "type": "mcp_call", "server_label": "x<b>y</b>", "name": "fetch",
        "arguments": "{}", "output": "<img src=x onerror=alert(1)>$$\\begin{x}$$"}}]
    zhipu.push(Reply(body=hostile))
    comp = Client("zhipu").chat.completions.create(model="glm-4.6", messages=ASK, tools=[
        {"type": "mcp", "mcp": {"server_label": "x"}}])
    with capture_output() as shown:
        NotebookView("markdown", footer=False).finish(comp)
    html = "".join(o.data.get("text/html", "") for o in shown.outputs)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "x&lt;b&gt;y&lt;/b&gt;" in html


def test_mcp_steps_are_not_run_locally_nor_sent_back(shell, zhipu):
    """An answer whose only tool calls are MCP steps ends the tool loop, and the steps stay
    out of the conversation sent next."""
    body = completion_body("", "glm-4.6", finish_reason="tool_calls")
    body["choices"][0]["message"]["tool_calls"] = [{"id": "m1", "type": "mcp", "mcp": {
        "type": "mcp_call", "server_label": "s", "name": "n", "output": "o"}}]
    zhipu.push(Reply(body=body))
    shell.user_ns["noop"] = lambda: "x"
    shell.run_cell_magic("glm", "--no-stream --tools noop --mcp s", "go")
    shell.run_cell_magic("glm", "--no-stream", "and then?")
    history = zhipu.received[-1].json["messages"]
    assert all("tool_calls" not in m for m in history)
    assert len(zhipu.requests_to("/chat/completions")) == 2


def test_streamed_tool_call_pieces_dump_the_sdk_fields():
    from glm_magic.types.chat import DeltaToolCall

    piece = DeltaToolCall.from_dict({"index": 1, "function": {"arguments": "{\"a\""}})
    assert piece.model_dump() == {"index": 1, "id": None, "type": None,
                                  "function": {"arguments": "{\"a\"", "name": None}}
