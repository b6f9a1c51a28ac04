"""A sweep's grid cut into chunks of points: the unit of work of every scheduler.

A chunk is a list of (lr, seed) points that one call of the chunk runner
(``runner(sweep_dict, points, tick=None) -> list of run_point results``) computes at once:
the local loop, each of ``--workers`` processes and each Dask task take one chunk at a time.
A chunk runs whole or not at all; its points are written (atomically, one file each) when it
finishes, so a resumed sweep skips every finished chunk and reruns a chunk that was cut off.

Chunk size (points per chunk)
-----------------------------
``--chunk-size N`` fixes it. Otherwise it comes from the memory available:

    size = floor(MEMORY_FRACTION * available / (workers * members * member_bytes))

clamped to [1, min(ceil(points / workers), MAX_CHUNK_MEMBERS // members)] (every worker gets a
chunk, and a chunk, the work an interruption loses, stays a few dozen trajectories), where
``available`` is
MemAvailable of /proc/meminfo (on Dask: the smallest worker's memory limit), ``members`` =
1 reference + M perturbed copies + 1 tangent vector per point, and ``member_bytes`` is
the bytes one trajectory of a batched ensemble keeps alive in a step
(:func:`refchaos.experiments.ensemble_chunk.member_bytes` for the plain-SGD sweeps that run as
ensembles, else the coarser :func:`member_bytes`).
Where MemAvailable cannot be read, chunks hold one point each.

The grid is cut seed-major (all learning rates of seed 0, then of seed 1, ...): the points of
a chunk then share an initialisation and a batch order as far as the chunk size allows.
The chunks are recorded in ``chunks.json`` of the sweep directory, and a resumed sweep uses
the recorded chunks, so its results do not depend on where it was interrupted (bit for bit).
Another chunk size gives the same table to rounding: where members share the input (full
batch on one dataset, or a chunk of one seed), the chunk sets the width of the first layer's
GEMM, and whether the BLAS then adds each column's terms in the same order depends on its
kernels (tests/experiments/sweep_tables.py argues the tolerance); with per-member inputs in
both plans the tables are identical.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from .. import io
from .config import ConfigError
from .progress import REDRAW_S

MEMORY_FRACTION = 0.5  # Share of the available memory the chunks in flight may fill.
# Trajectories per automatic chunk at most. A chunk runs whole or not at all, so it is also what
# an interruption loses; and the batched GEMMs gain nothing measurable beyond a few dozen
# members on a CPU (validation/bench/bench_ensemble.py: the same OpenBLAS rate for 64 and
# 3,200 first-layer columns). ``--chunk-size`` overrides it.
MAX_CHUNK_MEMBERS = 64
ACTIVATION_COPIES = 4  # (B, width) arrays per layer and member alive in a gradient-and-HVP pass.
PARAMETER_COPIES = 4  # theta-sized arrays per member: theta, gradient, update, tangent vector.
CHUNKS_FILE = "chunks.json"  # The chunking of a sweep directory.
MEMINFO = "/proc/meminfo"


class ChunkPlanError(ValueError):
    """A chunk size that cannot work, or a directory cut into other chunks than asked."""


def check_chunk_size(size):
    """``size`` as an int >= 1 (points per chunk), or ConfigError naming --chunk-size."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"--chunk-size must be an integer >= 1, got {size!r}")
    return size


def members_per_point(copies):
    """Trajectories of one grid point: the reference, M perturbed copies and a tangent vector."""
    return 1 + int(copies) + 1


def member_bytes(model, batch_size, itemsize=8):
    """Bytes one ensemble member needs in one step: activations of the batch and theta copies.

    ``ACTIVATION_COPIES * B * (sum of layer output sizes) + PARAMETER_COPIES * N`` numbers of
    ``itemsize`` bytes; the data themselves are shared by all members and not counted.
    """
    widths = sum(math.prod(layer.output_shape(shape))
                 for layer, shape in zip(model.layers, model.in_shapes))
    return int(itemsize) * (ACTIVATION_COPIES * int(batch_size) * widths
                            + PARAMETER_COPIES * model.num_params)


