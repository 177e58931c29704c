"""Async client for the Tencent Exmail Open Platform API: one `ExmailClient` per corp.

Models and enums live in `pipeline.exmail.models`; the most used ones are re-exported here.
"""

from pipeline.exmail._client import ExmailClient
from pipeline.exmail._dates import each_date, split_span
from pipeline.exmail._endpoints import ENDPOINTS, Endpoint, Param
from pipeline.exmail._errors import (
    ERRCODES,
    TOKEN_INVALID_CODES,
    AuthError,
    ExmailError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResponseFormatError,
    ServerBusy,
    TransportError,
    ValidationError,
    error_for,
)
from pipeline.exmail._settings import DEFAULT_BASE_URL, AppSecrets, ExmailSettings, RateLimit, RetrySettings
from pipeline.exmail.models import (
    AccountType,
    AllowType,
    App,
    BatchJobType,
    Gender,
    LogDay,
    LoginType,
    MailStatus,
    MailType,
    OperationCategory,
    OperationType,
    UserOptionType,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "ERRCODES",
    "TOKEN_INVALID_CODES",
    "AccountType",
    "AllowType",
    "App",
    "AppSecrets",
    "AuthError",
    "BatchJobType",
    "Endpoint",
    "ExmailClient",
    "ExmailError",
    "ExmailSettings",
    "Gender",
    "LogDay",
    "LoginType",
    "MailStatus",
    "MailType",
    "NotFound",
    "OperationCategory",
    "OperationType",
    "Param",
    "PermissionDenied",
    "RateLimit",
    "RateLimited",
    "ResponseFormatError",
    "RetrySettings",
    "ServerBusy",
    "TransportError",
    "UserOptionType",
    "ValidationError",
    "each_date",
    "error_for",
    "split_span",
]
