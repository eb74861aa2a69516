"""`batch-uploader mock-server`: options in, a running mock server until a signal."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import click

from batch_uploader.api import API_KEY_ENV
from batch_uploader.errors import ConfigurationError
from batch_uploader.eventloop import run_on_fast_loop
from batch_uploader.hosts import is_loopback
from batch_uploader.mock.faults import Fault, random_faults
from batch_uploader.mock.gateway import GatewayConfig
from batch_uploader.mock.server import MockConfig, RunningMockServer, serve_until_stopped


def _rate_option(name: str, what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        name,
        type=click.FloatRange(0, 1),
        default=0.0,
        show_default=True,
        metavar="P",
        help=f"Fraction of valid requests answered with {what}.",
    )


@click.command("mock-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--api-key",
    envvar=API_KEY_ENV,
    required=True,
    metavar="KEY",
    help=f"The key clients must send in x-api-key (env {API_KEY_ENV}).",
)
@click.option(
    "--admin",
    "admins",
    multiple=True,
    metavar="EMAIL",
    help="An accepted admin (repeatable); without it any admin is accepted.",
)
@click.option(
    "--submissions",
    "submissions_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File of known submission ids, one per line; others get invalid_submission.",
)
@_rate_option("--processing-error-rate", "HTTP 400 processing_error")
@_rate_option("--throttle-rate", "HTTP 429 with Retry-After")
@_rate_option("--unavailable-rate", "an empty HTTP 503")
@_rate_option("--bad-gateway-rate", "HTTP 502 with an HTML body")
@_rate_option("--drop-rate", "a connection closed without an answer")
@_rate_option("--slow-rate", "an answer that comes only after --slow-ms")
@click.option(
    "--slow-ms",
    type=click.IntRange(min=0),
    default=5000,
    show_default=True,
    metavar="MS",
    help="How late a slow answer comes.",
)
@click.option(
    "--retry-after",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="S",
    help="Retry-After seconds sent with 429.",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="MS",
    help="Delay before every answer.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault draws.")
@click.option("--inactive-project", is_flag=True, help="Answer every request with invalid_project.")
@click.option(
    "--fast",
    is_flag=True,
    help="Benchmark mode: check the key, read the body and accept it, without parsing "
    "the form or recording anything.",
)
@click.option(
    "--quota",
    type=click.IntRange(min=0),
    metavar="N",
    help="Let N requests through per --quota-period, then answer 429 Limit Exceeded.",
)
@click.option(
    "--quota-period",
    type=click.FloatRange(min=0, min_open=True),
    default=86_400.0,
    show_default=True,
    metavar="S",
    help="Quota period in seconds, aligned to the Unix epoch (a day resets at 00:00 UTC).",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="R",
    help="Token-bucket throttle: R requests a second, then 429 Too Many Requests.",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    metavar="B",
    help="The throttle's bucket size.  [default: R rounded up]",
)
@click.option(
    "--outage-after",
    type=click.IntRange(min=0),
    metavar="N",
    help="After N requests, answer every request 503 for --outage-seconds.",
)
@click.option(
    "--outage-seconds",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="S",
    help="How long the outage lasts.",
)
@click.option("--outage-drops", is_flag=True, help="Drop the connection instead of a 503.")
@click.option(
    "--ip-denied",
    is_flag=True,
    help="Answer every request 403 as an IP allow-list that does not hold this machine.",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Serve HTTPS with this certificate chain (PEM); needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The private key of --tls-cert (PEM).",
)
def mock_server(
    *,
    host: str,
    port: int,
    api_key: str,
    admins: tuple[str, ...],
    submissions_file: Path | None,
    processing_error_rate: float,
    throttle_rate: float,
    unavailable_rate: float,
    bad_gateway_rate: float,
    drop_rate: float,
    slow_rate: float,
    slow_ms: int,
    retry_after: int,
    latency_ms: int,
    seed: int,
    inactive_project: bool,
    fast: bool,
    quota: int | None,
    quota_period: float,
    rate_limit: float | None,
    burst: int | None,
    outage_after: int | None,
    outage_seconds: float,
    outage_drops: bool,
    ip_denied: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Serve a local Argos-compatible PUT /v3/submission/image until Ctrl-C or SIGTERM.

    It checks the key and every field as the real API does, answers each documented
    errorCode, injects the faults asked for, and shows what it accepted at
    GET /_mock/received. A development tool: it binds to loopback unless told otherwise.
    """
    rates = {
        Fault.PROCESSING_ERROR: processing_error_rate,
        Fault.THROTTLED: throttle_rate,
        Fault.UNAVAILABLE: unavailable_rate,
        Fault.BAD_GATEWAY: bad_gateway_rate,
        Fault.DROP: drop_rate,
        Fault.SLOW: slow_rate,
    }
    if sum(rates.values()) > 1:
        raise ConfigurationError("the fault rates add up to more than 1")
    config = MockConfig(
        api_key=api_key,
        admins=frozenset(admins),
        submissions=_read_submissions(submissions_file),
        faults=random_faults(rates, seed=seed),
        latency_seconds=latency_ms / 1000,
        retry_after_seconds=retry_after,
        slow_seconds=slow_ms / 1000,
        inactive_project=inactive_project,
        fast=fast,
        gateway=GatewayConfig(
            ip_denied=ip_denied,
            rate_limit=rate_limit,
            burst=burst,
            quota=quota,
            quota_period=quota_period,
            outage_after=outage_after,
            outage_seconds=outage_seconds,
            outage_drops=outage_drops,
        ),
    )
    tls = _tls_context(tls_cert, tls_key)

    if not is_loopback(host):
        click.echo(
            f"warning: binding to {host}, not loopback: anything that reaches this machine "
            "can talk to the mock server",
            err=True,
        )

    def ready(server: RunningMockServer) -> None:
        click.echo(f"mock Argos server listening on {server.url} (Ctrl-C stops it)")
        sys.stdout.flush()

    try:
        run_on_fast_loop(serve_until_stopped(config, host=host, port=port, tls=tls, on_ready=ready))
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    click.echo("mock Argos server stopped")


def _tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigurationError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(f"cannot load {cert} and {key}: {error}") from None
    return context


def _read_submissions(path: Path | None) -> frozenset[str] | None:
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read {path}: {error}") from None
    return frozenset(line.strip() for line in lines if line.strip())
