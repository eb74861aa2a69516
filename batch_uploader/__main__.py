"""`python -m batch_uploader` is the `batch-uploader` command."""

from batch_uploader.cli import main

main()
