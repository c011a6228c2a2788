"""Zhipu's tool APIs on our own Client: web search, the reader and moderation, each a ledger
row (priced per call when the price file has a price), refused by a spent budget, and the
same on AsyncClient."""

from __future__ import annotations

import asyncio

import pytest

import glm_magic
from glm_magic import AsyncClient, Client


def test_web_search_is_sdk_shaped_and_a_ledger_row(zhipu):
    glm_magic.pricing.set_price("search_pro", provider="zhipu", per_image=0.03,
                                source="test price")
    found = Client("zhipu").web_search.web_search(search_engine="search_pro",
                                                  search_query="glm-5.3", count=2)
    assert [r.link for r in found.search_result] == ["https://example.com/search/1",
                                                     "https://example.com/search/2"]
    assert found.model_dump()["search_result"][0]["refer"] == "ref_1"
    sent = zhipu.received[-1]
    assert (sent.method, sent.path) == ("POST", "/api/paas/v4/web_search")
    assert sent.json == {"search_engine": "search_pro", "search_query": "glm-5.3", "count": 2}
    row = glm_magic.usage(source="client").iloc[-1]
    assert (row["model"], row["status"], row["images"]) == ("search_pro", "ok", 1)
    assert row["cost"] == pytest.approx(0.03) and row["currency"] == "CNY"


def test_reader_and_moderation_rows_and_failures(zhipu):
    client = Client("zhipu", max_retries=0)
    page = client.web_reader.web_reader(url="https://example.com/a", return_format="markdown")
    assert page.reader_result.content.startswith("# The page at https://example.com/a")
    verdict = client.moderations.create(model="moderation", input="unsafe words")
    assert verdict.result_list[0].risk_level == "high"
    with pytest.raises(glm_magic.BadRequestError):
        client.web_reader.web_reader(url="file:///etc/passwd")
    rows = glm_magic.usage(source="client").tail(3)
    assert list(rows["model"]) == ["web-reader", "moderation", "web-reader"]
    assert list(rows["status"]) == ["ok", "ok", "error"]
    assert rows.iloc[0]["cost_status"] == "unpriced"  # no price in the file: not guessed


def test_a_spent_budget_refuses_a_paid_search_before_it_is_sent(zhipu):
    glm_magic.pricing.set_price("search_pro", provider="zhipu", per_image=0.03,
                                source="test price")
    s = glm_magic.session()
    client = Client("zhipu")
    client.web_search.web_search(search_engine="search_pro", search_query="first")
    s.set_budget(0.01, "CNY")
    sent = len(zhipu.received)
    with pytest.raises(glm_magic.BudgetExceededError):
        client.web_search.web_search(search_engine="search_pro", search_query="second")
    assert len(zhipu.received) == sent
    s.set_budget(None)


def test_the_tool_apis_on_the_async_client(zhipu):
    async def main():
        async with AsyncClient("zhipu") as client:
            found = await client.web_search.web_search(search_engine="search_std",
                                                       search_query="async")
            verdict = await client.moderations.create(model="moderation", input="fine")
            return found.search_result[0].title, verdict.result_list[0].risk_level

    assert asyncio.run(main()) == ("async — result 1", "none")
    assert list(glm_magic.usage(source="client").tail(2)["model"]) == ["search_std",
                                                                      "moderation"]


# --- %glm search and %glm read ------------------------------------------------------------------
def test_glm_search_shows_results_escaped_and_gives_the_frame(shell, zhipu, capsys):
    from glm_magic.testing.loopback import Reply

    hostile = {"search_result": [{"title": "\x1b[2Jnews <script>alert(1)</script>",
                                  "link": "https://example.com/x", "media": "m",
                                  "publish_date": "2026-12-01", "content": "c\u202etxt"}]}
    zhipu.push(Reply(body=hostile))
    shown = shell.run_line_magic("glm", "search -e search_pro -n 1 glm news")
    assert zhipu.received[-1].json == {"search_engine": "search_pro",
                                       "search_query": "glm news", "count": 1}
    title = shown.iloc[0]["title"]
    assert "\x1b" not in title and "\u202e" not in shown.iloc[0]["content"]
    assert "&lt;script&gt;" in shown.to_html() and "<script>" not in shown.to_html()
    shell.run_line_magic("glm", "search --recency oneWeek -o hits GLM-5.3")
    hits = shell.user_ns["hits"]
    assert list(hits.columns) == ["title", "link", "media", "publish_date", "content"]
    assert hits.iloc[0]["link"] == "https://example.com/search/1" and len(hits) == 3
    assert zhipu.received[-1].json["search_recency_filter"] == "oneWeek"
    assert "3 results in hits" in capsys.readouterr().out
    rows = glm_magic.usage(source="magic")
    assert list(rows["model"]) == ["search_pro", "search_std"]


def test_glm_read_shows_the_page_and_keeps_its_text(shell, zhipu, capsys):
    from IPython.core.error import UsageError

    shell.run_line_magic("glm", "read -o page https://example.com/doc")
    assert shell.user_ns["page"] == "# The page at https://example.com/doc\n\nIts text."
    out = capsys.readouterr().out
    assert out.startswith("The page at https://example.com/doc") and "in page" in out
    assert zhipu.received[-1].json == {"url": "https://example.com/doc",
                                       "return_format": "markdown"}
    with pytest.raises(UsageError, match="takes an http"):
        shell.run_line_magic("glm", "read file:///etc/passwd")
    with pytest.raises(UsageError, match="usage: %glm search"):
        shell.run_line_magic("glm", "search")


def test_a_video_is_one_row_priced_per_video_and_polling_is_free(zhipu):
    client = Client("zhipu")
    task = client.videos.generations(model="cogvideox-3", prompt="a cat on a boat")
    assert task.task_status == "PROCESSING"
    states = [client.videos.retrieve_videos_result(task.id).task_status for _ in range(3)]
    assert states == ["PROCESSING", "PROCESSING", "SUCCESS"]
    rows = glm_magic.usage(source="client")
    assert len(rows) == 1 and rows.iloc[0]["model"] == "cogvideox-3"
    assert rows.iloc[0]["cost"] == pytest.approx(1.0) and rows.iloc[0]["currency"] == "CNY"
    with pytest.raises(ValueError, match="not a file or batch id"):
        client.videos.retrieve_videos_result("../x")
