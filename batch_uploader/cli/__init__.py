"""The `batch-uploader` command line: a thin layer of options, output and exit codes over the
library. `main` is the console script's entry point."""

from batch_uploader.cli.main import cli, main

__all__ = ["cli", "main"]
