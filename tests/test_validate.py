"""`validate` on huge manifests: the duplicate check keeps no pair in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_uploader import validate as validate_module
from batch_uploader.settings import RowRules
from batch_uploader.validate import RowCheck, validate_manifest

from .support import ImageMaker, write_csv_manifest


def warnings_by_row(manifest: Path) -> tuple[dict[int, list[str]], int]:
    checks: list[RowCheck] = []
    summary = validate_manifest(manifest, RowRules(admin="a@x.io"), on_check=checks.append)
    found: dict[int, list[str]] = {}
    for check in checks:
        found.setdefault(check.row, []).extend(check.warnings)
    return {row: warnings for row, warnings in found.items() if warnings}, summary.warnings


def manifest_with_repeats(tmp_path: Path, make_image: ImageMaker) -> Path:
    make_image("a.png")
    rows = [(f"s{number}", "a.png") for number in range(1, 301)]
    rows += [("s7", "a.png"), ("s300", "a.png"), ("s7", "a.png")]
    return write_csv_manifest(tmp_path / "m.csv", rows)


EXPECTED = {
    301: ["selfieImage of s7 is also set in row 7; the later upload replaces the earlier one"],
    302: ["selfieImage of s300 is also set in row 300; the later upload replaces the earlier one"],
    303: ["selfieImage of s7 is also set in row 7; the later upload replaces the earlier one"],
}


def test_each_repeated_pair_names_its_first_row(tmp_path: Path, make_image: ImageMaker) -> None:
    assert warnings_by_row(manifest_with_repeats(tmp_path, make_image)) == (EXPECTED, 3)


def test_pairs_that_only_share_a_spot_in_the_map_are_not_repeats(
    tmp_path: Path, make_image: ImageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a map of 8 bits nearly every pair looks repeated; the second pass sorts them."""
    monkeypatch.setattr(validate_module, "SEEN_MAP_BITS", 8)
    assert warnings_by_row(manifest_with_repeats(tmp_path, make_image)) == (EXPECTED, 3)
