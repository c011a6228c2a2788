"""Grammar-constrained decoding for the local model at close to unconstrained speed.

llama-cpp-python applies a grammar to every token of the vocabulary at every step before any
other sampler (262,144 tokens for Gemma 3), which makes a schema answer several times slower
than free text. llama.cpp's own sampler does better: it checks the model's best candidates
first and falls back to the whole vocabulary only when none of them fits. `GrammarFilter` is
that check as a logits processor: the grammar judges the top `TOP_K` tokens; the others are
set to -inf; only when every one of them is refused does the grammar see the full vocabulary.
The result is the same constraint (every token the sampler can pick is one the grammar
accepts), at a small cost per token.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
from typing import TYPE_CHECKING, Any

from .. import errors

if TYPE_CHECKING:  # numpy comes with llama_cpp, when a grammar is first used
    import numpy as np

TOP_K = 64


class GrammarFilter:
    """A llama-cpp-python logits processor keeping only the tokens a GBNF grammar accepts.

    It owns a llama.cpp grammar sampler, advanced with each generated token as it appears in
    `input_ids` (the processor sees the sequence so far at every step). One per completion."""

    def __init__(self, llm: Any, grammar: Any) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar._grammar.encode("utf-8"),  # noqa: SLF001 (llama's own)
            grammar._root.encode("utf-8"))  # noqa: SLF001
        if not self._sampler:
            raise ValueError("llama.cpp refused the grammar")
        self._start: int | None = None  # where the generated tokens begin in input_ids
        self._accepted = 0
        self._top = (llama_cpp.llama_token_data * TOP_K)()
        self.full_checks = 0  # steps that needed the whole vocabulary (for the benchmark)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        import numpy as np

        if self._start is None:
            self._start = len(input_ids)
        for token in input_ids[self._start + self._accepted:]:
            self._lib.llama_sampler_accept(self._sampler, int(token))
            self._accepted += 1
        k = min(TOP_K, len(scores))
        best = np.argpartition(scores, -k)[-k:]
        allowed = self._check(best, scores)
        if not allowed:  # none of the best fits: the grammar judges every token
            self.full_checks += 1
            allowed = self._check(np.arange(len(scores)), scores)
        out = np.full_like(scores, -np.inf)
        if allowed:
            keep = np.asarray(allowed, dtype=np.intp)
            out[keep] = scores[keep]
        return out

    def _check(self, ids: np.ndarray, scores: np.ndarray) -> list[int]:
        import numpy as np

        lib = self._lib
        data = self._top if len(ids) <= TOP_K else (lib.llama_token_data * len(ids))()
        view = np.ctypeslib.as_array(data)[: len(ids)]
        view["id"] = ids
        view["logit"] = scores[ids]
        view["p"] = 0.0
        arr = lib.llama_token_data_array(
            ctypes.cast(data, lib.llama_token_data_p), len(ids), -1, False)
        lib.llama_sampler_apply(self._sampler, ctypes.byref(arr))
        logits = view["logit"]
        return [int(i) for i, v in zip(view["id"], logits, strict=True) if v != -math.inf]

    def close(self) -> None:
        if self._sampler:
            self._lib.llama_sampler_free(self._sampler)
            self._sampler = None

    def __del__(self) -> None:
        self.close()


def grammar_for(response_format: Any, max_tokens: int) -> Any:
    """llama.cpp grammar-constrained decoding for a JSON Schema (or any JSON object): even a
    small model can then only write JSON of that shape. Lists are bounded (`bounded`), so a
    model that repeats an item closes the list instead of looping to `max_tokens`."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):  # field order kept: it guides
            return schema_grammar(json.dumps(bounded(schema, max_items(max_tokens))))
    if kind == "json_object":
        return schema_grammar(json.dumps({"type": "object"}))
    return None


def max_items(max_tokens: int) -> int:
    """The longest list the grammar allows: about 24 answer tokens per item, 1 to 10 items."""
    return max(1, min(10, int(max_tokens) // 24))


def bounded(schema: Any, limit: int) -> Any:
    """A copy of `schema` in which every array without a `maxItems` has `maxItems = limit`
    (at least its `minItems`). Only the grammar sees it; answers are checked against the
    schema as written."""
    if isinstance(schema, list):
        return [bounded(s, limit) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded(v, limit) for k, v in schema.items()}
    if out.get("type") == "array" and "maxItems" not in out:
        low = out.get("minItems")
        out["maxItems"] = max(limit, low) if isinstance(low, int) else limit
    return out


@functools.lru_cache(maxsize=32)
def schema_grammar(schema_text: str) -> Any:
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_text, verbose=False)
    except Exception as exc:  # a construct llama.cpp's converter does not support
        raise errors.BadRequestError(
            f"the local model cannot constrain its answer to this schema ({exc})",
            provider="local", hint="simplify the schema (plain types, enums, lists, "
            "nested objects)") from None
