"""What every bench script prints first and the small statistics they share.

The header (command line, UTC date, machine) travels with the numbers, so a figure pasted
elsewhere still says where and under what load it was measured.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "yc_companies.jsonl"
FALLBACK_DATA = REPO / "local" / "data" / "companies_sample.jsonl"


def default_data() -> Path:
    """The full YC company file when this checkout sits next to it, else the sample in the repo."""
    return DEFAULT_DATA if DEFAULT_DATA.exists() else FALLBACK_DATA


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine(extra: str = "") -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = (
        f"nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, {platform.system()} {platform.release()}, "
        f"load average {load}; Python {platform.python_version()}"
    )
    return f"{text}, {extra}" if extra else text


def print_header(extra: str = "") -> None:
    """Command line, date (UTC) and machine: the context every number below depends on."""
    print(f"command: {' '.join(sys.orig_argv)}")
    print(f"date:    {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {machine(extra)}", flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, as ru_maxrss keeps the parent's larger peak across fork and exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), to tell which side is saturated."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes have spent (Linux /proc/stat), to show how much of the box others took."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def time_wait_sockets() -> int:
    """TCP sockets in TIME_WAIT (Linux /proc/net/sockstat): fresh-connection runs leave one per connection."""
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            parts = line.split()
            return int(parts[parts.index("tw") + 1])
    return 0
