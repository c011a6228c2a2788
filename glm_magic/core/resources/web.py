"""Zhipu's tool APIs, SDK-shaped: `client.web_search.web_search(...)` (POST /web_search),
`client.web_reader.web_reader(url=...)` (POST /reader), `client.tools.web_search(...)` (the
web-search-pro agent, POST /tools, streamed too), `client.moderations.create(...)`
(POST /moderations) and `client.videos.generations(...)` (POST /videos/generations, an async
task fetched with `retrieve_videos_result`). Each is one call the client's hooks are told of — a ledger row under the
search engine or model, priced per call from the price file when it has a price — and answers
an `APIObject` with the server's own fields, as the SDKs do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .files import checked_parser, safe_id
from .sdk_options import split_call_options, with_call_options

if TYPE_CHECKING:
    from ..base_client import BaseClient


def _api_object(client: BaseClient) -> Any:
    from ...types import APIObject

    return checked_parser(client, APIObject)


def _post(client: BaseClient, path: str, body: dict[str, Any], options: dict[str, Any],
          recorded_as: str, stream: bool = False) -> Any:
    build = with_call_options(lambda: client.provider.api_request("POST", path, json=body),
                              options)
    return client.recorded_json(build, _api_object(client), body, recorded_as, stream=stream)


class WebSearch:
    """`client.web_search.web_search(search_query=..., search_engine="search_pro", ...)`."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def web_search(self, *, search_query: str | None = None, search_engine: str | None = None,
                   count: int | None = None, search_domain_filter: str | None = None,
                   search_recency_filter: str | None = None, content_size: str | None = None,
                   **params: Any) -> Any:
        """Search the web: `resp.search_result[i].title / .link / .content / .media`."""
        body, options = split_call_options(
            {"search_engine": search_engine, "search_query": search_query, "count": count,
             "search_domain_filter": search_domain_filter,
             "search_recency_filter": search_recency_filter, "content_size": content_size},
            params)
        return _post(self._client, "web_search", body, options,
                     str(body.get("search_engine") or "web-search"))


class Tools:
    """`client.tools.web_search(model="web-search-pro", messages=[...], stream=...)`: the
    search agent (POST /tools) — intent, results and recommended queries as tool calls of the
    answer's message (`choices[0].message.tool_calls[i].search_result`), or streamed as
    events with `stream=True`. One ledger row under the model, priced per call."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def web_search(self, *, model: str, messages: Any, stream: bool | None = None,
                   request_id: str | None = None, scope: str | None = None,
                   location: str | None = None, recent_days: int | None = None,
                   **params: Any) -> Any:
        body, options = split_call_options(
            {"model": model, "request_id": request_id, "messages": messages,
             "stream": stream, "scope": scope, "location": location,
             "recent_days": recent_days}, params)
        return _post(self._client, "tools", body, options, model, stream=bool(stream))


class WebReader:
    """`client.web_reader.web_reader(url=..., return_format="markdown")`."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def web_reader(self, *, url: str, timeout: str | int | None = None,
                   return_format: str | None = None, **params: Any) -> Any:
        """A page as text: `resp.reader_result.content / .title / .url`. `timeout` is the
        reader's own (sent in the body, as the SDK does); `timeout_override` is not sent."""
        params.pop("timeout_override", None)
        body, options = split_call_options(
            {"url": url, "timeout": timeout, "return_format": return_format}, params)
        return _post(self._client, "reader", body, options, "web-reader")


class Moderations:
    """`client.moderations.create(model="moderation", input=...)`."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, model: str, input: str | list[str] | dict[str, Any],
               **params: Any) -> Any:
        """Check content: the server's verdict (`resp.result_list`, …) as it sent it."""
        body, options = split_call_options({"model": model, "input": input}, params)
        return _post(self._client, "moderations", body, options, model)


class Videos:
    """`client.videos.generations(model="cogvideox-3", prompt=...)` submits a task (a ledger
    row priced per video); `retrieve_videos_result(id)` polls it: `task_status`, then
    `video_result[0].url`."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def generations(self, *, model: str, prompt: str | None = None,
                    image_url: Any = None, **params: Any) -> Any:
        body, options = split_call_options(
            {"model": model, "prompt": prompt, "image_url": image_url}, params)
        return _post(self._client, "videos/generations", body, options, model)

    def retrieve_videos_result(self, id: str, **params: Any) -> Any:
        c = self._client
        build = with_call_options(lambda: c.provider.api_request(
            "GET", f"async-result/{safe_id(id)}"), split_call_options({}, params)[1])
        return c._json(build, _api_object(c), {"model": ""})
