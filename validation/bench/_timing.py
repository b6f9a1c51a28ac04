"""Timing helper of the benchmarks: the median of several wall-clock runs (no mathematics)."""

from __future__ import annotations

import platform
import time

import numpy as np


def median_time(fn, repeats, warmup=1):
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def paired_times(plain, tangent, repeats):
    """Median seconds of each call and the median ratio tangent/plain, the two calls alternating.

    Each pair runs back to back, so both calls of a pair see the same machine load; the ratio
    is the median of the per-pair ratios (one warm-up call of each first).
    """
    plain(), tangent()  # warm-up
    tp, tt = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plain()
        t1 = time.perf_counter()
        tangent()
        t2 = time.perf_counter()
        tp.append(t1 - t0)
        tt.append(t2 - t1)
    tp, tt = np.asarray(tp), np.asarray(tt)
    return float(np.median(tp)), float(np.median(tt)), float(np.median(tt / tp))


def header(title, params):
    print(f"# {title}")
    print(f"# machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    for key, value in params.items():
        print(f"#   {key} = {value}")
