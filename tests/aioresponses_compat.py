"""aioresponses for aiohttp 3.14, until aioresponses does it itself.

aioresponses 0.7.9 builds its responses without the `stream_writer` argument that aiohttp
3.14's `ClientResponse` requires (pnuckowski/aioresponses#289; a fix is proposed in #288).
`response_class()` supplies a class that fills it in, and switches itself off: as soon as
aioresponses builds a response with aiohttp's own class, that class is used unchanged.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse
from aioresponses.core import RequestMatch
from yarl import URL

_PROBE_URL = URL("http://127.0.0.1/aioresponses-probe")


class _NothingWritten:
    """Stands for the writer of a request that never went out (aioresponses sends none)."""

    output_size = 0


class _ResponseWithStreamWriter(ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NothingWritten())
        super().__init__(method, url, **kwargs)


_chosen: type[ClientResponse] | None = None


async def response_class() -> type[ClientResponse]:
    """aiohttp's own response class if aioresponses can build it, else the shim."""
    global _chosen  # noqa: PLW0603 (probed once per test session)
    if _chosen is None:
        try:
            await RequestMatch(str(_PROBE_URL)).build_response(_PROBE_URL)
        except TypeError:
            _chosen = _ResponseWithStreamWriter
        else:
            _chosen = ClientResponse
    return _chosen
