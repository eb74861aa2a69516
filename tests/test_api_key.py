"""The API key as operators keep it: files from Notepad, env files, loose permissions."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from batch_uploader.cli.api_key import read_api_key
from batch_uploader.errors import ConfigurationError

from .support import API_KEY


def key_file(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "key"
    path.write_bytes(content)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "content",
    [
        API_KEY.encode(),
        f"{API_KEY}\n".encode(),
        f"  {API_KEY} \r\nsecond line\n".encode(),
        b"\xef\xbb\xbf" + API_KEY.encode() + b"\r\n",  # Notepad's UTF-8 with a BOM
    ],
)
def test_the_key_is_the_first_line_without_bom_or_whitespace(
    tmp_path: Path, content: bytes
) -> None:
    assert read_api_key(key_file(tmp_path, content)) == API_KEY


@pytest.mark.parametrize(
    "line", [f"ARGOS_API_KEY={API_KEY}", f"export ARGOS_API_KEY = {API_KEY}", "key=abc"]
)
def test_an_env_file_line_is_refused_without_showing_the_value(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigurationError, match=r"holds an assignment \(\w+=\.\.\.\)") as refused:
        read_api_key(key_file(tmp_path, line.encode() + b"\n"))
    assert API_KEY not in str(refused.value)
    assert "abc" not in str(refused.value)


def test_a_key_file_others_can_read_earns_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="batch_uploader"):
        assert read_api_key(key_file(tmp_path, API_KEY.encode(), mode=0o644)) == API_KEY
    assert [record.getMessage() for record in caplog.records] == [
        f"the API key file {tmp_path / 'key'} can be read by other users (mode 644); chmod 600 it"
    ]


def test_a_private_key_file_earns_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="batch_uploader"):
        read_api_key(key_file(tmp_path, API_KEY.encode(), mode=0o400))
    assert caplog.records == []


def kubernetes_secret_volume(folder: Path, mode: int) -> Path:
    """A Secret mounted as Kubernetes' kubelet lays it out: the file a link through ..data to
    a timestamped folder; with fsGroup set, the kubelet makes it readable by the pod's group."""
    timestamped = folder / "..2026_11_30_05_00_00.000000001"
    timestamped.mkdir()
    (timestamped / "api-key").write_text(API_KEY)
    (timestamped / "api-key").chmod(mode)
    (folder / "..data").symlink_to(timestamped.name)
    (folder / "api-key").symlink_to("..data/api-key")
    return folder / "api-key"


def test_a_kubernetes_secret_readable_by_the_pods_group_earns_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="batch_uploader"):
        assert read_api_key(kubernetes_secret_volume(tmp_path, 0o440)) == API_KEY
    assert caplog.records == []


def test_a_kubernetes_secret_readable_by_everyone_still_earns_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="batch_uploader"):
        read_api_key(kubernetes_secret_volume(tmp_path, 0o444))
    assert "can be read by other users (mode 444)" in caplog.text


def test_a_group_readable_key_file_outside_kubernetes_earns_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="batch_uploader"):
        read_api_key(key_file(tmp_path, API_KEY.encode(), mode=0o440))
    assert "can be read by other users (mode 440)" in caplog.text
