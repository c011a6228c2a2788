"""`zhipuai.core` / `zai.core`: where the SDKs keep their exception classes
(`from zhipuai.core._errors import APIRequestFailedError`)."""

from ..sdk_errors import *  # noqa: F403
from ..sdk_errors import __all__ as __all__
from . import _errors as _errors
