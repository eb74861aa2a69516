"""Proxies as curl and requests use them: HTTPS_PROXY / HTTP_PROXY, --proxy, NO_PROXY, HTTPS
through CONNECT, credentials in the proxy URL never shown. Through a real proxy on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_uploader import RunSummary, Status, StopReason, upload_manifest
from batch_uploader.errors import SettingError
from batch_uploader.mock.server import MockConfig, running_mock_server
from batch_uploader.proxies import proxy_for, redacted

from .forward_proxy import running_proxy
from .support import API_KEY, ImageMaker, run_settings, write_csv_manifest
from .tls import make_certificates

API = "https://rest-api.argosidentity.com"


def test_the_environment_proxy_follows_the_apis_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://egress:3128")
    monkeypatch.setenv("http_proxy", "http://plain:8080")
    assert proxy_for(API) == "http://egress:3128"
    assert proxy_for("http://127.0.0.1:8080") == "http://plain:8080"


def test_an_explicit_proxy_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://egress:3128")
    assert proxy_for(API, "http://other:1") == "http://other:1"


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("rest-api.argosidentity.com", True),
        ("argosidentity.com", True),
        (".argosidentity.com", True),
        ("localhost, argosidentity.com", True),
        ("*", True),
        ("example.com", False),
        ("api.argosidentity.com", False),
    ],
)
def test_no_proxy_exempts_hosts_domains_and_everything(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, bypassed: bool
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://egress:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert (proxy_for(API) is None) is bypassed
    assert (proxy_for(API, "http://explicit:1") is None) is bypassed


def test_no_proxy_at_all_means_direct() -> None:
    assert proxy_for(API) is None


def test_credentials_are_never_shown() -> None:
    assert redacted("http://ops:s3cret@egress:3128") == "http://ops:***@egress:3128"
    assert redacted("http://egress:3128") == "http://egress:3128"
    with pytest.raises(SettingError) as refused:
        run_settings(Path("r.csv"), proxy="ftp://ops:s3cret@egress:21")
    assert "s3cret" not in str(refused.value)
    assert "s3cret" not in repr(run_settings(Path("r.csv"), proxy="http://ops:s3cret@egress:1"))


@pytest.fixture
def manifest(tmp_path: Path, make_image: ImageMaker) -> Path:
    make_image("s.png")
    return write_csv_manifest(tmp_path / "m.csv", ((f"s{n}", "s.png") for n in range(5)))


def all_ok(summary: RunSummary) -> bool:
    return summary.rows_by_status[Status.OK] == summary.rows == 5


async def test_requests_go_through_an_explicit_proxy(tmp_path: Path, manifest: Path) -> None:
    async with running_mock_server(MockConfig(api_key=API_KEY)) as server, running_proxy() as proxy:
        settings = run_settings(tmp_path / "r.csv", base_url=server.url, proxy=proxy.url)
        summary = await upload_manifest(manifest, settings)
    assert all_ok(summary)
    assert proxy.log.lines
    assert all(line == f"PUT {server.url}/v3/submission/image HTTP/1.1" for line in proxy.log.lines)


async def test_https_goes_through_connect_with_the_environments_proxy(
    tmp_path: Path, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificates = make_certificates(tmp_path)
    config = MockConfig(api_key=API_KEY)
    async with (
        running_mock_server(config, tls=certificates.server) as server,
        running_proxy() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        settings = run_settings(
            tmp_path / "r.csv", base_url=server.url, ca_bundle=certificates.ca_bundle
        )
        summary = await upload_manifest(manifest, settings)
    assert all_ok(summary)
    host_and_port = server.url.removeprefix("https://")
    assert proxy.log.lines
    assert set(proxy.log.lines) == {f"CONNECT {host_and_port} HTTP/1.1"}


async def test_no_proxy_sends_requests_direct(
    tmp_path: Path, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_mock_server(MockConfig(api_key=API_KEY)) as server, running_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        summary = await upload_manifest(
            manifest, run_settings(tmp_path / "r.csv", base_url=server.url)
        )
    assert all_ok(summary)
    assert proxy.log.lines == []


async def test_proxy_credentials_work_and_never_show(tmp_path: Path, manifest: Path) -> None:
    async with (
        running_mock_server(MockConfig(api_key=API_KEY)) as server,
        running_proxy(credentials="ops:s3cret") as proxy,
    ):
        with_password = proxy.url.replace("http://", "http://ops:s3cret@")
        summary = await upload_manifest(
            manifest, run_settings(tmp_path / "r.csv", base_url=server.url, proxy=with_password)
        )
        assert all_ok(summary)
        assert proxy.log.lines
        wrong = proxy.url.replace("http://", "http://ops:wrong@")
        refused = await upload_manifest(
            manifest,
            run_settings(
                tmp_path / "refused.csv", base_url=server.url, proxy=wrong, max_outage=0.5
            ),
        )
    assert refused.stop_reason is StopReason.PROXY_REFUSED
    assert refused.stop_detail == "HTTP 407 Proxy Authentication Required"
    assert refused.rows_by_status[Status.CANCELLED] == 5
    report = (tmp_path / "refused.csv").read_text()
    assert ",cancelled,407,http_407," in report
    assert "wrong" not in report
    assert "s3cret" not in (tmp_path / "r.csv").read_text()


async def test_a_proxy_refusing_connect_stops_the_run_naming_its_answer(
    tmp_path: Path, manifest: Path
) -> None:
    certificates = make_certificates(tmp_path)
    config = MockConfig(api_key=API_KEY)
    async with (
        running_mock_server(config, tls=certificates.server) as server,
        running_proxy(credentials="ops:s3cret") as proxy,
    ):
        wrong = proxy.url.replace("http://", "http://ops:wrong@")
        settings = run_settings(
            tmp_path / "r.csv", base_url=server.url, proxy=wrong, ca_bundle=certificates.ca_bundle
        )
        summary = await upload_manifest(manifest, settings)
    assert summary.stop_reason is StopReason.PROXY_REFUSED
    assert summary.stop_detail == "the proxy answered 407 Proxy Authentication Required"
    assert proxy.log.refused
    assert "wrong" not in (tmp_path / "r.csv").read_text()
