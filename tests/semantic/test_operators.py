"""The semantic operators against a loopback server that answers from a hidden truth table
(which rows match, which pairs join, the true scores), so results are checked, not shapes."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import glm_magic
from glm_magic.semantic import PlanConfirmationError
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body

COMPLAINTS = {"broke after a week", "arrived late and cold", "never works"}


def field(user: str, name: str) -> str:
    m = re.search(rf"^{name}: (.*)$", user, re.M)
    return m.group(1) if m else ""


def truth(rec):
    """What a careful model would answer, from the request alone."""
    body = rec.json
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "Decide whether this statement is true of the item" in system:
        return {"verdict": field(user, "review") in COMPLAINTS}
    if "Classify" in system:
        text = field(user, "review")
        return {"label": "food" if "cold" in text or "tasty" in text else "hardware"}
    if "true of the pair" in system:
        return {"verdict": field(user, "right product").lower() in
                field(user, "left review").lower()}
    if "Score the item" in system:
        return {"score": int(re.search(r"urgency (\d+)", user).group(1))}
    if "A or B" in system:
        a, b = user.split("\n\nB:\n")
        return {"better": "A" if "critical" in a else "B"}
    if "the same thing" in system:
        first, second = user.split("\n\nsecond:\n")
        norm = [re.sub(r"\W", "", field(t, "name").lower()) for t in (first, second)]
        return {"verdict": norm[0] == norm[1]}
    if "Summarise" in system:
        return f"{user.count(chr(10) * 2) + 1} block(s) summarised"
    if "Extract" in system or "answer for them" in system:
        if body.get("response_format"):
            text = field(user, "text")
            return {"city": re.search(r" in (\w+)", text)[1],
                    "year": int(re.search(r"\d{4}", text)[0])}
        return "echo " + field(user, "text")
    raise AssertionError(system)


@pytest.fixture
def oracle(zhipu, monkeypatch):
    echo = zhipu.app

    def app(rec):
        if not rec.path.endswith("/chat/completions"):
            return echo(rec)
        answer = truth(rec)
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return Reply(body=completion_body(text, rec.json.get("model", "glm-4-flash")))

    monkeypatch.setattr(zhipu, "app", app)
    return zhipu


def chats(server):
    return [r for r in server.received if r.path.endswith("/chat/completions")]


REVIEWS = pd.DataFrame({"review": ["broke after a week", "love it", "arrived late and cold",
                                   None, "love it", "tasty and cheap", "never works", ""]})


def test_filter_keeps_the_true_rows_sends_each_distinct_row_once_and_books_it(oracle):
    out = REVIEWS.glm.filter("{review} is a complaint", model="glm-4-plus")
    assert out["review"].tolist() == ["broke after a week", "arrived late and cold",
                                      "never works"]
    assert list(out.index) == [0, 2, 6]
    sent = chats(oracle)
    assert len(sent) == 5  # 8 rows: 2 empty never sent, "love it" twice sent once
    first = sent[0].json["messages"]
    assert first[0]["role"] == "system" and "«review»" in first[0]["content"]
    assert first[-1]["content"].startswith("review: ")  # the row last, after the instruction
    rows = glm_magic.usage()
    assert (rows["source"] == "semantic").all() and set(rows["tags"]) == {"filter"}
    assert out.attrs["glm_plan"]["calls"] == 5
    kept = REVIEWS.glm.filter("{review} is a complaint", keep="verdict")
    assert kept["verdict"].dtype == "boolean" and kept["verdict"].isna().sum() == 2
    assert kept["verdict"].tolist()[:3] == [True, False, True]


def test_the_plan_matches_what_is_then_sent(oracle):
    plan = REVIEWS.glm.filter("{review} is a complaint", model="glm-4-plus", dry_run=True)
    assert not chats(oracle)
    assert plan["calls"] == 5 and plan["empty_rows"] == 2
    assert plan["identical_rows_sent_once"] == 1 and plan["currency"] == "CNY"
    assert plan["cost_batch_api"] == pytest.approx(plan["cost"] / 2)
    REVIEWS.glm.filter("{review} is a complaint", model="glm-4-plus")
    assert len(chats(oracle)) == plan["calls"]


def test_confirm_over_stops_with_the_plan_unless_confirmed(oracle):
    with pytest.raises(PlanConfirmationError, match=r"filter: the plan costs ~¥.* \(5 calls") \
            as info:
        REVIEWS.glm.filter("{review} is a complaint", model="glm-4-plus", confirm_over=1e-9)
    assert "\n" not in str(info.value) and not chats(oracle)
    out = REVIEWS.glm.filter("{review} is a complaint", model="glm-4-plus",
                             confirm_over=1e-9, confirm=True)
    assert len(out) == 3


def test_classify_gives_exactly_the_labels_as_a_category(oracle):
    out = REVIEWS.glm.classify("{review}", labels=["hardware", "food"])
    assert out["label"].dtype == "category"
    assert list(out["label"].cat.categories) == ["hardware", "food"]
    assert out["label"].tolist()[:3] == ["hardware", "hardware", "food"]
    assert out["label"].isna().sum() == 2


def test_map_and_extract_on_a_series(oracle):
    events = pd.Series(["Olympics in Paris 2024", "Expo in Osaka 2025"], name="text")
    typed = events.glm.extract("Extract the event from {text}", {"city": "str", "year": "int"})
    assert typed["city"].tolist() == ["Paris", "Osaka"]
    assert typed["year"].tolist() == [2024, 2025] and typed["text"].tolist() == events.tolist()
    assert str(typed["year"].dtype) == "Int64"
    mapped = events.glm.map("Shorten {text}")
    assert mapped["answer"].tolist() == ["echo Olympics in Paris 2024",
                                         "echo Expo in Osaka 2025"]


def test_join_with_a_prefilter_asks_far_fewer_pairs_and_finds_the_same(oracle):
    products = pd.DataFrame({"product": ["kettle", "toaster", "blender", "lamp", "fan"]})
    reviews = pd.DataFrame({"review": ["the kettle boils fast", "my toaster burns bread",
                                       "this lamp is dim", "fan is noisy at night"]})
    full = reviews.glm.join(products, "{review:left} is about {product:right}")
    calls_full = len(chats(oracle))
    oracle.received.clear()
    fast = reviews.glm.join(products, "{review:left} is about {product:right}", prefilter=2)
    assert calls_full == 20 and len(chats(oracle)) == 8
    assert sorted(zip(fast["review"], fast["product"], strict=True)) == \
        sorted(zip(full["review"], full["product"], strict=True))
    assert len(full) == 4 and fast.attrs["glm_plan"]["calls_saved"] == 12


def test_topk_scores_once_and_compares_only_the_ties_at_the_cut(oracle):
    tickets = pd.DataFrame({"ticket": [f"urgency {u}" + (" (critical)" if i == 7 else "")
                                       for i, u in enumerate([10, 90, 40, 70, 90, 20, 60, 70,
                                                              5, 30])]})
    top = tickets.glm.topk(3, "{ticket} is urgent")
    assert top.index.tolist()[:2] in ([1, 4], [4, 1]) and top.index.tolist()[2] == 7
    assert top["score"].tolist() == [90, 90, 70]
    sent = chats(oracle)
    assert 10 < len(sent) <= 10 + 3  # 10 scores + the two ties reaching into the top 3


def test_agg_summarises_each_group_and_a_large_group_in_pieces(oracle):
    df = pd.DataFrame({"shop": ["a"] * 3 + ["b"] * 40,
                       "review": [f"review number {i} " + "words " * 30 for i in range(43)]})
    out = df.glm.agg("Summarise the reviews", by="shop", max_tokens_per_call=400)
    assert out["shop"].tolist() == ["a", "b"]
    assert out.loc[0, "summary"] == "3 block(s) summarised"  # one call holds group a
    sent = [r.json["messages"][0]["content"] for r in chats(oracle)]
    assert sum("partial summaries" in s for s in sent) >= 1  # group b went in pieces


def test_dedup_keeps_one_row_per_cluster(oracle):
    df = pd.DataFrame({"name": ["Acme Corp.", "ACME corp", "Globex", "Initech", "globex!",
                                "Umbrella"]})
    out = df.glm.dedup("name", threshold=0.5)
    assert out["name"].tolist() == ["Acme Corp.", "Globex", "Initech", "Umbrella"]
    assert out.attrs["glm_clusters"] == {0: [1], 2: [4]}
    assert out.attrs["glm_plan"]["calls"] < 15  # candidates only, not all 15 pairs


def test_a_budget_stops_midway_and_an_empty_table_sends_nothing(oracle):
    s = glm_magic.session()
    empty = pd.DataFrame({"review": pd.Series([], dtype="object")})
    assert len(empty.glm.filter("{review} is a complaint")) == 0 and not chats(oracle)
    s.set_budget(1e-12)
    reviews = pd.DataFrame({"review": [f"never works {i}" for i in range(6)]})
    reviews.glm.filter("{review} is a complaint", model="glm-4-plus", concurrency=1)
    out = reviews.glm.filter("{review} is a complaint", model="glm-4-plus", keep="v",
                             concurrency=1)
    assert out["v"].isna().all() and len(chats(oracle)) <= 1


def test_bad_templates_are_one_line_errors(oracle):
    with pytest.raises(ValueError, match="not columns"):
        REVIEWS.glm.filter("{nope} is a complaint")
    with pytest.raises(ValueError, match="say which table"):
        REVIEWS.glm.join(REVIEWS, "{review} matches {review}")
    with pytest.raises(ValueError, match="two different labels"):
        REVIEWS.glm.classify("{review}", labels=["x"])


def test_row_wise_operators_on_dask(oracle):
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(REVIEWS.dropna().reset_index(drop=True), npartitions=2)
    lazy = ddf.glm.filter("{review} is a complaint")
    out = lazy.compute()
    assert sorted(out["review"]) == sorted(COMPLAINTS)

