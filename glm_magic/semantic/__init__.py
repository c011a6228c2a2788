"""Semantic operators on DataFrames (`df.glm.filter`, `classify`, `extract`, `map`, `join`,
`topk`, `agg`, `dedup`), planned so each costs as little as the work allows."""

from .accessor import DaskGLMAccessor, GLMAccessor, register, register_dask
from .requests import PlanConfirmationError

__all__ = ["DaskGLMAccessor", "GLMAccessor", "PlanConfirmationError", "register",
           "register_dask"]
