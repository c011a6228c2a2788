"""Answers as data: schemas in every form, the mechanism each provider gets, local checking,
repairs as ledger rows, typed batch columns, `%%glm --schema`, and the local grammar."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from IPython.core.error import UsageError

import glm_magic
from glm_magic.schema import Schema, SchemaError
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body

REVIEW = {"sentiment": ["positive", "negative", "neutral"], "score": float,
          "reasons": list[str], "spam": bool, "stars": int}


def test_every_schema_form_becomes_one_json_schema():
    from typing import Literal

    pydantic = pytest.importorskip("pydantic")

    class Review(pydantic.BaseModel):
        sentiment: Literal["positive", "negative"]
        score: float

    short = Schema.of({"sentiment": ["positive", "negative"], "score": float})
    typed = Schema.of({"sentiment": Literal["positive", "negative"], "score": "float"})
    assert short.json_schema == typed.json_schema
    assert short.json_schema["required"] == ["sentiment", "score"]
    assert short.json_schema["additionalProperties"] is False
    from_json = Schema.of(json.dumps(short.json_schema))
    assert from_json.json_schema == short.json_schema
    openai_form = Schema.of(short.response_format())
    assert openai_form.json_schema == short.json_schema
    model = Schema.of(Review)
    assert model.model is Review and [f.name for f in model.fields] == ["sentiment", "score"]
    value, error = model.parse('{"sentiment": "negative", "score": 0.2}')
    assert error is None and isinstance(value, Review) and value.score == 0.2


@pytest.mark.parametrize("spec, message", [
    ({}, "at least one field"),
    ({"x": "complex"}, "unknown type 'complex'"),
    ({"x": []}, "at least one value"),
    ({"x": object}, "cannot use"),
    ("{not json", "not valid JSON"),
    ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "not a valid JSON Schema"),
])
def test_a_bad_schema_says_which_field_and_why(spec, message):
    with pytest.raises(SchemaError, match=message):
        Schema.of(spec)


def test_near_misses_are_mended_and_real_errors_named():
    s = Schema.of(REVIEW)
    value, error = s.parse('```json\n{"sentiment": "Positive", "score": "0.9", '
                           '"reasons": ["fast"], "spam": "false", "stars": 4.0}\n```')
    assert error is None
    assert value == {"sentiment": "positive", "score": 0.9, "reasons": ["fast"],
                     "spam": False, "stars": 4}
    _, error = s.parse('{"sentiment": "great", "score": 1, "reasons": [], "spam": false, '
                       '"stars": 1}')
    assert error.startswith("sentiment: 'great' is not one of")
    _, error = s.parse('Sure! {"sentiment": "positive"}')
    assert "required property" in error
    assert s.parse('{"sentiment": "pos')[1] == \
        "the JSON in the answer is incomplete (cut off by max_tokens?)"
    assert s.parse("")[1] == "the answer is empty"


def test_each_provider_gets_its_strongest_mechanism(zhipu, oai):
    s = Schema.of({"label": ["a", "b"]})
    glm_magic.Client("openai", record=False).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
        response_format=s.response_format())
    sent = oai.received[-1].json
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == s.json_schema
    assert sent["messages"] == [{"role": "user", "content": "x"}]
    messages = [{"role": "user", "content": "x"}]
    resp = glm_magic.Client("zhipu", record=False).chat.completions.create(
        model="glm-4-flash", messages=messages, response_format=s.response_format())
    sent = zhipu.received[-1].json
    assert sent["response_format"] == {"type": "json_object"}
    assert s.text() in sent["messages"][-1]["content"]
    assert messages == [{"role": "user", "content": "x"}]  # the caller's list is untouched
    assert json.loads(resp.choices[0].message.content) == {"label": "a"}


def test_providers_without_a_json_mode_get_the_schema_in_words(v3):
    s = Schema.of({"label": ["a", "b"]})
    glm_magic.Client("zhipu_v3", record=False).chat.completions.create(
        model="chatglm_turbo", messages=[{"role": "user", "content": "x"}],
        response_format=s.response_format())
    sent = v3.received[-1].json
    assert "response_format" not in sent
    assert s.text() in json.dumps(sent, ensure_ascii=False).replace("\\", "")


def test_an_invalid_answer_is_repaired_once_and_each_call_is_a_row(zhipu):
    zhipu.push(Reply(body=completion_body('{"label": "c"}', "glm-4-flash")))
    s = glm_magic.session()
    from glm_magic.structured import ask

    answer = ask(s, "pick one", {"label": ["a", "b"]}, stream=False, once=True)
    assert answer.ok and answer.value == {"label": "a"} and answer.repairs == 1
    repair = zhipu.received[-1].json["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"label": "c"}'}
    assert "label: 'c' is not one of ['a', 'b']" in repair[-1]["content"]
    rows = glm_magic.usage()
    assert len(rows) == 2 and list(rows["tags"].fillna("")) == ["", "repair"]


def test_a_conversation_keeps_the_repaired_answer(zhipu):
    zhipu.push(Reply(body=completion_body("no json here", "glm-4-flash")))
    from glm_magic.structured import ask

    answer = ask(glm_magic.session(), "pick", {"label": ["a", "b"]}, stream=False)
    assert answer.ok
    conv = glm_magic.session().chat()
    assert [m["role"] for m in conv.messages] == ["user", "assistant"]
    assert json.loads(conv.messages[-1]["content"]) == {"label": "a"}


def test_batch_returns_typed_columns_and_marks_invalid_rows(zhipu):
    bad = '{"sentiment": "meh", "score": 1, "reasons": [], "spam": false, "stars": 1}'
    good = {"sentiment": "positive", "score": 0.5, "reasons": ["ok"], "spam": False, "stars": 3}

    def reply(rec):  # row c answers invalid twice (first try and its one repair)
        sent = json.dumps(rec.json)
        text = bad if "broken" in sent else json.dumps(
            dict(good, sentiment="negative", spam=True, reasons=[]) if "free" in sent else good)
        return Reply(body=completion_body(text, "glm-4-flash"))

    zhipu.push(*[reply] * 4)
    df = pd.DataFrame({"text": ["great phone", "awful, win a free prize", "broken"]},
                      index=["a", "b", "c"])
    out = glm_magic.batch(df, template="Review: {text}", schema=REVIEW, concurrency=1,
                          progress=False)
    assert list(out.index) == ["a", "b", "c"]
    assert list(out.columns[:8]) == ["answer", "status", "error", "prompt_tokens",
                                     "completion_tokens", "cost", "latency_s", "attempts"]
    assert isinstance(out["sentiment"].dtype, pd.CategoricalDtype)
    assert list(out["sentiment"].cat.categories) == ["positive", "negative", "neutral"]
    assert out["score"].dtype == "float64" and str(out["stars"].dtype) == "Int64"
    assert str(out["spam"].dtype) == "boolean" and out["reasons"].dtype == object
    assert list(out["status"]) == ["ok", "ok", "invalid"]
    assert out.loc["c", "error"].startswith("sentiment: 'meh' is not one of")
    assert pd.isna(out.loc["c", "sentiment"]) and pd.isna(out.loc["c", "stars"])
    assert out.loc["a", "reasons"] == ["ok"] and bool(out.loc["b", "spam"]) is True
    ledger = glm_magic.usage()
    assert (ledger["tags"] == "repair").sum() == 1  # only row c needed a repair


def test_batch_refuses_a_field_that_would_overwrite_a_column(zhipu):
    with pytest.raises(ValueError, match="status"):
        glm_magic.batch(["x"], schema={"status": str}, progress=False)


def test_batch_dry_run_shows_the_request_with_the_schema_and_its_cost(zhipu):
    est = glm_magic.batch(["one", "two"], schema={"label": ["a", "b"]}, dry_run=True,
                          progress=False)
    assert est["schema_tokens_per_row"] > 0
    assert est["request"]["response_format"] == {"type": "json_object"}
    assert '"enum":["a","b"]' in est["request"]["messages"][-1]["content"]
    plain = glm_magic.batch(["one", "two"], dry_run=True, progress=False)
    assert est["prompt_tokens"] > plain["prompt_tokens"]
    assert {r.path.rsplit("/", 1)[-1] for r in zhipu.received} == {"tokenizer"}


def test_the_cell_shows_a_table_and_o_gets_the_value(shell, zhipu, capsys):
    shell.user_ns["Review"] = REVIEW
    shell.run_cell_magic("glm", "--schema Review -o r --no-stream", "a neutral review: free prize")
    r = shell.user_ns["r"]
    assert r["sentiment"] == "neutral" and r["spam"] is True and isinstance(r["score"], float)
    out = capsys.readouterr().out
    assert "sentiment  neutral" in out and "spam       true" in out
    shell.run_cell_magic("glm", """--schema '{"lang": ["en", "fr"]}' -o lang""", "fr text")
    assert shell.user_ns["lang"] == {"lang": "fr"}


def test_the_cell_says_in_one_line_when_the_answer_stays_invalid(shell, zhipu):
    for _ in range(2):
        zhipu.push(Reply(body=completion_body('{"lang": "de"}', "glm-4-flash")))
    from glm_magic.cell_errors import CallFailed

    shell.user_ns.pop("not_valid_out", None)
    with pytest.raises(CallFailed, match=r"InvalidAnswerError: .*does not match the schema "
                       r"\(lang: 'de' is not one of \['en', 'fr'\]\) after 1 repair"):
        shell.run_cell_magic("glm", "--schema '{\"lang\": [\"en\", \"fr\"]}' "
                             "-o not_valid_out --no-stream", "text")
    assert "not_valid_out" not in shell.user_ns


@pytest.mark.parametrize("spec, message", [
    ("nowhere", "no variable 'nowhere'"),
    ("'{\"a\": \"complex\"}'", "unknown type 'complex'"),
])
def test_a_bad_schema_option_is_a_usage_error(shell, zhipu, spec, message):
    with pytest.raises(UsageError, match=message):
        shell.run_cell_magic("glm", f"--schema {spec}", "x")
    assert zhipu.received == []


def test_the_dry_run_shows_the_schema_as_sent(shell, zhipu, capsys):
    shell.run_cell_magic("glm", """--schema '{"lang": ["en", "fr"]}' --dry-run -p openai""",
                         "x")
    out = capsys.readouterr().out
    assert '"type": "json_schema"' in out and '"enum": [' in out


def test_the_bundled_model_answers_valid_json_through_the_grammar():
    schema = {"sentiment": ["positive", "negative", "neutral"], "spam": bool}
    df = pd.DataFrame({"text": ["I love it, wonderful!", "Horrible and broken."]})
    out = glm_magic.batch(df, template="Sentiment of: {text}", schema=schema,
                          provider="local", temperature=0, max_tokens=40, progress=False)
    assert list(out["status"]) == ["ok", "ok"], out["error"].tolist()
    assert set(out["sentiment"].dropna()) <= {"positive", "negative", "neutral"}
    assert str(out["spam"].dtype) == "boolean" and out["spam"].notna().all()


def test_the_fast_check_never_passes_what_jsonschema_refuses():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from glm_magic.schema import _fast_valid

    s = Schema.of({"label": ["a", "b"], "n": int, "x": float, "ok": bool, "tags": list[str],
                   "inner": {"k": "str"}})
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | \
        st.sampled_from(["a", "b", "c", ""])
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["label", "n", "x", "ok", "tags", "inner", "k", "zz"]), inner,
        max_size=7), max_leaves=12)

    @settings(max_examples=400, deadline=None)
    @given(values)
    def check(value):
        if _fast_valid(value, s.json_schema):
            assert s._validator.is_valid(value)

    check()
    good = {"label": "a", "n": 1, "x": 2, "ok": True, "tags": [], "inner": {"k": "v"}}
    assert _fast_valid(good, s.json_schema) and s.first_error(good) is None
