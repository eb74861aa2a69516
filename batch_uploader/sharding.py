"""`--shard K/N`: which rows one of N cooperating processes takes.

A row belongs to shard 1 + (H mod N), where H is the first 8 bytes, read big-endian, of the
BLAKE2b hash of its submissionId in UTF-8. That is the same on every machine and Python
version, and every row of one submission lands in the same shard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from batch_uploader.errors import SettingError

_SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise SettingError("shard", self, "K must be between 1 and N in K/N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD_PATTERN.match(text)
        if match is None:
            raise SettingError("shard", repr(text), "write it as K/N, e.g. 2/8")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, submission_id: str) -> bool:
        return shard_of(submission_id, self.count) == self.index


def submission_hash(submission_id: str) -> int:
    """A stable 64-bit hash of a submissionId: the first 8 bytes of its BLAKE2b, big-endian.

    The same on every machine and Python version; sharding and resume both key on it.
    """
    digest = hashlib.blake2b(submission_id.encode("utf-8", "surrogateescape"), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def shard_of(submission_id: str, count: int) -> int:
    """The 1-based shard of `count` that a submission belongs to."""
    return submission_hash(submission_id) % count + 1
