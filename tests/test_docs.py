"""README.md stays true: every command is documented and the quick start has two commands."""

from __future__ import annotations

import re
from pathlib import Path

import click

from batch_uploader.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_command_is_in_the_readme_with_its_help() -> None:
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert f"batch-uploader {name}" in README, name
        assert command.help, f"{name} has no --help text"


def test_quick_start_has_exactly_the_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^    (python3 .+)$", quick_start, flags=re.MULTILINE)
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/batch-uploader demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]
