"""`zhipuai.core._errors` / `zai.core._errors`: the SDKs' documented import path for their
exceptions, kept so `except` clauses written against it run unchanged."""

from ..sdk_errors import *  # noqa: F403
from ..sdk_errors import __all__ as __all__