def available_memory(path=MEMINFO):
    """MemAvailable in bytes from /proc/meminfo, or None where it cannot be read."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the file counts kiB
    except (OSError, ValueError, IndexError):
        return None
    return None


def auto_chunk_size(num_points, members, bytes_per_member, workers=1, available=None):
    """Points per chunk from the memory ``available`` (bytes; None: one point per chunk)."""
    workers = max(int(workers), 1)
    most = max(min(math.ceil(num_points / workers),  # every worker gets a chunk
                   MAX_CHUNK_MEMBERS // max(int(members), 1)), 1)
    if available is None:
        return 1
    fit = int(MEMORY_FRACTION * available // (workers * members * max(bytes_per_member, 1)))
    return min(max(fit, 1), most)


def seed_major(points):
    """The points ordered by seed, then by lr in the given order (chunks share a seed)."""
    rank = {p: i for i, p in enumerate(points)}
    return sorted(points, key=lambda p: (p[1], rank[p]))


def cut(points, size):
    """Consecutive chunks of ``size`` points of the seed-major order (the last may be smaller)."""
    size = check_chunk_size(size)
    ordered = seed_major(points)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def plan(out, points, size, requested):
    """The chunks of the sweep in directory ``out``: the recorded ones, else cut and recorded.

    ``size`` is the chunk size to use for a new plan; ``requested`` is the size the user
    asked for (None: automatic). A recorded plan with another size than ``requested`` is
    refused: a resumed sweep keeps its chunks.
    """
    path = Path(out) / CHUNKS_FILE
    if path.exists():
        stored = io.read_json(path)
        chunks = [[(float(lr), int(seed)) for lr, seed in chunk] for chunk in stored["chunks"]]
        if requested is not None and int(requested) != stored["chunk_size"]:
            raise ChunkPlanError(
                f"{out} is cut into chunks of {stored['chunk_size']} points ({CHUNKS_FILE}); a "
                f"resumed sweep keeps its chunks: leave out --chunk-size or give "
                f"{stored['chunk_size']}")
        if sorted(p for c in chunks for p in c) != sorted(points):
            raise ChunkPlanError(f"{path} does not cover the points of this sweep")
        return chunks
    chunks = cut(points, size)
    io.atomic_write_json(path, {"chunk_size": int(size), "order": "seed-major",
                                "chunks": [[[lr, seed] for lr, seed in c] for c in chunks]})
    return chunks


# ----- progress over the whole grid -----------------------------------------------------------
class ChunkProgress:
    """Steps of every trajectory on one :class:`~.progress.Progress`, chunk by chunk.

    ``steps_per_point`` is the expected count of one point; a chunk whose runs stopped early
    (divergence) is topped up to its full share when it finishes, so the bar ends at 100%.
    """

    def __init__(self, meter, steps_per_point):
        self.meter, self.per_point = meter, int(steps_per_point)
        self.seen = {}

    def add(self, key, n=1):
        self.seen[key] = self.seen.get(key, 0) + n
        self.meter.advance(n)

    def tick_for(self, key):
        return lambda: self.add(key)

    def chunk_done(self, key, num_points):
        rest = num_points * self.per_point - self.seen.pop(key, 0)
        if rest > 0:
            self.meter.advance(rest)


class QueueTick:
    """A picklable ``tick()`` for a worker process: counts steps and sends (key, count) to a
    queue at most every :data:`~.progress.REDRAW_S` seconds (and on :meth:`flush`)."""

    def __init__(self, queue, key):
        self.queue, self.key = queue, key
        self.count, self.last = 0, time.monotonic()

    def __call__(self):
        self.count += 1
        if time.monotonic() - self.last >= REDRAW_S:
            self.flush()

    def flush(self):
        if self.count:
            self.queue.put((self.key, self.count))
        self.count, self.last = 0, time.monotonic()


def run_in_process(runner, sweep_dict, points, queue, key):
    """A worker process's task: ``runner`` on one chunk, its steps reported through ``queue``."""
    tick = QueueTick(queue, key)
    try:
        return runner(sweep_dict, points, tick)
    finally:
        tick.flush()
