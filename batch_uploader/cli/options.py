"""Options that more than one command takes, spelled the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

from batch_uploader.api import GATEWAY_LIMIT_BYTES

# Every option of `run` can come from ARGOS_<OPTION> instead: a Kubernetes Job or a container
# is configured through its environment more easily than through its arguments.
ENV_PREFIX = "ARGOS_"


def settable_from_environment(command: click.Command) -> click.Command:
    """Give each option of `command` an environment variable, ARGOS_ and its long name
    (`--max-attempts` is ARGOS_MAX_ATTEMPTS), shown in its help."""
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        if not param.envvar:
            long_name = max(param.opts, key=len).lstrip("-")
            param.envvar = ENV_PREFIX + long_name.upper().replace("-", "_")
        param.show_envvar = True
    return command


manifest_argument = click.argument(
    "manifest", type=click.Path(dir_okay=False, path_type=Path), metavar="MANIFEST"
)
admin_option = click.option(
    "--admin",
    envvar="ARGOS_ADMIN",
    metavar="EMAIL",
    help="Admin account for rows that set none.",
)
base_dir_option = click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Resolve image paths against DIR and refuse any that lead outside it.",
)
quiet_option = click.option(
    "--quiet", is_flag=True, help="No progress bar or progress lines; problems are still logged."
)
max_request_bytes_option = click.option(
    "--max-request-bytes",
    type=click.IntRange(min=1),
    default=GATEWAY_LIMIT_BYTES,
    show_default=True,
    metavar="N",
    help="Mark rows whose request would be larger as invalid (the gateway's limit).",
)
