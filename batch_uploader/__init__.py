"""Bulk-upload identity-document images to the Argos Identity REST API.

The command line is a thin layer over this API::

    summary = await upload_manifest(Path("manifest.csv"), RunSettings(api_key=key))
"""

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
    RetryEvent,
    RunObserver,
    SkipReason,
)
from batch_uploader.manifest import ManifestRow, ManifestStream, RowProblem
from batch_uploader.results import RowResult, Status, StopReason
from batch_uploader.settings import QuotaPolicy, RetryPolicy, RowRules, RunSettings
from batch_uploader.sharding import Shard
from batch_uploader.stats import RunSummary
from batch_uploader.validate import RowCheck, ValidationSummary, validate_manifest

__all__ = [
    "Answer",
    "ApiCondition",
    "ApiState",
    "BatchUploaderError",
    "ConfigurationError",
    "InsecureBaseUrlError",
    "ManifestError",
    "ManifestRow",
    "ManifestStream",
    "MissingApiKeyError",
    "NullObserver",
    "Observers",
    "QuotaPolicy",
    "ReportExistsError",
    "ReportWriteError",
    "RetryEvent",
    "RetryPolicy",
    "RowCheck",
    "RowProblem",
    "RowResult",
    "RowRules",
    "RunControl",
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
    "upload_manifest",
    "validate_manifest",
]
