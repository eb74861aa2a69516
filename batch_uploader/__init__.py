"""Bulk-upload identity-document images to the Argos Identity REST API.

The command line is a thin layer over this API::

    summary = await upload_manifest(Path("manifest.csv"), RunSettings(api_key=key))
"""

from batch_uploader.engine import NullObserver, RunObserver, upload_manifest
from batch_uploader.errors import (
    BatchUploaderError,
    ConfigurationError,
    InsecureBaseUrlError,
    ManifestError,
    MissingApiKeyError,
    ReportExistsError,
)
from batch_uploader.models import RowResult, Status
from batch_uploader.settings import RetryPolicy, RowRules, RunSettings
from batch_uploader.stats import RunSummary
from batch_uploader.validate import RowCheck, ValidationSummary, validate_manifest

__all__ = [
    "BatchUploaderError",
    "ConfigurationError",
    "InsecureBaseUrlError",
    "ManifestError",
    "MissingApiKeyError",
    "NullObserver",
    "ReportExistsError",
    "RetryPolicy",
    "RowCheck",
    "RowResult",
    "RowRules",
    "RunObserver",
    "RunSettings",
    "RunSummary",
    "Status",
    "ValidationSummary",
    "upload_manifest",
    "validate_manifest",
]
