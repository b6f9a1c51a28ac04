"""A run directory: the files one training run leaves for a user to open, rerun or resume.

========================  ==================================================================
file                      contents
========================  ==================================================================
``config.json``           ``{"config": RunConfig.to_dict(), "model": Model.spec(), "data":
                          {...sizes...}, "versions": {...}, "created": ...}``: enough to rerun
``metrics.csv``           one row per optimizer step: ``step, epoch, loss, grad_norm`` and the
                          measured scalars; a cell is empty where nothing was measured that step
``arrays.npz``            spectra, local exponents, finite-time exponents, ln growth factors
``summary.json``          ``kind="run"``, ``status`` (running, completed, diverged,
                          interrupted), final metrics, divergence step and reason, wall time
``checkpoint.npz``        everything needed to continue bitwise: theta, optimizer state,
                          tangent vectors and QR sums, measurement histories, metric rows
``figures/*.png``         :mod:`refchaos.plots.run`
========================  ==================================================================

Every file is written atomically (:mod:`refchaos.io`): a crash leaves each file either at its
previous complete content or at its new one. The checkpoint is one ``.npz`` file holding its
own JSON metadata, so its arrays and metadata can never disagree. Metric rows live in the
checkpoint too: ``metrics.csv`` is always rewritten from them, so on resume the rows written
after the last checkpoint are dropped and recomputed.

Floats in ``metrics.csv`` are written with ``repr`` (shortest round-trip form), so reading the
file back gives the same float64 values bit for bit.
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from ..io import atomic_write_csv, atomic_write_json, atomic_write_npz, json_safe
from .config import ConfigError, RunConfig

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
ARRAYS_FILE = "arrays.npz"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
FIGURES_DIR = "figures"

STATUSES = ("running", "completed", "diverged", "interrupted")
CHECKPOINT_FORMAT = 1  # Bumped when the checkpoint layout changes; older ones are refused.
META_KEY = "__meta__"  # Name of the JSON metadata entry inside checkpoint.npz.
INT_COLUMNS = frozenset({"step", "epoch", "n_pruned", "n_negative", "n_positive", "n_zero",
                         "n_chaotic"})  # Written as integers in metrics.csv.


class RunDirectoryError(RuntimeError):
    """A run directory is missing a file, holds a corrupt one, or does not fit the request."""


class RunDirectory:
    """The files of one run under ``path`` (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"RunDirectory({str(self.path)!r})"

    # ----- paths -----------------------------------------------------------------------------
    @property
    def config_path(self):
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self):
        return self.path / METRICS_FILE

    @property
    def arrays_path(self):
        return self.path / ARRAYS_FILE

    @property
    def summary_path(self):
        return self.path / SUMMARY_FILE

    @property
    def checkpoint_path(self):
        return self.path / CHECKPOINT_FILE

    @property
    def figures_dir(self):
        return self.path / FIGURES_DIR

    def exists(self):
        """True if this directory already holds a run (its config.json)."""
        return self.config_path.is_file()

    # ----- creation and config -----------------------------------------------------------------
    def create(self, config_doc):
        """Make the directory and write ``config.json``; refuses a directory holding a run."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path} exists and is not a directory")
        if self.exists():
            raise RunDirectoryError(
                f"{self.path} already holds a run ({CONFIG_FILE}); resume it or choose another "
                "output directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self.figures_dir.mkdir(exist_ok=True)
        atomic_write_json(self.config_path, json_safe(config_doc))

    def read_config_doc(self):
        """The whole ``config.json`` as a dict (RunDirectoryError if missing or corrupt)."""
        doc = self._read_json(self.config_path, "the run's configuration")
        if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
            raise RunDirectoryError(f"{self.config_path} has no 'config' object: not a run directory")
        return doc

    def read_config(self):
        """The :class:`RunConfig` stored in ``config.json``, validated."""
        doc = self.read_config_doc()
        try:
            return RunConfig.from_dict(doc["config"]).validate()
        except (ConfigError, TypeError) as err:
            raise RunDirectoryError(f"{self.config_path}: invalid configuration: {err}") from None

    def check_config(self, config):
        """Raise RunDirectoryError naming every option where ``config`` differs from the stored one."""
        stored = self.read_config().to_dict()
        given = config.to_dict()
        diff = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
        if diff:
            detail = "; ".join(f"{k}: stored {stored.get(k)!r}, given {given.get(k)!r}" for k in diff)
            raise RunDirectoryError(
                f"the configuration does not match the run in {self.path} ({detail}); resume "
                "with the stored configuration or start a new run in another directory")

    # ----- metrics -----------------------------------------------------------------------------
    def write_metrics(self, columns, values, present):
        """Write metric rows: ``values`` (R, C) float64, ``present`` (R, C) bool (empty if False)."""
        rows = []
        for vrow, prow in zip(np.asarray(values), np.asarray(present)):
            rows.append([_format_cell(c, v) if p else "" for c, v, p in zip(columns, vrow, prow)])
        atomic_write_csv(self.metrics_path, rows, header=list(columns))

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
                raise RunDirectoryError(f"{path}: row {i + 2} has {len(row)} cells, expected {len(columns)}")
            for c, cell in zip(columns, row):
                if cell != "":
                    try:
                        data[c][i] = float(cell)
                    except ValueError:
                        raise RunDirectoryError(f"{path}: row {i + 2}, column {c}: {cell!r} is not a number") from None
        return columns, data

    # ----- arrays, summary -----------------------------------------------------------------------
    def write_arrays(self, arrays):
        atomic_write_npz(self.arrays_path, **arrays)

    def read_arrays(self):
        """dict name -> numpy array from ``arrays.npz`` ({} if the run has not written it yet)."""
        if not self.arrays_path.is_file():
            return {}
        return _read_npz(self.arrays_path)

    def write_summary(self, summary):
        atomic_write_json(self.summary_path, json_safe(summary))

    def read_summary(self):
        doc = self._read_json(self.summary_path, "the run's summary")
        if not isinstance(doc, dict) or "kind" not in doc:
            raise RunDirectoryError(f"{self.summary_path} has no 'kind'")
        if doc["kind"] == "run" and doc.get("status") not in STATUSES:
            raise RunDirectoryError(f"{self.summary_path}: unknown status {doc.get('status')!r}")
        return doc

    # ----- checkpoint ----------------------------------------------------------------------------
    def write_checkpoint(self, meta, arrays):
        """One atomic ``checkpoint.npz``: the arrays plus ``meta`` (JSON) under :data:`META_KEY`."""
        if META_KEY in arrays:
            raise ValueError(f"{META_KEY!r} is reserved for the checkpoint metadata")
        meta = dict(meta, format=CHECKPOINT_FORMAT)
        text = json.dumps(json_safe(meta), sort_keys=True, allow_nan=False)
        atomic_write_npz(self.checkpoint_path, **arrays, **{META_KEY: np.asarray(text)})

    def read_checkpoint(self):
        """(meta, arrays) of the last checkpoint; RunDirectoryError if missing, corrupt or foreign."""
        path = self.checkpoint_path
        if not path.is_file():
            raise RunDirectoryError(
                f"{path} is missing: the run stopped before its first checkpoint; start it anew")
        arrays = _read_npz(path)
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
        summary = self.read_summary()
        if self.metrics_path.is_file():
            columns, data = self.read_metrics()
            steps = data["step"]
            if steps.size and not np.array_equal(steps, np.arange(steps.size)):
                raise RunDirectoryError(f"{self.metrics_path}: steps are not 0, 1, 2, ...")
        self.read_arrays()
        if self.checkpoint_path.is_file():
            self.read_checkpoint()
        return summary

    def _read_json(self, path, what):
        if not path.is_file():
            raise RunDirectoryError(f"{path} is missing ({what}): not a run directory")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunDirectoryError(f"{path} is corrupt ({what}): {err}") from None


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise RunDirectoryError(f"{path} is corrupt: {err}") from None


def _format_cell(column, value):
    """A metric value as CSV text: integers for count columns, ``repr`` (round-trip) otherwise."""
    if column in INT_COLUMNS and math.isfinite(value):
        return str(int(value))
    return repr(float(value))


def write_summary(out, summary, figures=True):
    """Write ``out/summary.json`` (written last: it marks a result directory complete) and,
    with ``figures``, draw the directory's figures from its files (:func:`refchaos.plots.redraw`)."""
    atomic_write_json(Path(out) / SUMMARY_FILE, json_safe(summary))
    if figures:
        from ..plots import redraw

        redraw(out)
