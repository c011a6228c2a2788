"""Servers that break HTTP on purpose: malformed responses, trickles, pings forever, gzip
bombs, endless streams, huge lines, redirects elsewhere. Each ends in one of our errors, on
time, with bounded memory, and nothing finished is lost."""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Literal

import pytest

import glm_magic
from glm_magic import AsyncClient, Client, errors
from glm_magic.testing.loopback import LoopbackServer, Reply
from glm_magic.testing.zhipu import API_KEY
from tests.servers.hostile import (
    MALFORMED,
    HostileServer,
    body_of,
    completion,
    delta,
    gzip_bomb,
    response,
    sse_head,
)

MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture
def hostile():
    servers: list[HostileServer] = []

    def make(script):
        s = HostileServer(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def client(server, cls=Client, **kw):
    kw.setdefault("max_retries", 0)
    return cls("zhipu", api_key=API_KEY, base_url=server.base_url, **kw)


@pytest.mark.parametrize("fault", sorted(MALFORMED))
def test_malformed_responses_are_protocol_errors_sync(hostile, fault):
    srv = hostile(lambda req: MALFORMED[fault])
    with client(srv) as c, pytest.raises(errors.GLMError) as info:
        c.chat.completions.create(model="glm-4-flash", messages=MSGS)
    assert isinstance(info.value, (errors.ProtocolError, errors.APIConnectionError))
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize("fault", sorted(MALFORMED))
@pytest.mark.parametrize("stream", [False, True])
def test_malformed_responses_are_our_errors_async(hostile, fault, stream):
    srv = hostile(lambda req: MALFORMED[fault])

    async def go():
        async with client(srv, AsyncClient) as c:
            res = await c.chat.completions.create(model="glm-4-flash", messages=MSGS,
                                                  stream=stream)
            if stream:
                async for _ in res:
                    pass

    with pytest.raises(errors.GLMError) as info:
        asyncio.run(go())
    assert isinstance(info.value, (errors.ProtocolError, errors.APIConnectionError))
    assert info.value.__cause__ is None  # nothing of the raw request chained on


def test_batch_keeps_every_finished_row_when_one_response_is_malformed(hostile):
    def script(req):
        prompt = body_of(req)["messages"][-1]["content"]
        if prompt == "row 7":
            return MALFORMED["bad chunk size"]
        return [response(completion(f"answer to {prompt}"))]

    srv = hostile(script)
    import os
    os.environ["ZHIPUAI_BASE_URL"] = srv.base_url
    os.environ["ZHIPUAI_API_KEY"] = API_KEY
    try:
        df = glm_magic.batch([f"row {i}" for i in range(20)], provider="zhipu",
                             model="glm-4-flash", max_retries=0, progress=False,
                             session=glm_magic.Session())
    finally:
        del os.environ["ZHIPUAI_BASE_URL"], os.environ["ZHIPUAI_API_KEY"]
    assert len(df) == 20
    assert (df["status"] == "ok").sum() == 19
    assert df.loc[7, "status"] == "error" and "malformed" in df.loc[7, "error"]
    assert df.loc[3, "answer"] == "answer to row 3"


def test_panel_shows_a_malformed_response_as_an_error_and_records_it(hostile, monkeypatch,
                                                                    tmp_path):
    from glm_magic.widget import ChatPanel

    srv = hostile(lambda req: MALFORMED["bad status line"])
    monkeypatch.setenv("ZHIPUAI_API_KEY", API_KEY)
    monkeypatch.setenv("ZHIPUAI_BASE_URL", srv.base_url)
    s = glm_magic.Session(str(tmp_path / "l.sqlite"))
    s.max_retries = 0
    panel = ChatPanel(provider="zhipu", model="glm-4-flash", session_=s)
    comp = panel.send("hello")
    assert comp is not None and comp.status == "error"
    html = "".join(getattr(w, "value", "") for w in panel.transcript.children)
    assert "glm-error" in html and "malformed" in html
    assert "streaming" not in panel.status.value
    rows = s.ledger.rows()
    assert rows and rows[-1]["status"] == "error"


# --- deadlines -------------------------------------------------------------------------------
def trickle(data: bytes, every: float = 0.25):
    return [(bytes([b]), every) for b in data]


def ask(server, cls, **kw):
    """One non-streamed call with the sync or the async client."""
    if cls is Client:
        with client(server, **kw) as c:
            return c.chat.completions.create(model="glm-4-flash", messages=MSGS)

    async def go():
        async with client(server, AsyncClient, **kw) as c:
            return await c.chat.completions.create(model="glm-4-flash", messages=MSGS)
    return asyncio.run(go())


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_headers_trickled_byte_by_byte_end_at_the_deadline(hostile, cls):
    srv = hostile(lambda req: trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400))
    t0 = time.monotonic()
    with pytest.raises(errors.APITimeoutError):
        ask(srv, cls, timeout=1.0)
    assert time.monotonic() - t0 < 3.0


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_body_trickled_byte_by_byte_ends_at_the_deadline(hostile, cls):
    body = completion("slow")
    srv = hostile(lambda req: [response(body)[:-len(body)]] + trickle(body))
    t0 = time.monotonic()
    with pytest.raises(errors.APITimeoutError, match="not complete within 1 s"):
        ask(srv, cls, timeout=1.0)
    assert time.monotonic() - t0 < 3.0


