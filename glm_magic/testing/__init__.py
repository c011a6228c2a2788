"""Loopback servers that speak the vendors' wire formats, for offline tests and tutorials.

`FakeGLM()` starts a real HTTP server on 127.0.0.1 that answers like Zhipu v4 (chat,
streams, async tasks, images, JWT checks, error bodies); `push(Reply(...))` scripts the
next answers, `received` shows what was sent. Point a client at it with `base_url=fake.base_url`."""

from .loopback import LoopbackServer, Received, Reply, sse
from .zhipu import API_KEY, ZhipuServer, completion_body, stream_frames, zhipu_error

FakeGLM = ZhipuServer

__all__ = ["API_KEY", "FakeGLM", "LoopbackServer", "Received", "Reply", "ZhipuServer",
           "completion_body", "sse", "stream_frames", "zhipu_error"]
