"""The SDKs' per-call options, applied the way the SDKs apply them: `extra_body` merged into
the JSON body, `extra_headers` sent as headers, `extra_query` as query parameters — never sent
as literal body keys (an `"extra_body"` key would be ignored by the server, and the caller's
overrides silently lost)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...providers.base import HTTPRequest

CALL_OPTIONS = ("extra_body", "extra_headers", "extra_query", "timeout")


def split_call_options(fields: dict[str, Any], params: dict[str, Any]
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """`(body, options)`: the named fields and the other keywords with None dropped, then
    `extra_body` merged over them (the SDKs let it override any field); `options` holds the
    headers and query parameters for the request."""
    rest = dict(params)
    extra_body = rest.pop("extra_body", None) or {}
    options = {"headers": dict(rest.pop("extra_headers", None) or {}),
               "query": dict(rest.pop("extra_query", None) or {})}
    rest.pop("timeout", None)  # the client's own timeout applies to these JSON calls
    body = {k: v for k, v in {**fields, **rest}.items() if v is not None}
    body.update(extra_body)
    return body, options


def with_call_options(build: Callable[[], HTTPRequest], options: dict[str, Any]
                      ) -> Callable[[], HTTPRequest]:
    """`build`, with the call's extra headers and query parameters added to its request."""
    if not options.get("headers") and not options.get("query"):
        return build

    def built() -> HTTPRequest:
        req = build()
        req.headers.update(options.get("headers") or {})
        if options.get("query"):
            req.params = {**(req.params or {}), **options["query"]}
        return req

    return built
