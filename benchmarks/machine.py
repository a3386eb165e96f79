"""Facts about the machine and software a benchmark ran on, written into every result file."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

import numpy as np


def versions(*packages: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_bandwidth_gbs(size_mb: int = 512, reps: int = 5) -> float:
    """A rough single-thread read bandwidth: sum a large array (decode speed is bound by this)."""
    a = np.ones(size_mb * 1024 * 1024 // 8)
    a.sum()
    best = min(_timed(a.sum) for _ in range(reps))
    return a.nbytes / best / 1e9


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def machine_info() -> dict[str, Any]:
    mem_total = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_total = int(line.split()[1]) * 1024
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": mem_total,
        "memory_bandwidth_gbs": round(memory_bandwidth_gbs(), 1),
        "load_average_at_start": load,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "git_commit": commit or None,
        "versions": versions("edgemem", "llama-cpp-python", "sqlite-vec", "onnxruntime", "tokenizers", "numpy"),
    }


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def rss_bytes(pid: int | str = "self") -> dict[str, int]:
    """Current and peak resident memory of a process, by default this one (Linux)."""
    out = {}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            key, val = line.split(":")
            out[key] = int(val.split()[0]) * 1024
    return {"rss": out.get("VmRSS", 0), "peak_rss": out.get("VmHWM", 0)}