def pings_forever(req):
    yield sse_head()
    yield delta("partial ")
    for _ in range(200):
        yield (b": ping\n\n", 0.2)


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_stream_of_pings_ends_at_the_idle_deadline_with_the_partial_kept(hostile, cls):
    srv = hostile(pings_forever)
    t0 = time.monotonic()

    async def run_async():
        async with client(srv, AsyncClient, timeout=1.0) as c:
            stream = await c.chat.completions.create(model="glm-4-flash", messages=MSGS,
                                                     stream=True)
            async for _ in stream:
                pass

    with pytest.raises(errors.APITimeoutError, match="no content for 1 s") as info:
        if cls is Client:
            with client(srv, timeout=1.0) as c:
                for _ in c.chat.completions.create(model="glm-4-flash", messages=MSGS,
                                                   stream=True):
                    pass
        else:
            asyncio.run(run_async())
    assert time.monotonic() - t0 < 3.0
    assert info.value.partial.text == "partial "


def test_a_total_deadline_limits_a_stream_that_keeps_sending(hostile):
    def forever(req):
        yield sse_head()
        for i in range(1000):
            yield (delta(f"w{i} "), 0.05)

    srv = hostile(forever)
    t0 = time.monotonic()
    with client(srv, timeout=5.0, deadline=1.0) as c, \
            pytest.raises(errors.APITimeoutError, match="1 s deadline") as info:
        for _ in c.chat.completions.create(model="glm-4-flash", messages=MSGS, stream=True):
            pass
    assert time.monotonic() - t0 < 3.0
    assert info.value.partial.text.startswith("w0 w1 ")


# --- sizes -----------------------------------------------------------------------------------
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_gzip_bomb_stops_at_the_size_cap(hostile, cls):
    bomb = gzip_bomb(300)  # ~300 KB on the wire, 300 MB unpacked
    srv = hostile(lambda req: [bomb])
    before = _rss_mb()
    with pytest.raises(errors.ProtocolError, match="MiB"):
        ask(srv, cls, max_response_bytes=8 * 2**20)
    assert _rss_mb() - before < 150


def test_an_endless_stream_stops_at_a_multiple_of_max_tokens(hostile):
    def endless(req):
        yield sse_head()
        while True:
            yield delta("x" * 1000)

    srv = hostile(endless)
    t0 = time.monotonic()
    with client(srv) as c, pytest.raises(errors.ProtocolError, match="max_tokens") as info:
        for _ in c.chat.completions.create(model="glm-4-flash", messages=MSGS, stream=True,
                                           max_tokens=10):
            pass
    assert time.monotonic() - t0 < 5.0
    assert 0 < len(info.value.partial.text) < 200_000


