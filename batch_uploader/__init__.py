"""Bulk-upload identity-document images to the Argos Identity REST API.

The command line is a thin layer over this API::

    summary = await upload_manifest(Path("manifest.csv"), RunSettings(api_key=key))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batch_uploader.client import Answer
    from batch_uploader.control import RunControl
    from batch_uploader.engine import UploadClient, upload_manifest
    from batch_uploader.errors import (
        BatchUploaderError,
        ConfigurationError,
        InsecureBaseUrlError,
        ManifestError,
        MissingApiKeyError,
        ReportExistsError,
        ReportWriteError,
        SettingError,
    )
    from batch_uploader.events import (
        ApiCondition,
        ApiState,
        NullObserver,
        Observers,
        RequestEvent,
        RetryEvent,
        RunObserver,
        SkipReason,
    )
    from batch_uploader.manifest import ManifestRow, ManifestStream, RowProblem
    from batch_uploader.metrics import RunMetrics
    from batch_uploader.report_failed import FailedRows, write_failed_rows
    from batch_uploader.report_merge import MergeResult, merge_reports
    from batch_uploader.report_summary import ReportsSummary, summarize_reports
    from batch_uploader.results import RowResult, Status, StopReason
    from batch_uploader.settings import QuotaPolicy, RetryPolicy, RowRules, RunSettings
    from batch_uploader.sharding import Shard
    from batch_uploader.stats import RunSummary
    from batch_uploader.validate import RowCheck, ValidationSummary, validate_manifest

from batch_uploader.version import __version__

# Each name is imported when first used: `batch-uploader --help` must not pay for aiohttp.
_EXPORTS = {
    "Answer": "batch_uploader.client",
    "ApiCondition": "batch_uploader.events",
    "ApiState": "batch_uploader.events",
    "BatchUploaderError": "batch_uploader.errors",
    "ConfigurationError": "batch_uploader.errors",
    "FailedRows": "batch_uploader.report_failed",
    "InsecureBaseUrlError": "batch_uploader.errors",
    "ManifestError": "batch_uploader.errors",
    "ManifestRow": "batch_uploader.manifest",
    "ManifestStream": "batch_uploader.manifest",
    "MergeResult": "batch_uploader.report_merge",
    "MissingApiKeyError": "batch_uploader.errors",
    "NullObserver": "batch_uploader.events",
    "Observers": "batch_uploader.events",
    "QuotaPolicy": "batch_uploader.settings",
    "ReportExistsError": "batch_uploader.errors",
    "ReportWriteError": "batch_uploader.errors",
    "ReportsSummary": "batch_uploader.report_summary",
    "RequestEvent": "batch_uploader.events",
    "RetryEvent": "batch_uploader.events",
    "RetryPolicy": "batch_uploader.settings",
    "RowCheck": "batch_uploader.validate",
    "RowProblem": "batch_uploader.manifest",
    "RowResult": "batch_uploader.results",
    "RowRules": "batch_uploader.settings",
    "RunControl": "batch_uploader.control",
    "RunMetrics": "batch_uploader.metrics",
    "RunObserver": "batch_uploader.events",
    "RunSettings": "batch_uploader.settings",
    "RunSummary": "batch_uploader.stats",
    "SettingError": "batch_uploader.errors",
    "Shard": "batch_uploader.sharding",
    "SkipReason": "batch_uploader.events",
    "Status": "batch_uploader.results",
    "StopReason": "batch_uploader.results",
    "UploadClient": "batch_uploader.engine",
    "ValidationSummary": "batch_uploader.validate",
    "merge_reports": "batch_uploader.report_merge",
    "summarize_reports": "batch_uploader.report_summary",
    "upload_manifest": "batch_uploader.engine",
    "validate_manifest": "batch_uploader.validate",
    "write_failed_rows": "batch_uploader.report_failed",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batch_uploader' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Answer",
    "ApiCondition",
    "ApiState",
    "BatchUploaderError",
    "ConfigurationError",
    "FailedRows",
    "InsecureBaseUrlError",
    "ManifestError",
    "ManifestRow",
    "ManifestStream",
    "MergeResult",
    "MissingApiKeyError",
    "NullObserver",
    "Observers",
    "QuotaPolicy",
    "ReportExistsError",
    "ReportWriteError",
    "ReportsSummary",
    "RequestEvent",
    "RetryEvent",
    "RetryPolicy",
    "RowCheck",
    "RowProblem",
    "RowResult",
    "RowRules",
    "RunControl",
    "RunMetrics",
    "RunObserver",
    "RunSettings",
    "RunSummary",
    "SettingError",
    "Shard",
    "SkipReason",
    "Status",
    "StopReason",
    "UploadClient",
    "ValidationSummary",
    "__version__",
    "merge_reports",
    "summarize_reports",
    "upload_manifest",
    "validate_manifest",
    "write_failed_rows",
]
