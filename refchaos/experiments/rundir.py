"""A run directory: the files one training run leaves for a user to open, rerun or resume.

A :class:`~refchaos.experiments.resultdir.ResultDirectory` of kind ``run``:

===========================  =============================================================
file                         contents
===========================  =============================================================
``config.json``              ``{"kind": "run", "config": RunConfig.to_dict(), "model":
                             Model.spec(), "data": {...sizes...}, "versions": {...}}``
``metrics.csv``              one row per optimizer step, appended (:mod:`.recorder`):
                             ``step, epoch, loss, grad_norm`` and the measured scalars; a
                             cell is empty where nothing was measured that step
``chunks/chunk_*.npz``       spectra, local exponents, finite-time exponents, ln growth
                             factors, one file per checkpoint interval (:mod:`.recorder`)
``summary.json``             ``kind="run"``, ``status``, final metrics, divergence, wall time
``checkpoint.npz``           the state needed to continue bitwise (theta, optimizer state,
                             tangent vectors and QR sums) and how many rows and chunks are
                             valid: O(state), not O(history)
``checkpoint.prev.npz``      the checkpoint before it, kept until the new one is complete
``figures/*.png``            :mod:`refchaos.plots.run`
===========================  =============================================================

A new checkpoint is written whole to ``checkpoint.next.npz`` (atomic), then the current one
becomes ``checkpoint.prev.npz`` and the new one ``checkpoint.npz``. :meth:`read_checkpoint`
takes the first of ``checkpoint.npz``, ``checkpoint.next.npz``, ``checkpoint.prev.npz`` that
reads whole, so a crash at any point, or a checkpoint cut short, falls back to a complete one;
the records are then truncated to what that checkpoint counted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
import zipfile

import numpy as np

from ..io import atomic_write_npz, json_safe
from .config import ConfigError, RunConfig
from .recorder import METRICS_FILE, RecordError, read_records
from .resultdir import (CONFIG_FILE, FIGURES_DIR, STATUSES, SUMMARY_FILE, ResultDirectory,
                        ResultDirectoryError, differences)

RunDirectoryError = ResultDirectoryError  # the name earlier versions used
CHECKPOINT_FILE = "checkpoint.npz"
NEXT_CHECKPOINT_FILE = "checkpoint.next.npz"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.npz"
CHECKPOINT_FORMAT = 3  # Bumped when the checkpoint layout changes; older ones are refused.
META_KEY = "__meta__"  # Name of the JSON metadata entry inside checkpoint.npz.


class CheckpointFallbackWarning(UserWarning):
    """The newest checkpoint was unreadable; an earlier complete one is used."""


class RunDirectory(ResultDirectory):
    """The files of one run under ``path`` (see the module docstring)."""

    kind = "run"

    def __init__(self, path):
        super().__init__(path)

    @property
    def metrics_path(self):
        return self.path / METRICS_FILE

    @property
    def checkpoint_path(self):
        return self.path / CHECKPOINT_FILE

    def read_config(self):
        """The :class:`RunConfig` stored in ``config.json``, validated."""
        doc = self.read_config_doc()
        if doc["kind"] != "run":
            raise RunDirectoryError(f"{self.path} holds the results of `refchaos {doc['kind']}`, "
                                    "not a run; choose another --out")
        try:
            return RunConfig.from_dict(doc["config"]).validate()
        except (ConfigError, TypeError) as err:
            raise RunDirectoryError(f"{self.config_path}: invalid configuration: {err}") from None

    def check_config(self, config):
        """Raise RunDirectoryError naming every option where ``config`` differs from the stored one."""
        diff = differences(self.read_config().to_dict(), config.to_dict())
        if diff:
            raise RunDirectoryError(
                f"the configuration does not match the run in {self.path} ({'; '.join(diff)}); "
                "resume with the stored configuration or start a new run in another directory")

    # ----- records -----------------------------------------------------------------------------
    def read_metrics(self):
        """(columns, dict column -> float64 array) from ``metrics.csv``; NaN where empty."""
        path = self.metrics_path
        if not path.is_file():
            raise RunDirectoryError(f"{path} is missing")
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if not rows or not rows[0] or rows[0][0] != "step":
            raise RunDirectoryError(f"{path} is not a metrics file (no header starting with 'step')")
        columns, body = rows[0], rows[1:]
        data = {c: np.full(len(body), math.nan) for c in columns}
        for i, row in enumerate(body):
            if len(row) != len(columns):
                raise RunDirectoryError(f"{path}: row {i + 2} has {len(row)} cells, expected "
                                        f"{len(columns)} (a row cut short by a crash: resume "
                                        "the run to repair it)")
            for c, cell in zip(columns, row):
                if cell != "":
                    try:
                        data[c][i] = float(cell)
                    except ValueError:
                        raise RunDirectoryError(f"{path}: row {i + 2}, column {c}: {cell!r} "
                                                "is not a number") from None
        return columns, data

    def read_arrays(self):
        """The per-step arrays of the chunks as one dict (NaN-padded spectra):
        ``spectrum_steps, spectrum_lengths, eigenvalues, local_exponents, ftle_steps, ftle,
        log_growth``."""
        try:
            rec = read_records(self.path)
        except RecordError as err:
            raise RunDirectoryError(str(err)) from None
        steps, eig = rec.get("eigenvalues", (np.zeros(0, np.int64), []))
        _, exp = rec.get("local_exponents", (steps, []))
        lengths = np.asarray([a.size for a in eig], dtype=np.int64)
        width = int(lengths.max()) if lengths.size else 0
        eigenvalues = np.full((lengths.size, width), math.nan)
        local = np.full((lengths.size, width), math.nan)
        for i, (lam, e) in enumerate(zip(eig, exp)):
            eigenvalues[i, :lam.size], local[i, :e.size] = lam, e
        ftle_steps, ftle = rec.get("ftle", (np.zeros(0, np.int64), []))
        growth = rec.get("log_growth", (None, []))[1]
        return dict(spectrum_steps=steps, spectrum_lengths=lengths, eigenvalues=eigenvalues,
                    local_exponents=local, ftle_steps=ftle_steps,
                    ftle=np.asarray(ftle, dtype=np.float64).reshape(len(ftle), -1) if ftle
                    else np.zeros((0, 0)),
                    log_growth=np.concatenate(growth) if growth else np.zeros(0))

    # ----- checkpoint ----------------------------------------------------------------------------
    def write_checkpoint(self, meta, arrays):
        """A new checkpoint (arrays plus ``meta`` JSON under :data:`META_KEY`); the previous one
        is kept as ``checkpoint.prev.npz`` until this one is complete."""
        if META_KEY in arrays:
            raise ValueError(f"{META_KEY!r} is reserved for the checkpoint metadata")
        meta = dict(meta, format=CHECKPOINT_FORMAT)
        text = json.dumps(json_safe(meta), sort_keys=True, allow_nan=False)
        nxt = self.path / NEXT_CHECKPOINT_FILE
        atomic_write_npz(nxt, **arrays, **{META_KEY: np.asarray(text)})
        if self.checkpoint_path.is_file():
            os.replace(self.checkpoint_path, self.path / PREVIOUS_CHECKPOINT_FILE)
        os.replace(nxt, self.checkpoint_path)

    def read_checkpoint(self):
        """(meta, arrays) of the newest complete checkpoint (warning if it is not the newest)."""
        errors = []
        for name in (CHECKPOINT_FILE, NEXT_CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
            path = self.path / name
            if not path.is_file():
                continue
            try:
                found = self._read_checkpoint_file(path)
            except RunDirectoryError as err:
                errors.append(str(err))
                continue
            if errors:
                warnings.warn(f"{'; '.join(errors)}; using {path.name} (step {found[0]['step']})",
                              CheckpointFallbackWarning, stacklevel=2)
            return found
        if errors:
            raise RunDirectoryError("; ".join(errors) + "; no complete checkpoint is left: "
                                    "start the run anew in another directory")
        raise RunDirectoryError(f"{self.checkpoint_path} is missing: the run stopped before "
                                "its first checkpoint; start it anew")

    def _read_checkpoint_file(self, path):
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise RunDirectoryError(f"{path} is corrupt: {err}") from None
        if META_KEY not in arrays:
            raise RunDirectoryError(f"{path} has no metadata: not a refchaos checkpoint")
        try:
            meta = json.loads(str(arrays.pop(META_KEY)))
        except json.JSONDecodeError as err:
            raise RunDirectoryError(f"{path}: corrupt metadata ({err})") from None
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise RunDirectoryError(
                f"{path} has checkpoint format {meta.get('format')!r}; this refchaos reads "
                f"format {CHECKPOINT_FORMAT}")
        return meta, arrays

    # ----- validation -----------------------------------------------------------------------------
    def validate(self):
        """Check that the files present are readable and consistent; returns the summary dict."""
        self.read_config()
        summary = super().validate()
        if self.metrics_path.is_file():
            _, data = self.read_metrics()
            steps = data["step"]
            if steps.size and not np.array_equal(steps, np.arange(steps.size)):
                raise RunDirectoryError(f"{self.metrics_path}: steps are not 0, 1, 2, ...")
        self.read_arrays()
        if self.checkpoint_path.is_file():
            self.read_checkpoint()
        return summary


__all__ = ["RunDirectory", "RunDirectoryError", "CHECKPOINT_FILE", "PREVIOUS_CHECKPOINT_FILE",
           "CONFIG_FILE", "SUMMARY_FILE", "FIGURES_DIR", "STATUSES", "METRICS_FILE"]