def test_an_endless_stream_without_max_tokens_stops_at_the_response_cap(hostile):
    def endless(req):
        yield sse_head()
        while True:
            yield delta("y" * 4000)

    srv = hostile(endless)
    with client(srv, max_response_bytes=2 * 2**20) as c, \
            pytest.raises(errors.ProtocolError, match="MiB"):
        for _ in c.chat.completions.create(model="glm-4-flash", messages=MSGS, stream=True):
            pass


def test_a_huge_sse_line_fails_fast_and_linearly(hostile):
    line = b"data: " + b"z" * (20 * 2**20)
    srv = hostile(lambda req: [sse_head()] + [line[i:i + 16384]
                                              for i in range(0, len(line), 16384)])
    t0 = time.monotonic()
    with client(srv) as c, pytest.raises(errors.ProtocolError, match="line passed"):
        for _ in c.chat.completions.create(model="glm-4-flash", messages=MSGS, stream=True):
            pass
    assert time.monotonic() - t0 < 5.0


def test_sse_decoder_is_linear_in_a_long_line():
    from glm_magic.sse import SSEDecoder

    dec = SSEDecoder()
    t0 = time.perf_counter()
    for _ in range(1000):
        assert dec.feed(b"q" * 8192) == []
    events = dec.feed(b"\n\n")
    assert time.perf_counter() - t0 < 2.0
    assert len(events) == 1 and events[0].event == "message" or events == []


# --- redirects -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_redirect_to_another_host_is_not_followed(cls):
    elsewhere = LoopbackServer(lambda rec: Reply(body={"stolen": True}))
    target = elsewhere.url.replace("127.0.0.1", "localhost") + "/collect"
    origin = LoopbackServer(lambda rec: Reply(307, "", headers={"Location": target}))
    try:
        with pytest.raises(errors.BadRequestError, match="redirect to http://localhost") as info:
            if cls is Client:
                with Client("zhipu", api_key=API_KEY, base_url=origin.url,
                            max_retries=0) as c:
                    c.chat.completions.create(model="glm-4-flash", messages=MSGS)
            else:
                async def go():
                    async with AsyncClient("zhipu", api_key=API_KEY, base_url=origin.url,
                                           max_retries=0) as c:
                        await c.chat.completions.create(model="glm-4-flash", messages=MSGS)
                asyncio.run(go())
        assert "base_url" in str(info.value)
        assert elsewhere.received == []
        assert len(origin.received) == 1
    finally:
        elsewhere.close()
        origin.close()


# --- generated-image downloads ---------------------------------------------------------------
@pytest.mark.parametrize("where", ["metadata", "other loopback", "file", "redirect"])
def test_image_urls_on_private_addresses_are_not_fetched(shell, zhipu, tmp_path, capsys,
                                                        where):
    from IPython.utils.capture import capture_output

    lure = LoopbackServer(lambda rec: Reply(body=b"\x89PNG\r\n\x1a\n" + b"0" * 64,
                                            content_type="image/png"))
    try:
        url = {"metadata": "http://169.254.169.254/latest/meta-data/pic.png",
               "other loopback": f"{lure.url}/pic.png",
               "file": "file:///etc/passwd",
               "redirect": f"{zhipu.url}/bounce"}[where]
        zhipu.push(Reply(body={"created": 1, "data": [{"url": url}]}))
        if where == "redirect":  # the provider's own host redirects to a private one
            zhipu.push(Reply(302, "", headers={"Location": f"{lure.url}/pic.png"}))
        out = tmp_path / "pic.png"
        with capture_output() as cap:
            shell.run_line_magic("glm", f"image --save {out} a cat")
        assert not out.exists()
        assert "not downloading the image" in cap.stdout
        assert lure.received == []
        assert any("text/html" in o.data for o in cap.outputs)  # shown as a link instead
    finally:
        lure.close()


