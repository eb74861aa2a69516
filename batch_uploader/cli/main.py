"""The `batch-uploader` group: its commands, and the one place where a known error becomes a
message and exit code 2."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from batch_uploader.cli.exit_codes import EXIT_CONFIGURATION, EXIT_INTERRUPTED
from batch_uploader.cli.output import configure_logging, json_requested, log_error
from batch_uploader.errors import (
    BatchUploaderError,
    ReportExistsError,
    ReportWriteError,
    SettingError,
)
from batch_uploader.version import __version__

# Each command's module is imported only when that command runs (or its own --help is
# asked for): `run` brings aiohttp, `mock-server` aiohttp.web, and `batch-uploader --help`
# needs neither. The group's help lists them with these lines, kept equal to each
# command's docstring by a test.
COMMANDS = {
    "run": (
        "batch_uploader.cli.run",
        "run",
        "Upload every row of MANIFEST and write a report line per row.",
    ),
    "validate": (
        "batch_uploader.cli.validate",
        "validate",
        "Check MANIFEST and every image file it names; send nothing.",
    ),
    "demo": (
        "batch_uploader.cli.demo",
        "demo",
        "Upload the bundled example manifest to an in-process mock server.",
    ),
    "report": (
        "batch_uploader.cli.report",
        "report",
        "Summarize, merge, or pick the failed rows from run reports.",
    ),
    "mock-server": (
        "batch_uploader.mock.command",
        "mock_server",
        "Serve a local Argos-compatible PUT /v3/submission/image until Ctrl-C or SIGTERM.",
    ),
}


class _Commands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BatchUploaderError as error:
            log_error(self.describe(error), exit_code=EXIT_CONFIGURATION)
            ctx.exit(EXIT_CONFIGURATION)

    def describe(self, error: BatchUploaderError) -> str:
        """The library's message, with its settings named by this program's options."""
        if isinstance(error, SettingError):
            return error.describe(self.option_for)
        if isinstance(error, ReportExistsError):
            return (
                f"report {error.path} exists already; pass --resume to continue it, "
                "--overwrite to replace it, or --report to write elsewhere"
            )
        if isinstance(error, ReportWriteError):
            return (
                f"cannot write the report {error.path}: {error.reason}. The lines written so "
                "far are kept: make room, then run the same command with --resume"
            )
        return str(error)

    def option_for(self, setting: str) -> str:
        """The option that sets a library setting (`max_attempts` is `--max-attempts`)."""
        for name in COMMANDS:
            command = self.get_command(click.get_current_context(), name)
            for param in command.params if command is not None else ():
                if param.name == setting and isinstance(param, click.Option):
                    return param.opts[0]
        return setting


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batch-uploader")
def cli() -> None:
    """Bulk-upload identity-document images to the Argos Identity API from a manifest."""
    configure_logging()


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    if not json_requested(args):
        cli(prog_name="batch-uploader")
        return
    # With JSON logs, even a mistake in the options is a JSON line: click prints its own
    # usage errors as text, so they are caught here instead.
    try:
        code = cli.main(args=args, prog_name="batch-uploader", standalone_mode=False)
    except click.ClickException as error:
        configure_logging("json")
        log_error(error.format_message(), exit_code=error.exit_code)
        code = error.exit_code
    except click.Abort:
        configure_logging("json")
        log_error("aborted", exit_code=EXIT_INTERRUPTED)
        code = EXIT_INTERRUPTED
    sys.exit(code if isinstance(code, int) else 0)
