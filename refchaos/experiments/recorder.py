"""Append-only records of a run: metric rows in a CSV file, per-step arrays in chunk files.

Writing a step costs O(that step's data), a checkpoint O(the state), never O(the history):

* ``metrics.csv`` gets one line per step, appended. :meth:`Recorder.sync` (at every
  checkpoint) flushes and ``fsync``\\ s it and returns the number of valid rows and their byte
  length; the checkpoint stores that. A crash (kill -9) can leave a cut last line or rows past
  the checkpoint: :meth:`Recorder.resume` truncates the file back to the recorded length, so
  the rows are recomputed, not duplicated.
* Per-step arrays (spectra, local exponents, finite-time exponents, ln growth factors) are held
  in memory between checkpoints and written at :meth:`Recorder.sync` as one new file
  ``chunks/chunk_<index>.npz`` (atomic). Each named record has ``<name>.steps`` (k,),
  ``<name>.lengths`` (k,) and ``<name>.values`` (sum of lengths,), so rows of different lengths
  (spectra restricted to the range of H) need no padding. :func:`read_records` concatenates
  the chunks; chunks past the checkpoint's count are removed on resume.

Floats are written with ``repr`` (shortest round-trip form), so metrics.csv reads back the same
float64 values bit for bit, and an interrupted-and-resumed run writes the same bytes.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from ..io import atomic_write_npz

METRICS_FILE = "metrics.csv"
CHUNKS_DIR = "chunks"
CHUNK_NAME = "chunk_{:06d}.npz"
_CHUNK_RE = re.compile(r"^chunk_(\d{6})\.npz$")
INT_COLUMNS = frozenset({"step", "epoch", "n_pruned", "n_negative", "n_positive", "n_zero",
                         "n_chaotic"})  # Written as integers in metrics.csv.


class RecordError(RuntimeError):
    """The records on disk do not fit the checkpoint (cut short, or another run's)."""


def format_cell(column, value):
    """A metric value as CSV text: integers for count columns, ``repr`` (round-trip) otherwise."""
    if column in INT_COLUMNS and math.isfinite(value):
        return str(int(value))
    return repr(float(value))


def format_row(columns, row):
    """One CSV line (with its newline) for the dict ``row``; empty cells where absent."""
    return ",".join(format_cell(c, row[c]) if c in row else "" for c in columns) + "\n"


def chunk_paths(directory):
    """The chunk files under ``directory/chunks`` in index order (temporary files excluded)."""
    folder = Path(directory) / CHUNKS_DIR
    if not folder.is_dir():
        return []
    found = sorted((int(m.group(1)), folder / n) for n in os.listdir(folder)
                   if (m := _CHUNK_RE.match(n)))
    for i, (index, path) in enumerate(found):
        if index != i:
            raise RecordError(f"{folder}: chunk {i} is missing (found {path.name})")
    return [p for _, p in found]


def read_records(directory):
    """name -> (steps (k,) int64, list of k float64 arrays) over all chunks, in step order."""
    out = {}
    for path in chunk_paths(directory):
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise RecordError(f"{path} is corrupt: {err}") from None
        for key in data:
            if not key.endswith(".steps"):
                continue
            name = key[:-len(".steps")]
            steps, rows = out.setdefault(name, ([], []))
            lengths = data[f"{name}.lengths"]
            values = np.split(data[f"{name}.values"], np.cumsum(lengths)[:-1]) if lengths.size else []
            steps.extend(int(s) for s in data[key])
            rows.extend(values)
    return {name: (np.asarray(s, dtype=np.int64), r) for name, (s, r) in out.items()}


class Recorder:
    """Appends the rows and arrays of one run to ``directory`` (see the module docstring)."""

    def __init__(self, directory, columns):
        self.directory = Path(directory)
        self.columns = list(columns)
        self.csv_path = self.directory / METRICS_FILE
        self.header = ",".join(self.columns) + "\n"
        self._fh = None
        self.rows = 0  # rows appended so far (valid once synced)
        self.chunks = 0  # chunk files written
        self._pending = {}  # name -> (steps, arrays) since the last chunk

    def start(self):
        """A new run: metrics.csv holds the header only, no chunks."""
        (self.directory / CHUNKS_DIR).mkdir(exist_ok=True)
        self._fh = open(self.csv_path, "wb")
        self._fh.write(self.header.encode())
        self.rows = self.chunks = 0
        return self

    def resume(self, state):
        """Continue from a checkpoint's :meth:`sync` ``state``: drop rows and chunks past it."""
        rows, size, chunks = int(state["rows"]), int(state["csv_bytes"]), int(state["chunks"])
        if not self.csv_path.is_file():
            raise RecordError(f"{self.csv_path} is missing; the run cannot be resumed")
        with open(self.csv_path, "rb") as fh:
            head = fh.read(size)
        if len(head) < size:
            raise RecordError(f"{self.csv_path} holds {len(head)} bytes, fewer than the "
                              f"{size} of the {rows} rows the checkpoint recorded: it was cut "
                              "short; the run cannot be resumed")
        if not head.startswith(self.header.encode()) or head.count(b"\n") != rows + 1 \
                or (size and not head.endswith(b"\n")):
            raise RecordError(f"{self.csv_path} does not hold the {rows} rows the checkpoint "
                              "recorded (another run's file?); the run cannot be resumed")
        paths = chunk_paths(self.directory)
        if len(paths) < chunks:
            raise RecordError(f"{self.directory / CHUNKS_DIR} holds {len(paths)} chunks, the "
                              f"checkpoint recorded {chunks}; the run cannot be resumed")
        for path in paths[chunks:]:
            path.unlink()
        self._fh = open(self.csv_path, "r+b")
        self._fh.truncate(size)
        self._fh.seek(size)
        self.rows, self.chunks = rows, chunks
        return self

    def append(self, row):
        """Append the metrics of one step (a dict column -> number)."""
        self._fh.write(format_row(self.columns, row).encode())
        self.rows += 1

    def record(self, name, step, values):
        """Keep the array (or scalar) ``values`` of step ``step`` under ``name``."""
        steps, arrays = self._pending.setdefault(name, ([], []))
        steps.append(int(step))
        arrays.append(np.asarray(values, dtype=np.float64).reshape(-1))

    def sync(self):
        """Write the pending arrays as one chunk, flush and fsync metrics.csv; returns the state
        a checkpoint records (``rows``, ``csv_bytes``, ``chunks``)."""
        if self._pending:
            data = {}
            for name, (steps, arrays) in self._pending.items():
                data[f"{name}.steps"] = np.asarray(steps, dtype=np.int64)
                data[f"{name}.lengths"] = np.asarray([a.size for a in arrays], dtype=np.int64)
                data[f"{name}.values"] = np.concatenate(arrays)
            atomic_write_npz(self.directory / CHUNKS_DIR / CHUNK_NAME.format(self.chunks), **data)
            self.chunks += 1
            self._pending = {}
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return {"rows": self.rows, "csv_bytes": self._fh.tell(), "chunks": self.chunks}

    def close(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None