def test_a_huge_image_download_stops_at_the_cap(monkeypatch):
    from glm_magic import media

    srv = LoopbackServer(lambda rec: Reply(body=b"\x89PNG\r\n\x1a\n" + b"0" * 300_000,
                                           content_type="image/png"))
    monkeypatch.setattr(media, "MAX_FETCH_BYTES", 100_000)
    try:
        with pytest.raises(ValueError, match="over"):
            media.fetch_image(f"{srv.url}/big.png", trusted=srv.url)
    finally:
        srv.close()


# --- odd but valid JSON ------------------------------------------------------------------------
def _body(message, **extra):
    return {"id": "x", "created": 1, "model": "glm-4-flash", "choices": [
        {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, **extra}


@pytest.mark.parametrize("message, text", [
    ({"content": [{"type": "text", "text": "from "}, {"type": "text", "text": "parts"}]},
     "from parts"),
    ({"content": 42}, "42"),
    ({"content": {"answer": True}}, '{"answer": true}'),
    ({"content": None}, ""),
])
def test_content_of_any_json_shape_becomes_text(shell, zhipu, message, text):
    from IPython.utils.capture import capture_output

    zhipu.push(Reply(body=_body(message, web_search=["just a string", {"title": "T",
                                                                       "link": "https://x"}])))
    with capture_output() as cap:
        shell.run_cell_magic("glm", "--once -o ans", "hi")
    comp = glm_magic.session().last
    assert comp.text == text and shell.user_ns["ans"] == text
    assert comp.web_search[0] == {"title": "just a string"}
    assert text in cap.stdout and "just a string" in cap.stdout  # the terminal view


def test_a_deeply_nested_json_answer_shows_as_text():
    from glm_magic.sanitize import answer_bundle

    deep = answer_bundle("[" * 5000 + "]" * 5000, "json", final=True)
    assert "application/json" not in deep and "text/html" in deep
    just_deeper = answer_bundle("[" * 65 + "]" * 65, "json", final=True)
    assert "application/json" not in just_deeper
    shallow = answer_bundle('{"a": [1, {"b": 2}]}', "json", final=True)
    assert shallow["application/json"] == {"a": [1, {"b": 2}]}


def test_loading_a_deeply_nested_conversation_is_a_usage_error(shell, tmp_path):
    from IPython.core.error import UsageError

    path = tmp_path / "deep.json"
    path.write_text('{"messages": [{"role": "user", "content": ' + "[" * 3000 + "]" * 3000
                    + "}]}")
    with pytest.raises(UsageError, match="nested"):
        shell.run_line_magic("glm", f"load {path}")


def test_tool_arguments_are_checked_against_the_schema_before_the_call():
    from glm_magic.tools import call_tool

    ran = []

    def get_weather(city: str, unit: Literal["C", "F"] = "C", days: int = 1) -> str:
        """Weather."""
        ran.append((city, unit, days))
        return "sunny"

    for bad, why in [('{"city": 3}', "must be a JSON string"),
                     ('{"unit": "C"}', "missing required"),
                     ('{"city": "x", "unit": "K"}', "must be one of"),
                     ('{"city": "x", "rm": "-rf"}', "unknown argument"),
                     ('{"city": "x", "days": "2"}', "must be a JSON integer"),
                     ('["x"]', "JSON object"), ('{"city": ', "JSONDecodeError")]:
        out = call_tool(get_weather, "get_weather", bad)
        assert out.startswith("error:") and why in out, (bad, out)
    assert ran == []
    assert call_tool(get_weather, "get_weather", '{"city": "x", "days": 2.0}') == "sunny"
    assert ran == [("x", "C", 2.0)]
