"""`client.batches`: the provider's Batch API (half price, runs server-side within 24 h), with
the official SDKs' names: create, retrieve, list, cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .files import checked_parser, page_parser, safe_id

if TYPE_CHECKING:
    from ..base_client import BaseClient


class Batches:
    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def create(self, *, input_file_id: str, endpoint: str = "/v1/chat/completions",
               completion_window: str = "24h", metadata: dict[str, str] | None = None,
               auto_delete_input_file: bool = True, **params: Any) -> Any:
        """Start a job over an uploaded JSONL file → `Batch` (status `validating`)."""
        from ...types import Batch

        c = self._client
        body = {"input_file_id": input_file_id, "endpoint": endpoint,
                "completion_window": completion_window,
                "auto_delete_input_file": auto_delete_input_file, **params}
        if metadata:
            body["metadata"] = metadata
        return c._json(lambda: c.provider.api_request("POST", "batches", json=body),
                       checked_parser(c, Batch.from_dict), {"model": ""})

    def retrieve(self, batch_id: str) -> Any:
        from ...types import Batch

        c = self._client
        return c._json(lambda: c.provider.api_request("GET", f"batches/{safe_id(batch_id)}"),
                       checked_parser(c, Batch.from_dict), {"model": ""})

    def list(self, *, after: str | None = None, limit: int | None = None) -> Any:
        from ...types import Batch

        c = self._client
        params = {k: str(v) for k, v in (("after", after), ("limit", limit)) if v is not None}
        return c._json(lambda: c.provider.api_request("GET", "batches", params=params),
                       page_parser(c, Batch.from_dict, lambda last: self.list(
                           after=last, limit=limit)), {"model": ""})

    def cancel(self, batch_id: str) -> Any:
        from ...types import Batch

        c = self._client
        return c._json(lambda: c.provider.api_request("POST",
                                                      f"batches/{safe_id(batch_id)}/cancel"),
                       checked_parser(c, Batch.from_dict), {"model": ""})
