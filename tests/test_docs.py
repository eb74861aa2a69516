"""README.md stays true: every command is documented and the quick start has two commands."""

from __future__ import annotations

import re
from pathlib import Path

import click

from batch_uploader.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands() -> dict[str, click.Command]:
    """Every command by its full name (`report merge`), groups' commands included; the
    group loads them lazily, so they are asked for by name."""
    found: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        with click.Context(group) as context:
            for name in group.list_commands(context):
                command = group.get_command(context, name)
                assert command is not None, name
                found[prefix + name] = command
                if isinstance(command, click.Group):
                    walk(command, f"{prefix}{name} ")

    assert isinstance(cli, click.Group)
    walk(cli, "")
    return found


def test_every_command_is_in_the_readme_with_its_help() -> None:
    found = commands()
    assert {"run", "validate", "report summary", "report merge", "report failed"} <= set(found)
    for name, command in found.items():
        assert f"batch-uploader {name}" in README, name
        assert command.help, f"{name} has no --help text"


def test_every_option_of_run_is_in_the_readme() -> None:
    for param in commands()["run"].params:
        if isinstance(param, click.Option):
            assert f"`{param.opts[0]}" in README, param.opts[0]


def test_quick_start_has_exactly_the_two_commands() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^    (python3 .+)$", quick_start, flags=re.MULTILINE)
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/batch-uploader demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]
