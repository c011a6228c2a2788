"""The batch front-end: prompts over lists, Series and DataFrames (`online`), as one job of the
provider's Batch API (`batch_api`), and on dask DataFrames (`batch_dask`)."""

from ..calls.limiter import RATE_LIMIT_RETRIES, RATE_LIMIT_WAIT_S, STOPPING, AdaptiveLimiter
from .front import batch
from .online import ResumeStore, abatch
from .plan import COLUMNS

__all__ = ["COLUMNS", "RATE_LIMIT_RETRIES", "RATE_LIMIT_WAIT_S", "STOPPING", "AdaptiveLimiter",
           "ResumeStore", "abatch", "batch"]
