"""One settings object per session: %config (either spelling), pyproject.toml and code all set
it, and every front-end reads it. The local model answers through the same HTTP interface."""

from __future__ import annotations

import json
import warnings

import httpx
import pytest
from glm_magic.magics import GLMMagics
from glm_magic.settings import GLMSettings

import glm_magic


def test_both_spellings_set_the_one_settings_object(shell, zhipu):
    shell.run_line_magic("config", "GLMSettings.model = 'glm-4-air'")
    assert glm_magic.session().settings.model == "glm-4-air"
    shell.run_cell_magic("glm", "", "x")
    assert zhipu.received[-1].json["model"] == "glm-4-air"
    shell.run_line_magic("config", "GLMMagics.model = 'glm-4-plus'")
    assert glm_magic.session().settings.model == "glm-4-plus"
    assert shell.magics_manager.registry["GLMMagics"].model == "glm-4-plus"
    shell.run_cell_magic("glm", "", "y")
    assert zhipu.received[-1].json["model"] == "glm-4-plus"


def test_the_magic_keeps_only_display_traits():
    assert set(GLMMagics.class_trait_names(config=True)) == {
        "stream", "format", "show_footer", "output", "interpolate"}
    assert {"model", "temperature", "budget", "providers"} <= set(
        GLMSettings.class_trait_names(config=True))


def test_config_listing_shows_the_settings_without_warnings(shell, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Config option not recognized" would be a warning
        shell.run_line_magic("config", "GLMMagics.temperature = 0.4")
        shell.run_line_magic("config", "GLMMagics.format = 'text'")
    shell.run_line_magic("config", "GLMMagics")
    out = capsys.readouterr().out
    assert "GLMMagics.format" in out and "GLMSettings.temperature" in out
    assert shell.magics_manager.registry["GLMMagics"].format == "text"
    shell.run_line_magic("config", "")
    assert "GLMSettings" in capsys.readouterr().out


def test_a_setting_made_in_code_reaches_the_magic_panel_and_batch(shell, zhipu):
    from glm_magic.widget import ChatPanel

    glm_magic.session().settings.temperature = 0.35
    shell.run_cell_magic("glm", "", "x")
    assert zhipu.received[-1].json["temperature"] == 0.35
    assert ChatPanel(provider="zhipu", chat="p").temperature_w.value == 0.35
    glm_magic.batch(["y"], progress=False)
    assert zhipu.received[-1].json["temperature"] == 0.35


def test_bad_values_are_refused_in_one_line_and_the_old_value_kept(shell, capsys):
    shell.run_line_magic("config", "GLMMagics.budget = '5 CNY'")
    assert glm_magic.session().budget == (5.0, "CNY")
    shell.run_line_magic("config", "GLMMagics.budget = 'lots'")
    err = capsys.readouterr().err
    assert "budget must look like '5 CNY'" in err and "keeping '5 CNY'" in err
    assert glm_magic.session().budget == (5.0, "CNY")
    shell.run_line_magic("config", "GLMSettings.exchange_rate = 'USD'")
    assert "exchange_rate must look like 'USD 0.14'" in capsys.readouterr().err
    assert glm_magic.session().exchange_rate is None
    with pytest.raises(Exception, match="must not be negative"):
        glm_magic.session().settings.timeout = -1.0


def test_the_ledger_location_is_decided_in_one_place(shell, tmp_path, monkeypatch):
    configured = tmp_path / "configured.sqlite"
    shell.run_line_magic("config", f"GLMSettings.ledger_path = {str(configured)!r}")
    assert glm_magic.session().ledger.path != str(configured)  # GLM_MAGIC_LEDGER wins
    monkeypatch.delenv("GLM_MAGIC_LEDGER")
    shell.run_line_magic("config", "GLMSettings.ledger_path = None")
    shell.run_line_magic("config", f"GLMSettings.ledger_path = {str(configured)!r}")
    assert glm_magic.session().ledger.path == str(configured)


def test_settings_survive_reloading_the_extension(shell):
    glm_magic.session().settings.system = "Be brief."
    shell.run_line_magic("reload_ext", "glm_magic")
    assert shell.magics_manager.registry["GLMMagics"].system == "Be brief."
    assert sum(isinstance(c, GLMSettings) for c in shell.configurables) == 1
    shell.extension_manager.unload_extension("glm_magic")
    assert not any(isinstance(c, GLMSettings) for c in shell.configurables)


def test_the_local_model_speaks_the_openai_wire_format_in_process():
    from glm_magic.providers.local import LocalModelTransport, LocalProvider

    provider = LocalProvider()
    client = glm_magic.Client("local", record=False)
    assert isinstance(client._http._transport, LocalModelTransport)
    http = httpx.Client(transport=provider.http_transport())
    body = {"model": "default", "max_tokens": 6, "temperature": 0,
            "messages": [{"role": "user", "content": "Say hi"}]}
    whole = http.post("http://local.model/chat/completions", json=body).json()
    assert whole["object"] == "chat.completion" and whole["usage"]["completion_tokens"] > 0
    with http.stream("POST", "http://local.model/chat/completions",
                     json={**body, "stream": True}) as r:
        assert r.headers["content-type"] == "text/event-stream"
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    last = json.loads(lines[-2][len("data: "):])
    assert last["choices"][0]["finish_reason"] and last["usage"]["total_tokens"] > 0
    text = "".join(json.loads(x[6:])["choices"][0]["delta"].get("content") or ""
                   for x in lines[:-1])
    assert text.strip() == whole["choices"][0]["message"]["content"]
    with pytest.raises(glm_magic.NotFoundError, match="no /images/generations endpoint"):
        http.post("http://local.model/images/generations", json={"prompt": "x"})
