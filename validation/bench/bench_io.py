"""I/O share of the wall time of a run with the Hessian spectrum every step: main against now.

H22 Fig. 1's regime: the 256-20-10 ReLU MLP on USPS (standardised), batch 8, lr 1e-3, the
exact spectrum at every step, a checkpoint every 100 steps; the whole experiment is 40 epochs
= 36,480 steps. Both run directories are written by one process, one after the other, on the
same data and steps:

* "main": the run module of the ``main`` branch (``git archive main refchaos``, imported as
  the package ``refchaos_main``), which rewrites every metric row and every recorded spectrum
  at each checkpoint (arrays.npz and checkpoint.npz hold the whole history);
* "now": this tree, which appends rows, writes one chunk of spectra per checkpoint and a
  checkpoint of the state only.

I/O time is the time spent inside each version's ``_save`` (records, checkpoint, summary) plus,
for "now", the row appends. Figures are not drawn in either (not part of the records). The
measured steps are STEPS (minutes on a loaded 2-core machine, where the full 36,480 steps
would take hours). The per-checkpoint cost of "main" grows with the recorded history, so it
is also measured directly: main's own save on a state holding 9,120, 18,240 and 36,480 steps
of rows and spectra (of the measured width), a line through those three gives all 364 saves
of the full run; "now" saves cost the same at any history, so its measured mean is used.
Run from the root:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m validation.bench.bench_io [--steps 600]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from validation.bench._timing import header

SEED = 0
DATASET, MODEL, B, LR = "usps", "mlp:256-20-10", 8, 1e-3
STEPS = 600  # measured steps (the full experiment has FULL_STEPS)
FULL_STEPS = 36480  # 40 epochs x 912 steps per epoch
CHECKPOINT_EVERY = 100
DATA_DIR = os.environ.get("REFCHAOS_SHARED_DATA", "../shared/data")
ROOT = Path(__file__).resolve().parents[2]


def load_main_package(folder):
    """The ``refchaos`` package of the main branch, importable as ``refchaos_main``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "main", "refchaos"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    os.rename(Path(folder) / "refchaos", Path(folder) / "refchaos_main")
    sys.path.insert(0, str(folder))
    return importlib.import_module("refchaos_main.experiments.run")


