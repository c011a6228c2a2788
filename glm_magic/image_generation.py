"""Image generation (CogView) on the call path: priced per image, recorded like any call."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from . import errors, pricing
from .recording import CURRENT, Call
from .types import Completion

if TYPE_CHECKING:
    from .sessions import Session


def generate_image(session: Session, prompt: str, *, model: str = "cogview-3", size: str | None = None,
                   n: int | None = None, provider: str | None = None, source: str = "api",
                   cell: int | None = None, **params: Any):
    """Generate images (CogView); priced per image in the ledger."""
    name, _ = session.resolve(provider or "zhipu")
    client = session.client(name)
    client.provider.require_credentials()
    call = Call(uuid.uuid4().hex, name, model, source, None, [], params, cell)
    token = CURRENT.set(call)
    t0 = time.perf_counter()
    try:
        resp = client.images.generations(prompt=prompt, model=model, size=size, n=n,
                                         **params)
    except errors.GLMError as err:
        session.recorder.record(call, session._failed(call, err), model)
        raise
    finally:
        CURRENT.reset(token)
    comp = Completion(provider=name, model=model, latency_s=time.perf_counter() - t0,
                      request_id=(resp.raw or {}).get("id") if isinstance(resp.raw, dict)
                      else None)
    images = len(resp.data)
    comp.cost, comp.currency, comp.cost_status = pricing.cost(name, model, None,
                                                             images=images)
    session.recorder.record(call, comp, model, images=images)
    resp.completion = comp
    return resp
