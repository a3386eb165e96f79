"""Facts about the machine and software a run happened on (written into every benchmark result and
training run log), and this process's memory: one implementation for the runtime, training and benchmarks."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
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
    for line in _proc("cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
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
    for line in _proc("meminfo").splitlines():
        if line.startswith("MemTotal"):
            mem_total = int(line.split()[1]) * 1024
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


def _proc(name: str) -> str:
    """The text of a /proc file ("" where /proc is missing: not Linux)."""
    try:
        return Path("/proc", name).read_text()
    except OSError:
        return ""


def _status_kb(field: str, pid: int | str = "self") -> int | None:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM) in KiB; None where it is missing."""
    for line in _proc(f"{pid}/status").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def rss_bytes(pid: int | str = "self") -> dict[str, int]:
    """Current and peak resident memory of a process, by default this one (Linux)."""
    return {"rss": 1024 * (_status_kb("VmRSS", pid) or 0), "peak_rss": 1024 * (_status_kb("VmHWM", pid) or 0)}


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (Intel AMX, AVX512-BF16 on Zen 4/5 and Cooper Lake+).
    An ad-hoc check on a Sapphire Rapids core (not a committed benchmark): a 2048x896x4864 matmul
    took 193 ms in fp32 and 28 ms in bf16.
    Without them bf16 is emulated and slower than fp32."""
    flags = _proc("cpuinfo")  # not Linux: "", so fp32
    return "amx_bf16" in flags or "avx512_bf16" in flags


def rss_mb() -> float:
    """This process's resident set size in MB (peak RSS where /proc is missing)."""
    rss = _status_kb("VmRSS")
    if rss is not None:
        return rss / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB on Linux
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_rss_mb() -> float | None:
    """The process's peak resident size (VmHWM) in MB since the last :func:`reset_peak_rss`; None off Linux."""
    peak = _status_kb("VmHWM")
    return None if peak is None else peak / 1024


def reset_peak_rss() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM), so each step's own peak is logged."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def release_memory() -> None:
    """Give freed heap memory back to the operating system (glibc ``malloc_trim``; elsewhere a no-op).

    Why: on CPU, torch's freed tensors go back to glibc malloc, which keeps the pages mapped; with
    allocations of changing sizes every step (prompts and completions of different lengths) the
    training process's RSS grew to 12-18 GB for a 0.5B LoRA run and got OOM-killed next to other jobs."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass
