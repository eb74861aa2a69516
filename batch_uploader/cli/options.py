"""Options that more than one command takes, spelled the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

from batch_uploader.api import GATEWAY_LIMIT_BYTES

manifest_argument = click.argument(
    "manifest", type=click.Path(dir_okay=False, path_type=Path), metavar="MANIFEST"
)
admin_option = click.option(
    "--admin",
    envvar="ARGOS_ADMIN",
    metavar="EMAIL",
    help="Admin account for rows that set none (env ARGOS_ADMIN).",
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
