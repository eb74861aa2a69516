"""The `batch-uploader` group: its commands, and the one place where a known error becomes a
message and exit code 2."""

from __future__ import annotations

import sys
from typing import Any

import click

from batch_uploader.cli.demo import demo
from batch_uploader.cli.exit_codes import EXIT_CONFIGURATION, EXIT_INTERRUPTED
from batch_uploader.cli.output import configure_logging, json_requested, log_error
from batch_uploader.cli.run import run
from batch_uploader.cli.validate import validate
from batch_uploader.errors import (
    BatchUploaderError,
    ReportExistsError,
    ReportWriteError,
    SettingError,
)
from batch_uploader.mock.command import mock_server


class _Commands(click.Group):
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
        for command in self.commands.values():
            for param in command.params:
                if param.name == setting and isinstance(param, click.Option):
                    return param.opts[0]
        return setting


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batch-uploader")
def cli() -> None:
    """Bulk-upload identity-document images to the Argos Identity API from a manifest."""
    configure_logging()


for command in (run, validate, demo, mock_server):
    cli.add_command(command)


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
