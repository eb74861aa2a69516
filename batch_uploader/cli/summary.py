"""What a run comes to, for the operator: the summary, why it stopped, and what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batch_uploader.api import GATEWAY_IP_DENIED
from batch_uploader.results import Status, StopReason
from batch_uploader.settings import RunSettings
from batch_uploader.stats import RunSummary


def stop_message(summary: RunSummary, settings: RunSettings) -> str | None:
    """What stopped the run and, where it helps, what to do; None when nothing did."""
    reason = summary.stop_reason
    if reason is None:
        return None
    max_failures, max_requests = settings.max_failures, settings.max_requests
    detail = summary.stop_detail or ""
    messages = {
        StopReason.CREDENTIALS_REFUSED: _refusal_message(detail),
        StopReason.MAX_FAILURES: f"{max_failures} rows failed (--max-failures {max_failures})",
        StopReason.MAX_REQUESTS: (
            f"the budget of {max_requests} requests is spent (--max-requests {max_requests})"
        ),
        StopReason.MANIFEST_UNREADABLE: (
            f"{detail}. The rows before that point are done; fix the manifest there, then continue"
        ),
        StopReason.OUT_OF_FILES: (
            f"this process ran out of open files: {detail}. Raise the limit (ulimit -n, or "
            "LimitNOFILE in a systemd unit) or lower --concurrency, then continue"
        ),
        StopReason.INTERRUPTED: "interrupted (SIGINT)",
        StopReason.TERMINATED: "terminated (SIGTERM)",
        StopReason.QUOTA_SPENT: (
            "the API key's quota is spent (429 Limit Exceeded): no request can succeed until "
            f"the vendor resets it at 00:00 UTC, in {_until_midnight_utc()}. Run the command "
            "below after that; with --on-quota wait, a run waits for the quota by itself"
        ),
        StopReason.API_UNAVAILABLE: (
            f"{detail} (--max-outage {settings.max_outage:g}): the API keeps failing or cannot "
            "be reached. Check the vendor's status and this machine's network, then continue"
        ),
        StopReason.TLS_NOT_TRUSTED: (
            f"{detail}. Nothing can be sent safely. If a proxy inspects TLS, pass its CA "
            "certificate with --ca-bundle (or SSL_CERT_FILE); otherwise check --base-url"
        ),
        StopReason.PROXY_REFUSED: (
            f"{detail}. Check the proxy's address and credentials (--proxy, HTTPS_PROXY), and "
            "that it lets this machine reach the API's host"
        ),
        StopReason.NAME_NOT_RESOLVED: (
            f"{detail}. Check the host in --base-url and this machine's DNS; if the API is "
            "reached through a proxy, set HTTPS_PROXY"
        ),
    }
    return messages[reason]


def _refusal_message(detail: str) -> str:
    if GATEWAY_IP_DENIED in detail:
        return (
            f"the API refused this machine's IP address ({detail}), so no row can succeed: "
            "add the address this machine (or its egress proxy) reaches the API from to the "
            "project's IP allow-list"
        )
    return (
        f"the API refused the credentials ({detail or 'HTTP 403 or invalid_project'}), so no "
        "row can succeed: check the API key (ARGOS_API_KEY or --api-key-file), that this "
        "machine's IP address is on the project's allow-list, and that the project is active"
    )


def _until_midnight_utc() -> str:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = round((midnight - now).total_seconds() / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def api_text(summary: RunSummary) -> str | None:
    """The API's weather over the run, apart from rows' failures; None when it was fair."""
    api = summary.api
    parts = [
        f"{count} {what}"
        for count, what in (
            (api.throttled, "throttled (429)"),
            (api.quota_refusals, "quota refusals (429 Limit Exceeded)"),
            (api.unavailable, "unavailable (5xx, no answer)"),
        )
        if count
    ]
    parts += [
        f"{seconds:.1f} s {what}"
        for seconds, what in (
            (api.outage_seconds, "in outages"),
            (api.quota_wait_seconds, "waiting for the quota"),
            (api.paused_seconds, "paused by Retry-After"),
        )
        if seconds
    ]
    return "API: " + ", ".join(parts) if parts else None


def summary_text(summary: RunSummary, *, stop: str | None, resume_command: str | None) -> str:
    """The human summary printed at the end of a run."""
    counts = ", ".join(
        f"{count} {status.value}"
        + (
            f" ({summary.earlier_ok} from the earlier report)"
            if status is Status.OK and summary.earlier_ok
            else ""
        )
        for status, count in summary.rows_by_status.items()
    )
    latency = "no requests"
    if summary.latency_p50_ms is not None and summary.latency_p95_ms is not None:
        latency = (
            f"latency p50 {summary.latency_p50_ms:.0f} ms, p95 {summary.latency_p95_ms:.0f} ms"
        )
    lines = [
        f"Done in {summary.elapsed_seconds:.1f} s: {summary.rows} rows: {counts}",
        f"Requests: {summary.requests} ({summary.retries} retries), "
        f"{summary.rows_per_second:.1f} rows/s, {latency}",
        f"Report: {summary.report_path}",
    ]
    api = api_text(summary)
    if api is not None:
        lines.insert(2, api)
    if summary.blank_rows:
        lines.insert(1, f"Manifest: {summary.blank_rows} blank rows skipped")
    if stop is not None:
        lines.append(f"Stopped early: {stop}")
    if summary.report_cut_off:
        lines.append(
            "The second signal cut the report short: rows after its last line have none yet; "
            "the command below sends them"
        )
    if resume_command is not None:
        lines.append(f"To continue: {resume_command}")
    return "\n".join(lines)


def summary_fields(
    summary: RunSummary, *, stop: str | None, resume_command: str | None
) -> dict[str, object]:
    """The same summary as structured fields, for --log-format json."""
    return {
        "event": "summary",
        "rows": summary.rows,
        **{status.value: count for status, count in summary.rows_by_status.items()},
        "earlierOk": summary.earlier_ok,
        "blankRows": summary.blank_rows,
        "requests": summary.requests,
        "retries": summary.retries,
        "elapsedSeconds": round(summary.elapsed_seconds, 3),
        "rowsPerSecond": round(summary.rows_per_second, 2),
        "latencyP50Ms": summary.latency_p50_ms,
        "latencyP95Ms": summary.latency_p95_ms,
        "report": str(summary.report_path),
        "throttled": summary.api.throttled,
        "quotaRefusals": summary.api.quota_refusals,
        "unavailable": summary.api.unavailable,
        "outageSeconds": round(summary.api.outage_seconds, 1),
        "quotaWaitSeconds": round(summary.api.quota_wait_seconds, 1),
        "pausedSeconds": round(summary.api.paused_seconds, 1),
        "stopReason": summary.stop_reason.value if summary.stop_reason else None,
        "reportCutOff": summary.report_cut_off,
        "stopMessage": stop,
        "resumeCommand": resume_command,
    }
