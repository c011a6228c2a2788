"""Embeddings for the fake servers: a hashed bag of words, normalised, so texts that share
words are near each other (enough to show search and clustering offline)."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

FAKE_DIMENSIONS = 256


def fake_vector(text: str, dims: int = FAKE_DIMENSIONS) -> list[float]:
    vec = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        h = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "little") % dims] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def openai_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI/Zhipu body answering `POST /embeddings`."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    dims = int(body.get("dimensions") or FAKE_DIMENSIONS)
    tokens = sum(max(1, len(t) // 4) for t in texts)
    return {"object": "list", "model": body.get("model", ""),
            "data": [{"object": "embedding", "index": i, "embedding": fake_vector(t, dims)}
                     for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
