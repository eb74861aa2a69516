"""A fast start: `batch-uploader --help` and `--version` import only what they print."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import click

import batch_uploader
from batch_uploader.cli.main import COMMANDS, cli


def modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(output.split())


def test_the_group_and_its_help_import_no_network_or_yaml_library() -> None:
    loaded = modules_after(
        "from batch_uploader.cli.main import cli; "
        "cli.main(['--help'], prog_name='batch-uploader', standalone_mode=False)"
    )
    heavy = {"aiohttp", "yaml", "tenacity", "aiofiles", "tqdm", "importlib.metadata"}
    assert "click" in loaded
    assert not heavy & loaded, heavy & loaded


def test_the_package_imports_its_exports_only_when_used() -> None:
    loaded = modules_after("import batch_uploader")
    assert "aiohttp" not in loaded
    assert "aiohttp" in modules_after("from batch_uploader import upload_manifest")


def test_every_export_resolves_to_its_own_module_object() -> None:
    for name in batch_uploader.__all__:
        value = getattr(batch_uploader, name)
        assert getattr(value, "__name__", name) == name
    assert set(batch_uploader.__all__) <= set(dir(batch_uploader))


def test_the_listed_help_of_each_command_is_its_own() -> None:
    context = click.Context(cli)
    for name, (_, _, listed) in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None
        assert command.get_short_help_str(limit=200) == listed


def test_the_version_is_the_installed_distribution_s() -> None:
    assert importlib.metadata.version("batch-uploader") == batch_uploader.__version__


def test_validate_of_a_manifest_far_under_the_size_limit_needs_no_aiohttp() -> None:
    loaded = modules_after(
        "from batch_uploader.cli.main import cli; "
        "cli.main(['validate', 'manifests/example.csv'], standalone_mode=False)"
    )
    assert "batch_uploader.validate" in loaded
    assert "aiohttp" not in loaded


def test_run_without_a_bar_imports_neither_tqdm_nor_the_metadata_reader() -> None:
    # 25 ms and 15 ms of every run's start; a bar on a terminal imports tqdm when it shows.
    loaded = modules_after(
        "import batch_uploader.cli.run, batch_uploader.cli.runtime, batch_uploader.engine"
    )
    assert "batch_uploader.client" in loaded
    assert not {"tqdm", "importlib.metadata"} & loaded, {"tqdm", "importlib.metadata"} & loaded
