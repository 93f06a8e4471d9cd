"""`raie bench ...`: the benchmarks, one module (or package) per subcommand."""

from __future__ import annotations

import resource


def peak_rss_mib() -> float:
    """The process's peak resident memory so far, MiB (`getrusage` ``ru_maxrss``, KiB on
    Linux): a high-water mark of the whole process, so it includes everything run before."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
