"""`--shard K/N`: which rows one of N cooperating processes takes.

A row belongs to shard 1 + (H mod N), where H is the first 8 bytes, read big-endian, of the
BLAKE2b hash of its submissionId in UTF-8. That is the same on every machine and Python
version, and every row of one submission lands in the same shard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from batch_uploader.errors import ConfigurationError
from batch_uploader.models import submission_hash

_SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ConfigurationError(
                f"--shard {self.index}/{self.count}: K must be between 1 and N"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD_PATTERN.match(text)
        if match is None:
            raise ConfigurationError(f"--shard {text!r}: write it as K/N, e.g. 2/8")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, submission_id: str) -> bool:
        return shard_of(submission_id, self.count) == self.index


def shard_of(submission_id: str, count: int) -> int:
    """The 1-based shard of `count` that a submission belongs to."""
    return submission_hash(submission_id) % count + 1
