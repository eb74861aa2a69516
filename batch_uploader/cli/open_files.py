"""The open-file limit (`ulimit -n`) and the concurrency that fits in it.

A request in flight holds a socket and, while its images are read, a file; the process
holds a few more of its own (the manifest, the report and its lock, the event loop). A
concurrency that does not fit would end in "Too many open files" halfway through a run.
"""

from __future__ import annotations

import logging

from batch_uploader.errors import ConfigurationError

try:
    import resource
except ImportError:  # not on Windows, which has no such limit to raise
    resource = None  # type: ignore[assignment]

logger = logging.getLogger("batch_uploader")

DESCRIPTORS_PER_REQUEST = 2
DESCRIPTORS_RESERVED = 64


def descriptors_needed(concurrency: int) -> int:
    return concurrency * DESCRIPTORS_PER_REQUEST + DESCRIPTORS_RESERVED


def fit_concurrency(concurrency: int) -> int:
    """Raise the soft open-file limit towards the hard one as far as `concurrency` needs;
    if even the hard limit is too low, the highest concurrency that fits, with a warning."""
    if resource is None:
        return concurrency
    needed = descriptors_needed(concurrency)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return concurrency
    raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    except (ValueError, OSError):
        pass  # the earlier soft limit stays; the check below says what fits in it
    if soft >= needed:
        return concurrency
    fitting = (soft - DESCRIPTORS_RESERVED) // DESCRIPTORS_PER_REQUEST
    if fitting < 1:
        raise ConfigurationError(
            f"this process may open only {soft} files (ulimit -n), too few to send anything; "
            f"raise the limit to at least {descriptors_needed(1)}"
        )
    logger.warning(
        "--concurrency %d needs about %d open files, but this process may open only %d "
        "(ulimit -n; the hard limit is %d): sending %d requests at a time instead. To send "
        "%d, raise the limit first (ulimit -n %d)",
        concurrency,
        needed,
        soft,
        hard,
        fitting,
        concurrency,
        needed,
    )
    return fitting
