"""The embedding front-end: `embed()` / `similar()` over lists, Series and DataFrames, with
packing, concurrency, the vector cache and ledger rows (`vectors`)."""

from .vectors import CACHE_NAME, VectorCache, aembed, cache_key, checked_vectors, embed, similar

__all__ = ["CACHE_NAME", "VectorCache", "aembed", "cache_key", "checked_vectors", "embed",
           "similar"]
