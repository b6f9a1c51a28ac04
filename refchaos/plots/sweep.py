"""Figures of a learning-rate sweep directory (J25): exponent and training time against lr.

``figures/sweep.png``       top: maximum exponent (perturbed copies per seed and their mean,
                            tangent-vector mean; for a stepper with buffers, where they
                            differ, the whole-state ``exponent_tangent`` and the theta-block
                            ``exponent_tangent_theta`` side by side) against lr on a log
                            axis, zero line and the onset of chaos; bottom: training time per seed and mean, with the
                            lrs that diverged or never reached the target marked at the top.
``figures/divergence.png``  <ln d(t)/d(0)> of the copies for each lr (first seed), with the
                            fit window of the exponent drawn solid and the rest faint.
``figures/tangent.png``     instead, when no point holds perturbed copies (a tangent-only
                            sweep such as validation/j25_open_questions.py): the running
                            exponent of the tangent vector against the step, one line per lr.

Everything is read from the directory (sweep.csv, summary.json, points/*.json), so
``refchaos plot DIR`` redraws it without rerunning anything.
"""

from __future__ import annotations

import io as _io
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import io
from ..io import read_json

DPI = 120  # Resolution of the PNG files.


def save_figure(fig, path):
    """Render ``fig`` with the Agg canvas and write the PNG atomically; returns the path."""
    FigureCanvasAgg(fig)
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    io.atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def redraw(directory, summary=None):
    """Draw the figures of sweep directory ``directory``; returns the PNG paths."""
    from ..experiments.sweep import point_path, read_table

    directory = Path(directory)
    table = read_table(directory / "sweep.csv")
    summary = read_json(directory / "summary.json") if summary is None else summary
    paths = [save_figure(_exponent_and_time(table, summary), directory / "figures" / "sweep.png")]
    curves, running = {}, {}
    for p in summary["per_lr"]:
        seed = summary["config"]["seeds"][0]
        point = read_json(point_path(directory, p["lr"], seed))
        curves[p["lr"]] = (point["curves"]["log_ratio"], point["window_start"], point["window_stop"])
        running[p["lr"]] = point["curves"].get("tangent_running", [])
    if any(len(c[0]) for c in curves.values()):
        paths.append(save_figure(_divergence(curves, seed), directory / "figures" / "divergence.png"))
    else:  # no perturbed copies (a tangent-only sweep): the running tangent exponent instead
        paths.append(save_figure(_tangent_running(running, seed), directory / "figures" / "tangent.png"))
    return paths


def _exponent_and_time(table, summary):
    fig = Figure(figsize=(6.4, 6.4))
    ax_e, ax_t = fig.subplots(2, 1, sharex=True)
    per_lr = summary["per_lr"]
    lrs = np.array([p["lr"] for p in per_lr])
    mean = {k: np.array([_nan(p[k]) for p in per_lr])
            for k in ("exponent_copies", "exponent_tangent", "training_time")}
    ax_e.scatter(table["lr"], table["exponent_copies"], s=10, color="C0", alpha=0.5,
                 label="copies, per seed")
    ax_e.plot(lrs, mean["exponent_copies"], "o-", color="C0", label="copies, mean")
    theta = np.array([_nan(p.get("exponent_tangent_theta")) for p in per_lr])  # absent: older
    apart = bool(np.any(np.isfinite(theta) & (theta != mean["exponent_tangent"])))  # buffers
    ax_e.plot(lrs, mean["exponent_tangent"], "s--", color="C1",
              label="tangent vector, whole state, mean" if apart else "tangent vector, mean")
    if apart:
        ax_e.plot(lrs, theta, "^:", color="C4", label="tangent vector, theta block, mean")
    ax_e.axhline(0.0, color="k", lw=0.8)
    onset = summary.get("onset_lr_copies")
    if onset is None:  # a tangent-only sweep: its e-fold onset if it records one, else the sign's
        onset = summary.get("onset_lr_efold", summary.get("onset_lr_tangent"))
    for ax in (ax_e, ax_t):
        if onset is not None:
            ax.axvline(onset, color="C3", lw=0.8, ls=":")
    ax_e.set_ylabel("max. Lyapunov exponent (per step)")
    ax_e.set_xscale("log")
    ax_e.legend(fontsize="small")
    ok = np.isfinite(table["training_time"])
    ax_t.scatter(table["lr"][ok], table["training_time"][ok], s=10, color="C2", alpha=0.5,
                 label="per seed")
    ax_t.plot(lrs, mean["training_time"], "o-", color="C2", label="mean (all seeds reached)")
    top = float(np.nanmax(table["training_time"])) if ok.any() else 1.0
    failed = ~ok & ~table["diverged"]
    ax_t.scatter(table["lr"][failed], np.full(int(failed.sum()), top * 1.05), marker="^",
                 color="0.4", label="target not reached")
    ax_t.scatter(table["lr"][table["diverged"]], np.full(int(table["diverged"].sum()), top * 1.1),
                 marker="x", color="C3", label="diverged")
    best = summary.get("best_lr")
    if best is not None:
        ax_t.axvline(best, color="C2", lw=0.8, ls=":")
    ax_t.set_ylabel(f"epochs to test accuracy {summary['target']:g}")
    ax_t.set_xlabel("learning rate")
    ax_t.legend(fontsize="small")
    fig.suptitle("Learning-rate sweep: exponent (onset dotted red) and training time")
    fig.tight_layout()
    return fig


def _divergence(curves, seed):
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    colors = _colors(len(curves))
    for color, (lr, (L, start, stop)) in zip(colors, sorted(curves.items())):
        L = np.array([_nan(v) for v in L])
        if L.size == 0:
            continue
        t = np.arange(L.size)
        ax.plot(t, L, color=color, alpha=0.3, lw=0.8)
        if start >= 0:
            ax.plot(t[start:stop + 1], L[start:stop + 1], color=color, lw=1.5, label=f"lr {lr:g}")
    return _per_lr_axes(fig, ax, "<ln d(t)/d(0)> over copies",
                        f"Perturbed copies (seed {seed}); fit windows solid")


def _per_lr_axes(fig, ax, ylabel, title):
    """Label a figure of one curve per lr against the step; returns the figure."""
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def _tangent_running(running, seed):
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for color, (lr, r) in zip(_colors(len(running)), sorted(running.items())):
        r = np.array([_nan(v) for v in r])
        if r.size:
            ax.plot(np.arange(1, r.size + 1), r, color=color, lw=1.2, label=f"lr {lr:g}")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xscale("log")
    return _per_lr_axes(fig, ax, "running exponent of the tangent vector (per step)",
                        f"Tangent vector (seed {seed}), no perturbed copies")


def _colors(n):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def _nan(v):
    return math.nan if v is None else float(v)
