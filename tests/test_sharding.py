"""--shard K/N: a stable hash splits the rows into N disjoint parts that cover the manifest."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from batch_uploader import upload_manifest
from batch_uploader.errors import SettingError
from batch_uploader.sharding import Shard, shard_of

from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, run_settings, write_csv_manifest


def test_parse() -> None:
    assert Shard.parse("2/8") == Shard(2, 8)
    assert str(Shard.parse(" 1 / 3 ")) == "1/3"
    for text in ("0/3", "4/3", "x/3", "3", "1/0"):
        with pytest.raises(SettingError, match=r"^shard ") as refusal:
            Shard.parse(text)
        assert refusal.value.setting == "shard"


@pytest.mark.parametrize("submission_id", ["sub-0001", "ünïcode-id", "", "a" * 300])
def test_shard_is_the_documented_hash(submission_id: str) -> None:
    """The README's formula, computed here independently of the implementation."""
    digest = hashlib.blake2b(submission_id.encode(), digest_size=8).digest()
    for count in (1, 2, 7, 64):
        assert shard_of(submission_id, count) == int.from_bytes(digest, "big") % count + 1


async def test_shards_are_disjoint_and_cover_the_manifest(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("s.png", size=100)
    # Some submissions appear twice (two image fields): both rows must go to one shard.
    rows = [(f"sub-{n % 250}", "s.png") for n in range(300)]
    manifest = write_csv_manifest(tmp_path / "m.csv", rows)
    seen: dict[int, str] = {}
    shard_of_submission: dict[str, int] = {}
    for index in (1, 2, 3):
        report = tmp_path / f"shard-{index}.csv"
        settings = run_settings(report, shard=Shard(index, 3))
        summary = await upload_manifest(manifest, settings, client=FakeClient(VirtualClock()))
        assert summary.all_ok
        with report.open(newline="") as file:
            for line in csv.DictReader(file):
                row = int(line["row"])
                assert row not in seen, "shards overlap"
                seen[row] = line["submissionId"]
                assert shard_of_submission.setdefault(line["submissionId"], index) == index
        assert 0 < summary.rows < 300
    assert sorted(seen) == list(range(1, 301))
