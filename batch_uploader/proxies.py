"""Which proxy the run's requests go through, as curl and requests choose it.

`HTTPS_PROXY` / `HTTP_PROXY` (either case) by the API's scheme, or an explicit proxy (the
command line's `--proxy`); `NO_PROXY` (hosts, domains, `*`) exempts the API's host from
either. The standard library reads the environment the way the rest of the Python world
does. A proxy URL may carry credentials: `redacted` is the only form that is ever shown.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

PROXY_SCHEMES = frozenset({"http", "https"})


def proxy_for(base_url: str, explicit: str | None = None) -> str | None:
    """The proxy for requests to `base_url`, or None to connect directly."""
    # urllib.request takes 30 ms to import; only a run asks which proxy to use.
    from urllib.request import getproxies_environment, proxy_bypass  # noqa: PLC0415

    parts = urlsplit(base_url)
    proxies = getproxies_environment()
    # On Linux proxy_bypass reads NO_PROXY; elsewhere it also asks the system's settings.
    if parts.hostname and proxy_bypass(parts.hostname):
        return None
    return explicit or proxies.get(parts.scheme)


def redacted(url: str) -> str:
    """`url` with its password, if any, replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
