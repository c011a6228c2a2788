"""Image generation (CogView) on the call path: priced per image, recorded like any call."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .. import errors
from ..accounting.recording import Call, failed_completion
from ..types import Completion

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
    call.pricing = client.provider.pricing_key()
    session.recorder.check_budget(call)  # a spent budget refuses an image like a cell
    t0 = time.perf_counter()
    try:
        resp = client.with_observer(session.recorder.observer(call)).images.generations(
            prompt=prompt, model=model, size=size, n=n, **params)
    except errors.GLMError as err:
        session.recorder.settle(call, failed_completion(call, err))
        raise
    comp = Completion(provider=name, model=model, latency_s=time.perf_counter() - t0,
                      request_id=(resp.raw or {}).get("id") if isinstance(resp.raw, dict)
                      else None)
    resp.completion = session.recorder.settle(call, comp, images=len(resp.data))
    return resp
