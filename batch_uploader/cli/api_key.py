"""Where the command line finds the API key: ARGOS_API_KEY or the file --api-key-file names.

A key file is taken as editors and secret stores write it: a UTF-8 byte-order mark (Notepad)
and the whitespace around the first line are not part of the key. A `NAME=value` line (an
env file) is refused rather than sent whole, and a file that others can read earns a
warning, as ssh and libpq give.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

from batch_uploader.api import API_KEY_ENV
from batch_uploader.errors import ConfigurationError, MissingApiKeyError

logger = logging.getLogger("batch_uploader")

_ASSIGNMENT = re.compile(r"^(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=")


def read_api_key(api_key_file: Path | None) -> str:
    """The key from the first line of `api_key_file`, else from the environment."""
    if api_key_file is not None:
        return _read_key_file(api_key_file)
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingApiKeyError(
            f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH (the key is never "
            "taken on the command line)"
        )
    return key


def _read_key_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read the API key file {path}: {error}") from None
    lines = text.splitlines()
    key = lines[0].strip() if lines else ""
    if not key:
        raise MissingApiKeyError(f"the API key file {path} has an empty first line")
    assignment = _ASSIGNMENT.match(key)
    if assignment:
        name = assignment.group("name")
        raise ConfigurationError(
            f"the API key file {path} holds an assignment ({name}=...), not a key: put the "
            f"key alone on the first line, or load the file into the environment and drop "
            "--api-key-file"
        )
    shared_with = (
        stat.S_IRWXO if _in_kubernetes_secret_volume(path) else stat.S_IRWXO | stat.S_IRWXG
    )
    if mode & shared_with:
        logger.warning(
            "the API key file %s can be read by other users (mode %o); chmod 600 it",
            path,
            stat.S_IMODE(mode),
        )
    return key


def _in_kubernetes_secret_volume(path: Path) -> bool:
    """Whether `path` is a file of a Kubernetes Secret volume (a link through `..data`, as
    the kubelet lays them out). With the pod's fsGroup set, the kubelet makes such files
    readable by that group, which is the pod's own: no other user's."""
    try:
        return path.is_symlink() and path.readlink().parts[:1] == ("..data",)
    except OSError:
        return False
