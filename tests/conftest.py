from __future__ import annotations

import os
from pathlib import Path

import pytest

from glm_magic.testing.zhipu import API_KEY, ZhipuServer

ENV_VARS = ("ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
            "QIANFAN_AK", "QIANFAN_SK", "QIANFAN_BASE_URL", "DASHSCOPE_API_KEY",
            "DASHSCOPE_BASE_URL", "GLM_MAGIC_LEDGER", "GLM_MAGIC_PRICES",
            "QIANFAN_ACCESS_KEY", "QIANFAN_SECRET_KEY", "ZHIPUAI_V3_BASE_URL",
            "DASHSCOPE_HTTP_BASE_URL", "ZAI_API_KEY", "ZAI_BASE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Every test starts with no keys, a private ledger file and a fresh session."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GLM_MAGIC_LEDGER", str(tmp_path / "ledger.sqlite"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))  # %glm trust's memory
    monkeypatch.chdir(tmp_path)
    from glm_magic import config
    from glm_magic import sessions as session_mod

    config._dotenv.clear()  # an earlier test's .env is not this test's

    session_mod._reset_session()
    yield
    session_mod._reset_session()


@pytest.fixture(scope="session")
def _zhipu_server():
    server = ZhipuServer()
    yield server
    server.close()


@pytest.fixture
def zhipu(_zhipu_server, monkeypatch):
    """The loopback Zhipu server, with ZHIPUAI_API_KEY/BASE_URL pointing at it."""
    _zhipu_server.reset()
    monkeypatch.setenv("ZHIPUAI_API_KEY", API_KEY)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", _zhipu_server.base_url)
    yield _zhipu_server
    _zhipu_server.reset()


@pytest.fixture
def oai(monkeypatch):
    """A loopback OpenAI-compatible server, with OPENAI_API_KEY/BASE_URL pointing at it."""
    from tests.servers.others import OpenAIServer

    server = OpenAIServer()
    monkeypatch.setenv("OPENAI_API_KEY", server.key)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.close()


@pytest.fixture
def qf(monkeypatch):
    """A loopback Qianfan v1 server (token endpoint included), with QIANFAN_* set."""
    from tests.servers.others import QianfanServer

    server = QianfanServer()
    monkeypatch.setenv("QIANFAN_AK", server.ak)
    monkeypatch.setenv("QIANFAN_SK", server.sk)
    monkeypatch.setenv("QIANFAN_BASE_URL", server.url)
    yield server
    server.close()


@pytest.fixture
def ds(monkeypatch):
    """A loopback DashScope native server, with DASHSCOPE_* set."""
    from tests.servers.others import DashScopeServer

    server = DashScopeServer()
    monkeypatch.setenv("DASHSCOPE_API_KEY", server.key)
    monkeypatch.setenv("DASHSCOPE_BASE_URL", server.base_url)
    yield server
    server.close()


@pytest.fixture
def v3(monkeypatch):
    """A loopback legacy Zhipu v3 server, with ZHIPUAI_API_KEY / ZHIPUAI_V3_BASE_URL set."""
    from tests.servers.others import ZhipuV3Server

    server = ZhipuV3Server(API_KEY)
    monkeypatch.setenv("ZHIPUAI_API_KEY", API_KEY)
    monkeypatch.setenv("ZHIPUAI_V3_BASE_URL", server.base_url)
    yield server
    server.close()


@pytest.fixture
def shell():
    """A bare InteractiveShell with the extension loaded, output in terminal mode."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.user_ns.pop("_glm", None)
    for section in ("GLMMagics", "GLMSettings"):  # %config from an earlier test must not leak
        ip.config.pop(section, None)
    ip.extension_manager.load_extension("glm_magic")
    ip.run_line_magic("reload_ext", "glm_magic")
    yield ip
    ip.extension_manager.unload_extension("glm_magic")
    for section in ("GLMMagics", "GLMSettings"):
        ip.config.pop(section, None)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("GLM_MAGIC_SKIP_BROWSER") and not os.environ.get("CI"):
        skip = pytest.mark.skip(reason="GLM_MAGIC_SKIP_BROWSER is set (CI always runs it)")
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    """A full, green run saves what the fault matrices observed (build/reliability.json);
    `make test` then publishes it as docs/reliability.md with scripts/reliability.py."""
    import json

    from tests.servers import outcomes

    if outcomes.data is not None and exitstatus == 0 and outcomes.complete():
        out = Path(__file__).resolve().parent.parent / "build" / "reliability.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(outcomes.data(), ensure_ascii=False, indent=1),
                       encoding="utf-8")