class Timer:
    """Accumulated seconds inside wrapped functions, and the seconds of each call."""

    def __init__(self):
        self.total, self.calls = 0.0, []

    def wrap(self, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                self.total += dt
                self.calls.append(dt)

        return timed


def measure(module, config, out, patch):
    """(wall s, I/O s, seconds of each save) of one run of ``module.run``."""
    timer, appends = Timer(), Timer()
    originals = patch(module, timer, appends)
    try:
        t0 = time.perf_counter()
        module.run(config, out, progress=False, checkpoint_every=CHECKPOINT_EVERY)
        wall = time.perf_counter() - t0
    finally:
        for obj, name, value in originals:
            setattr(obj, name, value)
    return wall, timer.total + appends.total, timer.calls


def patch_main(module, timer, appends):
    plots = importlib.import_module("refchaos_main.plots.run")
    saved = [(module, "_save", module._save), (plots, "redraw", plots.redraw)]
    module._save = timer.wrap(module._save)
    plots.redraw = lambda directory: []
    return saved


def patch_now(module, timer, appends):
    import refchaos.plots
    from refchaos.experiments.recorder import Recorder

    saved = [(module, "_save", module._save), (Recorder, "append", Recorder.append),
             (refchaos.plots, "redraw", refchaos.plots.redraw)]
    module._save = timer.wrap(module._save)
    Recorder.append = appends.wrap(Recorder.append)
    refchaos.plots.redraw = lambda directory, summary=None: []
    return saved


def extrapolate(save_seconds, steps):
    """Total seconds of the saves of a ``steps``-step run from a line through the measured
    checkpoint saves (cost against recorded steps), one save per CHECKPOINT_EVERY steps."""
    k = np.arange(1, len(save_seconds) + 1) * CHECKPOINT_EVERY
    slope, intercept = np.polyfit(k, save_seconds, 1)
    at = np.arange(1, steps // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
    return float(np.sum(intercept + slope * at)), slope, intercept


def main_save_at_history(old, config, folder, history, width):
    """Seconds of one save of main's run module with ``history`` recorded steps (rows of the
    run's columns, spectra of ``width`` eigenvalues): what its checkpoints cost late in the
    full run. The state is built directly (no training), the save is main's own code."""
    setup = old.prepare(config)
    st = old._State(setup, setup.theta0)
    columns = old.metric_columns(config)
    row = {c: 0.125 for c in columns}
    st.rows = [dict(row, step=t, epoch=t // 912) for t in range(history)]
    lam = np.linspace(-1.0, 1.0, width)
    st.spectrum_steps = list(range(history))
    st.eigenvalues, st.exponents = [lam] * history, [lam] * history
    st.step = history
    rd = old.RunDirectory(Path(folder) / f"history_{history}")
    rd.create(old.config_document(setup))
    t0 = time.perf_counter()
    old._save(rd, st, setup, columns)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args()
    now = importlib.import_module("refchaos.experiments.run")  # the package shadows it by run()

    with tempfile.TemporaryDirectory() as tmp:
        old = load_main_package(Path(tmp) / "main")
        from refchaos.experiments.config import RunConfig as NowConfig
        from refchaos_main.experiments.config import RunConfig as MainConfig

        options = dict(dataset=DATASET, data_dir=DATA_DIR, model=MODEL, batch_size=B, lr=LR,
                       steps=args.steps, seed=SEED, every=1, measure=("loss", "spectrum"))
        header("I/O share of a spectrum-every-step run: main against now",
               {**options, "checkpoint every": CHECKPOINT_EVERY, "full run steps": FULL_STEPS})
        rows = {}
        for name, module, config, patch in (("main", old, MainConfig(**options), patch_main),
                                            ("now", now, NowConfig(**options), patch_now)):
            load0 = os.getloadavg()[0]
            wall, io_s, calls = measure(module, config, Path(tmp) / name, patch)
            rows[name] = (wall, io_s, calls)
            size = sum(p.stat().st_size for p in (Path(tmp) / name).rglob("*") if p.is_file())
            print(f"{name:5s} wall {wall:8.2f} s  I/O {io_s:7.3f} s  share {io_s / wall:7.3%}  "
                  f"files {size / 1e6:6.2f} MB  load {load0:.1f} -> {os.getloadavg()[0]:.1f}")
        (wm, im, cm), (wn, inn, cn) = rows["main"], rows["now"]
        print(f"ratio of I/O seconds main/now: {im / inn:.1f}; of I/O shares: "
              f"{(im / wm) / (inn / wn):.1f}")
        saves_now = cn[1:-1]  # the periodic checkpoints (not the first nor the final save)
        n_saves = FULL_STEPS // CHECKPOINT_EVERY
        append_per_row = (inn - sum(cn)) / args.steps
        io_now = float(np.mean(saves_now)) * n_saves + append_per_row * FULL_STEPS
        compute = (wn - inn) / args.steps * FULL_STEPS  # per step, the same code in both
        print(f"now: a checkpoint save costs {np.mean(saves_now) * 1e3:.1f} ms whatever the "
              f"history, a row append {append_per_row * 1e6:.0f} us")
        from refchaos.experiments.rundir import RunDirectory

        width = int(RunDirectory(Path(tmp) / "now").read_arrays()["spectrum_lengths"].max())
        points = (FULL_STEPS // 4, FULL_STEPS // 2, FULL_STEPS)
        late = [main_save_at_history(old, MainConfig(**options), tmp, h, width) for h in points]
        slope, icpt = np.polyfit(points, late, 1)
        at = np.arange(1, FULL_STEPS // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY
        total = float(np.sum(icpt + slope * at))
        print(f"main, one save with a recorded history of {', '.join(map(str, points))} steps "
              f"(spectra of {width}): {', '.join(f'{v:.2f}' for v in late)} s; all "
              f"{len(at)} saves of the full run ~ {total:.0f} s (load {os.getloadavg()[0]:.1f})")
        print(f"full run ({FULL_STEPS} steps, compute ~ {compute:.0f} s at this load): I/O main "
              f"~ {total:.0f} s (share {total / (total + compute):.1%}), now ~ {io_now:.0f} s "
              f"(share {io_now / (io_now + compute):.1%}); ratio {total / io_now:.0f}")
        print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
