"""Shared fixtures: the backend fixture ``xp`` and the real data in ../shared/data."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from threadpoolctl import threadpool_limits

# One BLAS thread per test process: pytest -n 2 on 2 cores already uses both, and nested
# threading oversubscribes them (a 1,210 x 1,210 eigh measured 16 s instead of 0.5 s).
threadpool_limits(1)

from refchaos.backend import BackendUnavailableError, get_namespace

# Hypothesis: under CI (CI=true) every property test draws the same examples from a fixed
# derandomised seed and ignores the example database, so CI's verdict depends on the code
# alone; locally each run explores new random examples and the database replays failures.
# HYPOTHESIS_PROFILE=ci reproduces CI's examples on a developer's machine.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore"))

SHARED_DATA = Path(os.environ.get("REFCHAOS_SHARED_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def _available_backends():
    names = ["numpy", "array_api_strict", "torch"]
    try:
        get_namespace("cupy")
        names.append("cupy")
    except BackendUnavailableError:
        pass
    return names


BACKENDS = _available_backends()


@pytest.fixture(params=BACKENDS)
def xp(request):
    """Each available array namespace: numpy, array_api_strict, torch (CPU), cupy with a GPU."""
    return get_namespace(request.param)


@pytest.fixture(scope="session")
def shared_data():
    """Path of the real dataset files; tests that need them skip only if the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def usps_head(shared_data):
    """First 128 USPS training images (ESL format) as float64 (128, 256) and int64 labels."""
    rows = []
    with gzip.open(shared_data / "usps" / "zip.train.gz", "rt") as fh:
        for _, line in zip(range(128), fh):
            rows.append([float(v) for v in line.split()])
    a = np.asarray(rows)
    return a[:, 1:], a[:, 0].astype(np.int64)
