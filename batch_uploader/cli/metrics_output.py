"""Where a run's metrics go: a file for node_exporter's textfile collector, a Pushgateway, or
both; every 10 s and once more at the end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import push_to_gateway, write_to_textfile
from prometheus_client.core import Metric
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.registry import Collector, CollectorRegistry

from batch_uploader.errors import ConfigurationError
from batch_uploader.metrics import RunMetrics
from batch_uploader.proxies import redacted
from batch_uploader.sharding import Shard

logger = logging.getLogger("batch_uploader")

PUBLISH_EVERY_SECONDS = 10.0
PUSH_TIMEOUT_SECONDS = 10.0
DEFAULT_JOB = "batch-uploader"

# What prometheus_client's push functions call to send a request.
PushHandler = Callable[..., Callable[[], None]]


@dataclass(frozen=True, kw_only=True)
class MetricsTargets:
    """The options that say where metrics go."""

    file: Path | None = None
    pushgateway: str | None = None
    job: str = DEFAULT_JOB


class _Snapshot(Collector):
    """Metric families collected on the event loop, written out from a thread: the counters
    go on changing meanwhile, the snapshot does not."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class MetricsPublisher:
    """Writes a run's metrics to its targets; a failure is logged once, never stops the run."""

    def __init__(self, targets: MetricsTargets, *, report: Path, shard: Shard | None) -> None:
        self._targets = targets
        # The same labels on every series and, at a Pushgateway, as the grouping key.
        self._labels = {"report": report.name}
        if shard is not None:
            self._labels["shard"] = f"{shard.index}/{shard.count}"
        self.metrics = RunMetrics(labels=self._labels)
        self._failures: set[str] = set()
        # The gateway's address without credentials, the handler that sends them, and the
        # address as messages show it.
        self._gateway: tuple[str, PushHandler, str] | None = None
        if targets.pushgateway is not None:
            address, handler = _gateway_and_handler(targets.pushgateway)
            self._gateway = address, handler, redacted(targets.pushgateway)

    def check_file(self) -> None:
        """Write the first file before anything is sent: a folder that is not there is a
        mistake to report at once (exit 2), not after a night's run."""
        if self._targets.file is not None:
            try:
                write_to_textfile(str(self._targets.file), self._snapshot())
            except OSError as error:
                raise ConfigurationError(
                    f"cannot write the metrics file {self._targets.file}: "
                    f"{error.strerror or error}; choose a folder that exists and is writable"
                ) from None

    async def publish_every(
        self,
        seconds: float = PUBLISH_EVERY_SECONDS,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Publish until cancelled (a background task of the run)."""
        while True:
            await sleep(seconds)
            await asyncio.to_thread(self._publish, self._snapshot())

    def end(self, exit_code: int, *, all_ok: bool = False) -> None:
        """The final figures, exit code included: once the run is over, or once it was
        refused after the first file was written (exit 2)."""
        self.metrics.end(exit_code, all_ok=all_ok)
        self._publish(self._snapshot())

    def _snapshot(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Snapshot(list(self.metrics.collect())))
        return registry

    def _publish(self, snapshot: CollectorRegistry) -> None:
        if self._targets.file is not None:
            try:
                write_to_textfile(str(self._targets.file), snapshot)
            except OSError as error:
                self._warn_once("file", f"cannot write {self._targets.file}: {error}")
        if self._gateway is not None:
            address, handler, shown = self._gateway
            try:
                push_to_gateway(
                    address,
                    job=self._targets.job,
                    registry=snapshot,
                    grouping_key=self._labels,
                    timeout=PUSH_TIMEOUT_SECONDS,
                    handler=handler,
                )
            except OSError as error:
                self._warn_once("push", f"cannot push to {shown}: {error}")

    def _warn_once(self, target: str, message: str) -> None:
        if target not in self._failures:
            self._failures.add(target)
            logger.warning("metrics: %s (the run goes on; later failures are not logged)", message)


def _gateway_and_handler(url: str) -> tuple[str, PushHandler]:
    """The Pushgateway's address without its credentials, and the handler that sends them
    (HTTP basic auth), as prometheus_client takes them: urllib reads a user and password in
    the URL as part of the host name."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            f"--pushgateway {redacted(url)!r} is not the http:// or https:// address of a "
            "Pushgateway"
        )
    if parts.username is None:
        return url, default_handler
    username, password = unquote(parts.username), unquote(parts.password or "")
    address = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    def with_basic_auth(
        url: str,
        method: str,
        timeout: float | None,
        headers: list[tuple[str, str]],
        data: bytes,
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return address, with_basic_auth
