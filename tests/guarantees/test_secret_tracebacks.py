"""Keys, JWTs and access tokens never show in a verbose traceback (`%xmode Verbose` prints the
locals of every frame, and a notebook saves them), in `%glm config`, or in any error text."""

from __future__ import annotations

import re

import pytest

from glm_magic.testing.loopback import LoopbackServer, Reply
from glm_magic.testing.zhipu import API_KEY
from tests.servers import free_port
from tests.servers.hostile import MALFORMED, HostileServer, response

ANSI = re.compile(r"\x1b\[[0-9;]*m")
KEY_ID, KEY_SECRET = API_KEY.split(".")


def verbose(shell, capsys, code: str, **ns) -> str:
    shell.run_line_magic("xmode", "Verbose")
    shell.user_ns.update(ns)
    try:
        capsys.readouterr()
        shell.run_cell(code)
        out = capsys.readouterr()
    finally:
        shell.run_line_magic("xmode", "Context")
    text = ANSI.sub("", out.out + out.err)
    assert "Traceback" in text, text[-2000:]
    return text


def assert_no_secret(text: str, *secrets: str) -> None:
    for s in (API_KEY, KEY_SECRET, *secrets):
        assert s not in text, f"{s[:6]}… leaked"
    assert not re.search(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.", text), "a JWT leaked"
    assert not re.search(r"access_token=(?!\*\*\*)[^&\s'\"]{6,}", text), "a token leaked"


@pytest.mark.parametrize("auth", ["key", "jwt"])
def test_a_401_in_verbose_mode_shows_no_key_or_jwt(shell, capsys, auth):
    srv = LoopbackServer(lambda rec: Reply(401, {"error": {"code": "1002",
                                                           "message": "bad token"}}))
    try:
        text = verbose(shell, capsys, """
import glm_magic
c = glm_magic.Client("zhipu", api_key=KEY, base_url=URL, auth=AUTH, max_retries=0)
c.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "hi"}])
""", KEY=API_KEY, URL=srv.url, AUTH=auth)
    finally:
        srv.close()
    assert "AuthenticationError" in text
    assert_no_secret(text)
    assert f"{API_KEY[:3]}…{API_KEY[-4:]}" in text  # the masked form helps tell keys apart


def test_a_lost_connection_mid_stream_shows_no_key(shell, capsys):
    text = verbose(shell, capsys, """
import glm_magic
c = glm_magic.Client("zhipu", api_key=KEY, base_url=URL, max_retries=0)
for chunk in c.chat.completions.create(model="glm-4", stream=True,
                                       messages=[{"role": "user", "content": "hi"}]):
    pass
""", KEY=API_KEY, URL=f"http://127.0.0.1:{free_port()}/v4")
    assert "APIConnectionError" in text
    assert_no_secret(text)


def test_qianfan_errors_show_no_ak_sk_or_access_token(shell, capsys, qf):
    answer = qf.app
    qf.app = lambda rec: answer(rec) if rec.path == "/oauth/2.0/token" else \
        Reply(500, {"error_code": 336100, "error_msg": "internal error"})
    text = verbose(shell, capsys, """
import glm_magic
c = glm_magic.Client("qianfan", max_retries=0)
c.chat.completions.create(model="ERNIE-Speed-8K", messages=[{"role": "user", "content": "hi"}])
""")
    assert qf.tokens, "the token was fetched"
    assert_no_secret(text, qf.ak, qf.sk, *qf.tokens)


def test_qianfan_on_the_async_path_with_a_malformed_response(shell, capsys, monkeypatch):
    token = "24.tokenABCDEF0123456789abcdef"

    def script(req):
        if b"/oauth/2.0/token" in req.split(b"\r\n", 1)[0]:
            return [response(b'{"access_token": "%s", "expires_in": "soon"}'
                             % token.encode())]
        return MALFORMED["bad status line"]

    srv = HostileServer(script)
    monkeypatch.setenv("QIANFAN_AK", "qianfan-ak-0123456789")
    monkeypatch.setenv("QIANFAN_SK", "qianfan-sk-abcdefghij")
    monkeypatch.setenv("QIANFAN_BASE_URL", srv.url)
    try:
        text = verbose(shell, capsys, """
import asyncio, glm_magic
async def go():
    async with glm_magic.AsyncClient("qianfan", max_retries=0) as c:
        await c.chat.completions.create(model="ERNIE-Speed-8K",
                                        messages=[{"role": "user", "content": "hi"}])
asyncio.run(go())
""")
    finally:
        srv.close()
    assert "ProtocolError" in text  # also: expires_in "soon" did not break the token fetch
    assert_no_secret(text, "qianfan-ak-0123456789", "qianfan-sk-abcdefghij", token)


def test_glm_config_masks_keys_set_in_the_providers_option(shell, capsys, zhipu):
    secret = "sk-configured-0123456789abcdef"
    shell.run_line_magic("config", "GLMMagics.providers = {'openai': {'api_key': "
                                   f"'{secret}', 'base_url': 'http://127.0.0.1:9/v1'}}}}")
    capsys.readouterr()
    shell.run_line_magic("glm", "config")
    out = capsys.readouterr().out
    assert "providers" in out and "base_url" in out
    assert secret not in out and "sk-…cdef" in out
    # registered the moment it was configured: any later text that quotes it is masked
    from glm_magic._secrets import redact

    assert secret not in redact(f"server said: bad key {secret}")
