"""A command's run collects cycles less often, and gives the collector's settings back."""

from __future__ import annotations

import gc
import io
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_uploader import RunObserver, upload_manifest
from batch_uploader.cli.garbage_collection import RUN_YOUNG_THRESHOLD, collecting_less_often
from batch_uploader.cli.progress import Progress
from batch_uploader.cli.runtime import run_with_signals_and_progress
from batch_uploader.control import RunControl
from batch_uploader.stats import RunSummary

from .fakes import FakeClient, VirtualClock
from .support import ImageMaker, run_settings, write_csv_manifest


@pytest.fixture(autouse=True)
def default_collector() -> Iterator[None]:
    """Each test starts from CPython's defaults and leaves them as it found them."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_young_generation_is_collected_less_often_and_start_up_is_frozen() -> None:
    with collecting_less_often():
        assert gc.get_threshold() == (RUN_YOUNG_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


class Node:
    """An object in a reference cycle, which only the cycle collector frees."""

    def __init__(self) -> None:
        self.me = self


def test_garbage_left_before_the_run_is_collected_not_frozen() -> None:
    """Frozen, it would stay in memory until the run ends (pending tasks of a loop that
    closed, say)."""
    gc.disable()  # no collection may free it before the run starts
    try:
        garbage = weakref.ref(Node())
        assert garbage() is not None
        with collecting_less_often():
            assert garbage() is None
    finally:
        gc.enable()


def test_the_settings_come_back_when_the_body_raises() -> None:
    with pytest.raises(KeyError), collecting_less_often():
        raise KeyError("a bug in the run")
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_caller_s_own_choices_are_kept() -> None:
    """A caller that froze its objects keeps them frozen; a higher threshold stays."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 30)
    with collecting_less_often():
        assert gc.get_threshold() == (50_000, 20, 30)
    assert gc.get_threshold() == (50_000, 20, 30)
    assert gc.get_freeze_count() > 0


def test_a_command_s_upload_runs_with_the_collector_slowed(
    tmp_path: Path, make_image: ImageMaker
) -> None:
    make_image("a.png", size=300)
    manifest = write_csv_manifest(tmp_path / "m.csv", [("sub-1", "a.png")])
    settings = run_settings(tmp_path / "r.csv")
    seen: list[tuple[tuple[int, int, int], bool]] = []

    async def upload(observer: RunObserver, control: RunControl) -> RunSummary:
        seen.append((gc.get_threshold(), gc.get_freeze_count() > 0))
        client = FakeClient(VirtualClock())
        return await upload_manifest(
            manifest, settings, observer=observer, control=control, client=client
        )

    summary = run_with_signals_and_progress(
        manifest, Progress(stream=io.StringIO(), mode="off"), upload
    )

    assert summary.all_ok
    assert seen == [((RUN_YOUNG_THRESHOLD, 10, 10), True)]
    assert gc.get_threshold() == (700, 10, 10)
