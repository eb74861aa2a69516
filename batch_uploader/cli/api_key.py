"""Where the command line finds the API key: ARGOS_API_KEY or the file --api-key-file names."""

from __future__ import annotations

import os
from pathlib import Path

from batch_uploader.api import API_KEY_ENV
from batch_uploader.errors import ConfigurationError, MissingApiKeyError


def read_api_key(api_key_file: Path | None) -> str:
    """The key from the first line of `api_key_file`, else from the environment."""
    if api_key_file is not None:
        try:
            lines = api_key_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(
                f"cannot read the API key file {api_key_file}: {error}"
            ) from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise MissingApiKeyError(f"the API key file {api_key_file} has an empty first line")
        return key
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingApiKeyError(
            f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH (the key is never "
            "taken on the command line)"
        )
    return key
