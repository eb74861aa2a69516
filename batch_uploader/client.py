"""The only code that speaks HTTP to the Argos API: a form in, an `Answer` out."""

from __future__ import annotations

import functools
import json
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver

from batch_uploader.api import API_KEY_HEADER, ENDPOINT
from batch_uploader.errors import ImageChangedError, SettingError
from batch_uploader.multipart import FormFields
from batch_uploader.request_body import form_body
from batch_uploader.version import __version__

USER_AGENT = f"batch-uploader/{__version__}"
# An error answer is a small JSON object; anything longer is not worth reading.
MAX_ANSWER_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 200
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")
# Retry-After's delay-seconds: ASCII digits only ("²".isdigit() is true, float("²") fails).
_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)

# errorCodes of our own for attempts that got no answer from the API.
NETWORK_ERROR = "network_error"
TIMEOUT = "timeout"
TLS_ERROR = "tls_error"
DNS_ERROR = "dns_error"
PROXY_ERROR = "proxy_error"
FILE_CHANGED = "file_changed"


# Not frozen: one is made per request (see `RowResult`).
@dataclass(slots=True, kw_only=True)
class Answer:
    """What one HTTP attempt came to: the server's answer, or why there was none."""

    http_status: int | None
    error_code: str = ""
    message: str = ""
    retry_after: float | None = None

    @property
    def accepted(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


def trusted_authorities(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The system's certificate authorities (SSL_CERT_FILE / SSL_CERT_DIR change where they
    are read from), plus those in `ca_bundle`: a TLS-inspecting proxy's own, say.

    Certificates and host names are always verified.
    """
    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as error:
            raise SettingError(
                "ca_bundle", ca_bundle, f"holds no certificate that can be read ({error})"
            ) from None
    return context


def open_session(
    *,
    concurrency: int,
    ca_bundle: Path | None = None,
    resolver: AbstractResolver | None = None,
    tls: bool = True,
) -> aiohttp.ClientSession:
    """One session for the whole run: connections reused, at most `concurrency` of them.

    `tls` False (a plain-HTTP base URL and no CA bundle) skips building a TLS context: the
    system's certificate store costs ~45 ms to load. `resolver` replaces the system's name
    lookups (tests).
    """
    connector = aiohttp.TCPConnector(
        limit=concurrency,
        limit_per_host=concurrency,
        ssl=trusted_authorities(ca_bundle) if tls or ca_bundle is not None else True,
        resolver=resolver,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        raise_for_status=False,
        # The proxy is chosen once, by `proxies.proxy_for`, and given to each request.
        trust_env=False,
    )
    # aiohttp silently resends an idempotent request once when a kept-alive connection drops.
    # Every HTTP request must be one counted attempt (--max-attempts, quotas), and our own
    # retry loop already handles the drop, so that hidden resend is turned off as aiohttp's
    # own test client does.
    session._retry_connection = False
    return session


class ArgosClient:
    """Sends `PUT /v3/submission/image` and reads the answer; never raises for a bad answer."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        proxy: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session
        self._proxy = proxy
        self._url = base_url.rstrip("/") + ENDPOINT
        self._headers = {API_KEY_HEADER: api_key}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_seconds = timeout
        self._now = now

    async def put_images(self, fields: FormFields) -> Answer:
        """One attempt: the server's answer, or `network_error` / `timeout` when there is none."""
        request_body = form_body(fields)
        try:
            async with self._session.put(
                self._url,
                data=request_body,
                headers=self._headers,
                timeout=self._timeout,
                proxy=self._proxy,
            ) as response:
                answer_body = await _read_at_most(response, MAX_ANSWER_BYTES)
                return self._answer(response, answer_body)
        except (TimeoutError, aiohttp.ClientError) as error:
            return self._no_answer(error)

    def _no_answer(self, error: TimeoutError | aiohttp.ClientError) -> Answer:
        """Why an attempt got no answer, as an errorCode and a message naming host and cause."""
        if isinstance(error, TimeoutError):
            code, message = TIMEOUT, f"no answer within {self._timeout_seconds:g} s (--timeout)"
        elif isinstance(error, aiohttp.ClientConnectorCertificateError):
            cause = error.certificate_error
            reason = getattr(cause, "verify_message", "") or str(cause)
            code, message = (
                TLS_ERROR,
                f"the TLS certificate of {error.host} does not verify: {reason}",
            )
        elif isinstance(error, aiohttp.ClientConnectorDNSError):
            reason = error.os_error.strerror or str(error.os_error)
            code = DNS_ERROR
            message = f"the host name {error.host} does not resolve: {reason}"
        elif isinstance(error, aiohttp.ClientHttpProxyError):
            code, message = PROXY_ERROR, f"the proxy answered {error.status} {error.message}"
        elif (changed := _image_change_behind(error)) is not None:
            code, message = FILE_CHANGED, str(changed)
        else:
            code = NETWORK_ERROR
            message = f"connection failed before an answer ({type(error).__name__})"
        return Answer(http_status=None, error_code=code, message=message.strip())

    def _retry_after(self, header: str | None) -> float | None:
        return None if header is None else parse_retry_after(header, self._now())

    def _answer(self, response: aiohttp.ClientResponse, body: bytes) -> Answer:
        status = response.status
        error_code, message = _parse_body(body)
        if not 200 <= status < 300 and not error_code:
            error_code = f"http_{status}"
        if not message:
            message = f"HTTP {status} {response.reason or ''}".strip()
        return Answer(
            http_status=status,
            error_code=error_code,
            message=message,
            retry_after=self._retry_after(response.headers.get("Retry-After")),
        )


def _image_change_behind(error: BaseException) -> ImageChangedError | None:
    """aiohttp wraps an error raised while writing the body; find ours behind it."""
    cause: BaseException | None = error
    for _ in range(16):  # a chain is short; the bound only guards against a cycle
        if cause is None or isinstance(cause, ImageChangedError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit and not response.content.at_eof():
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# Most answers are the same few bodies ("complete to update image.", processing_error):
# parsing each once is enough. At most 64 bodies of at most MAX_ANSWER_BYTES are kept.
@functools.lru_cache(maxsize=64)
def _parse_body(body: bytes) -> tuple[str, str]:
    try:
        document = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(document, dict):
        return "", ""
    return _clean(document.get("errorCode")), _clean(document.get("message"))


def _clean(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return _CONTROL_CHARACTERS.sub(" ", value).strip()[:MAX_MESSAGE_CHARS]
