"""Frozen, keyword-only settings of a run and of its retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from batch_uploader.api import DEFAULT_BASE_URL, GATEWAY_LIMIT_BYTES
from batch_uploader.errors import ConflictingSettingsError, InsecureBaseUrlError, SettingError
from batch_uploader.hosts import is_loopback
from batch_uploader.proxies import PROXY_SCHEMES, redacted
from batch_uploader.sharding import Shard


class QuotaPolicy(StrEnum):
    """What a run does when the key's quota is spent (429 Limit Exceeded)."""

    STOP = "stop"  # stop at once, like a spent max_requests budget
    WAIT = "wait"  # pause all sending, probe now and then, carry on when the quota is back


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often to try a request and how long to wait between tries.

    Waits are exponential with full jitter: before try n+1 a random time in
    [0, min(max_wait, initial_wait * 2**(n-1))]; a Retry-After answer replaces it.
    """

    max_attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise SettingError("max_attempts", self.max_attempts, "must be at least 1")
        if self.initial_wait < 0:
            raise SettingError("initial_wait", self.initial_wait, "cannot be negative")
        if self.max_wait < 0:
            raise SettingError("max_wait", self.max_wait, "cannot be negative")


@dataclass(frozen=True, kw_only=True)
class RowRules:
    """What a row needs to be sendable, beyond what the manifest says."""

    admin: str | None = None
    base_dir: Path | None = None
    max_request_bytes: int = GATEWAY_LIMIT_BYTES

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1:
            raise SettingError(
                "max_request_bytes", self.max_request_bytes, "must be a positive number of bytes"
            )
        if self.base_dir is not None and not self.base_dir.is_dir():
            raise SettingError("base_dir", self.base_dir, "is not a folder")
        resolved = None if self.base_dir is None else self.base_dir.resolve()
        object.__setattr__(self, "resolved_base_dir", resolved)

    # base_dir with its links resolved, once: every image path is checked against it.
    resolved_base_dir: Path | None = field(init=False, repr=False, compare=False, default=None)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """Everything `upload_manifest` needs besides the manifest itself."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    rules: RowRules = field(default_factory=RowRules)
    report_path: Path | None = None
    overwrite: bool = False
    resume: bool = False
    concurrency: int = 8
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate: float | None = None
    max_failures: int | None = None
    max_requests: int | None = None
    shard: Shard | None = None
    on_quota: QuotaPolicy = QuotaPolicy.STOP
    quota_probe_interval: float = 600.0
    max_outage: float = 600.0
    ca_bundle: Path | None = None
    proxy: str | None = field(default=None, repr=False)  # may hold credentials

    def __post_init__(self) -> None:
        if not self.api_key.strip():
            raise SettingError("api_key", None, "is empty")
        if self.resume and self.overwrite:
            raise ConflictingSettingsError("resume", "overwrite")
        if self.concurrency < 1:
            raise SettingError("concurrency", self.concurrency, "must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise SettingError(
                "rate", self.rate, "must be a positive number of requests per second"
            )
        if self.max_failures is not None and self.max_failures < 1:
            raise SettingError("max_failures", self.max_failures, "must be at least 1")
        if self.max_requests is not None and self.max_requests < 0:
            raise SettingError("max_requests", self.max_requests, "cannot be negative")
        if self.timeout <= 0:
            raise SettingError("timeout", self.timeout, "must be a positive number of seconds")
        if self.quota_probe_interval <= 0:
            raise SettingError(
                "quota_probe_interval", self.quota_probe_interval, "must be a positive number"
            )
        if self.max_outage <= 0:
            raise SettingError("max_outage", self.max_outage, "must be a positive number")
        if self.proxy is not None:
            check_proxy(self.proxy)
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            raise SettingError("ca_bundle", self.ca_bundle, "is not a readable file")
        check_base_url(self.base_url)


def check_proxy(proxy: str) -> None:
    """Refuse a proxy URL that names no host or an odd scheme; never show its password."""
    parts = urlsplit(proxy)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise SettingError(
            "proxy", redacted(proxy), "must be http://HOST:PORT or https://HOST:PORT"
        )


def check_base_url(base_url: str) -> None:
    """Refuse a base URL that would carry images and the key in clear text off this machine."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise InsecureBaseUrlError(
        "base_url",
        base_url,
        "is refused: use https:// (plain http:// is allowed only for a loopback host such "
        "as 127.0.0.1 or localhost, e.g. the mock server)",
    )
