"""Measurement helpers of the fan-out benchmark: free ports, percentiles, CPU time, the machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (those alive now)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def machine_description() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} logical cores ({psutil.cpu_count(logical=False)} physical; {model or 'unknown CPU'}),"
            f" {psutil.virtual_memory().total / 2**30:.1f} GiB, load average {load}; Python "
            f"{platform.python_version()} on {platform.system()} {platform.release()}")
