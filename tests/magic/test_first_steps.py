"""What a newcomer meets first, checked as they would see it: the demo's printed answers,
schema answers on the bundled model, charts' tick labels, inline `--schema` JSON, the no-key
message, and the messages and docs around them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import glm_magic
from glm_magic.testing.loopback import Reply
from glm_magic.testing.zhipu import completion_body

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_prints_the_answers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIPUAI", "OPENAI"))}
    env["GLM_MAGIC_LEDGER"] = str(tmp_path / "demo.sqlite")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "> What is the capital of France?\nThe capital of France is Paris." in out
    assert "> Which river flows through it?\nThe Seine." in out
    assert "gemma-3-270m" in out and "free]" in out


# --- schema answers on the bundled model ---------------------------------------------------
def test_a_list_schema_on_the_bundled_model_is_valid_and_quick(shell):
    shell.user_ns["person"] = {"name": str, "age": int, "hobbies": list[str]}
    with capture_output():
        shell.run_cell_magic("glm", "-p local -t 0 --once --schema person -o p",
                             "Invent a person: a name, an age and their hobbies.")
    value = shell.user_ns["p"]
    assert isinstance(value["name"], str) and isinstance(value["age"], int)
    assert isinstance(value["hobbies"], list) and 1 <= len(value["hobbies"]) <= 10
    row = glm_magic.usage().iloc[-1]
    assert row["status"] == "ok" and row["completion_tokens"] < 200


def test_the_grammar_bounds_lists_by_max_tokens():
    from glm_magic.providers.local import bounded, max_items

    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {
        "type": "array", "items": {"type": "string"}}}, "b": {"type": "array", "minItems": 12}}}
    out = bounded(schema, max_items(256))
    assert out["properties"]["a"]["maxItems"] == 10
    assert out["properties"]["a"]["items"]["maxItems"] == 10
    assert out["properties"]["b"]["maxItems"] == 12  # never below the schema's own minimum
    assert "maxItems" not in schema["properties"]["a"]  # the schema as written is unchanged
    assert max_items(30) == 1


def test_a_json_answer_cut_off_by_max_tokens_is_invalid_in_the_ledger(zhipu):
    from glm_magic.structured import ask

    body = completion_body('{"name": "Ann", "hobbies": ["a", "b', "glm-4-flash")
    body["choices"][0]["finish_reason"] = "length"
    zhipu.push(Reply(body=body))
    answer = ask(glm_magic.session(), "a person", {"name": str, "hobbies": list[str]},
                 max_repairs=0, stream=False, once=True, max_tokens=12)
    assert not answer.ok
    row = glm_magic.usage().iloc[-1]
    assert row["status"] == "invalid" and "cut off by max_tokens" in row["error"]


# --- charts -------------------------------------------------------------------------------
def _ledger_at(tmp_path, times):
    from glm_magic.ledger import Ledger

    led = Ledger(tmp_path / f"l{len(times)}.sqlite")
    for i, t in enumerate(times):
        led.append({"time": t, "call_id": f"c{i}", "attempt": 1, "provider": "zhipu",
                    "model": "glm-4-plus", "source": "magic", "status": "ok", "cost": 0.01,
                    "currency": "CNY", "cost_status": "priced"})
    return led.frame()


@pytest.mark.parametrize("gaps", [[0], [0, 3, 7], [0, 40 * 86400, 95 * 86400]],
                         ids=["one call", "seconds apart", "months apart"])
def test_cost_chart_ticks_read_well(tmp_path, gaps):
    from glm_magic.ledger import plot

    now = time.time()
    df = _ledger_at(tmp_path, [now - 100 * 86400 + g for g in gaps])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot(df, "cost")
        fig.savefig(tmp_path / "chart.png")
    # a ResourceWarning is an earlier test's socket collected meanwhile, not the chart's
    assert not [w for w in caught if not issubclass(w.category, ResourceWarning) and
                ("matplotlib" in str(w.filename) or "glm_magic" in str(w.filename))], \
        [str(w.message) for w in caught]
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert 2 <= len(labels) <= 8, labels
    assert len(set(labels)) == len(labels), labels  # no tick label repeats
    assert (tmp_path / "chart.png").stat().st_size > 5000


# --- --schema inline JSON ------------------------------------------------------------------
@pytest.mark.parametrize("spec", ['{"city": "str", "population_millions": "float"}',
                                  '{"city":"str","population_millions":"float"}',
                                  "'{\"city\": \"str\", \"population_millions\": \"float\"}'"])
def test_inline_schema_json_as_written(shell, zhipu, spec):
    zhipu.push(Reply(body=completion_body('{"city": "Paris", "population_millions": 2.1}',
                                          "glm-4-flash")))
    with capture_output():
        shell.run_cell_magic("glm", f"--once --schema {spec} -o c -t 0", "Biggest city of France?")
    assert shell.user_ns["c"] == {"city": "Paris", "population_millions": 2.1}
    sent = zhipu.received[-1].json
    assert "population_millions" in str(sent)


def test_an_unclosed_inline_schema_is_one_line(shell):
    with pytest.raises(UsageError, match="no closing brace"):
        shell.run_cell_magic("glm", '--schema {"city": "str"', "q")


# --- no key --------------------------------------------------------------------------------
def test_client_without_a_key_says_what_to_do_in_python():
    from glm_magic import Client, errors

    client = Client()
    with pytest.raises(errors.ConfigurationError) as ei:
        client.chat.completions.create(model="glm-4-flash",
                                       messages=[{"role": "user", "content": "hi"}])
    text = str(ei.value)
    assert "ZHIPUAI_API_KEY" in text and 'Client(provider="local")' in text
    assert 'model="default"' in text and "-m local" not in text and "\n" not in text
    resp = client.chat.completions.create(model="default", max_tokens=8, temperature=0,
                                          messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content  # the README's example works without a key


# --- messages --------------------------------------------------------------------------------
def test_subcommand_typos_and_the_help_list(shell):
    with pytest.raises(UsageError, match="did you mean usage\\?"):
        shell.run_line_magic("glm", "usge")
    doc = shell.find_magic("glm").__doc__
    for name in ("login", "fix", "trust"):
        assert name in doc


def test_stale_prices_are_said_once_and_never_for_free_models(shell, capsys):
    with capture_output() as local:
        frame = shell.run_line_magic("glm", "models local")
    assert "older than" not in local.stdout
    assert not frame["price_stale"].fillna(False).any()
    with capture_output() as first:
        shell.run_line_magic("glm", "models zhipu")
    with capture_output() as second:
        frame = shell.run_line_magic("glm", "models zhipu")
    stale = frame["price_stale"].fillna(False).astype(bool)
    assert not frame.loc[frame["free"], "price_stale"].fillna(False).any()
    if stale.any():
        assert first.stdout.count("older than") == 1 and "older than" not in second.stdout


def test_local_rows_summarise_as_free(tmp_path):
    from glm_magic.ledger import Ledger, summarize

    led = Ledger(tmp_path / "l.sqlite")
    led.append({"time": time.time(), "call_id": "a", "attempt": 1, "provider": "local",
                "model": "gemma", "source": "magic", "status": "ok", "cost": 0.0,
                "cost_status": "free"})
    assert summarize(led.frame(), "model").iloc[0]["currency"] == "free"


def test_glm_magic_ledger_changed_after_the_first_call_moves_the_ledger(
        zhipu, monkeypatch, tmp_path, capsys):
    s = glm_magic.session()
    s.complete("one", stream=False)
    moved = tmp_path / "moved.sqlite"
    monkeypatch.setenv("GLM_MAGIC_LEDGER", str(moved))
    s.complete("two", stream=False)
    assert "GLM_MAGIC_LEDGER changed" in capsys.readouterr().out
    assert moved.exists() and len(glm_magic.usage()) == 1


# --- docs and setup ------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_tutorials_start_with_their_title_and_describe_the_apis(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    text = "\n".join(c.source for c in nb.cells)
    assert "Seed 00" not in text and "seeds/" not in text


def test_the_chat_panel_tutorial_shows_the_panel():
    nb = nbformat.read(ROOT / "notebooks" / "03-chat-panel.ipynb", as_version=4)
    assert "chat-panel.png" in "\n".join(c.source for c in nb.cells)
    png = ROOT / "docs" / "chat-panel.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_make_lab_runs_as_root_and_the_readme_says_what_setup_needs():
    done = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    assert "--allow-root" in done.stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for words in ("What setup needs", "cmake", "postgresql", "chromium",
                  "Use it in your own Jupyter", "pip install -e '.[local]'",
                  "--schema '{", '--schema {"city"'):
        assert words in readme, words
    site_home = readme.replace("](bench/README.md)", "](benchmarks.md)")
    assert "](bench/" not in site_home  # the docs site has every page the home links to


def test_build_outputs_are_not_tracked():
    tracked = subprocess.run(["git", "ls-files", ".cache", "build"], cwd=ROOT,
                             capture_output=True, text=True).stdout
    assert not tracked.strip()
    ignored = subprocess.run(["git", "check-ignore", "-q", ".cache/mkdocs-jupyter/x.json"],
                             cwd=ROOT)
    assert ignored.returncode == 0
