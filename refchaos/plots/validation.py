"""Figures of the reproduction scripts in ``validation/`` whose output folder is not a run
directory (perturbation magnitudes, float32 against float64, the two J25 estimators, ...).

Such a script calls :func:`write` with the arrays its figure shows and a few JSON-ready
numbers; they are stored as ``figure_data.npz``, ``config.json`` and ``summary.json``
(``kind`` ``"validation"``, ``script`` the script's name) in its ``--out`` folder, and the figure is drawn
from those files alone, so ``refchaos plot <out>`` redraws it later. Each script's figure is one
function of :data:`DRAWERS` (script name -> (file name, function(arrays, meta) -> Figure)).

Arrays are stored under flat keys; a list of equal-length curves is one 2-D array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .. import io
from ..io import read_json
from .sweep import save_figure

DATA_FILE = "figure_data.npz"


def write(directory, script, arrays, meta):
    """Store a script's figure data in ``directory`` and draw it; returns the PNG paths."""
    if script not in DRAWERS:
        raise ValueError(f"no figure is defined for {script!r}; known: {', '.join(DRAWERS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    io.atomic_write_npz(directory / DATA_FILE, **{k: np.asarray(v) for k, v in arrays.items()})
    summary = {"kind": "validation", "status": "completed", "script": script,
               "meta": io.json_safe(meta), "figures": [f"figures/{DRAWERS[script][0]}"]}
    io.atomic_write_json(directory / "config.json",
                         {"kind": "validation", "config": {"script": script}})
    io.atomic_write_json(directory / "summary.json", summary)
    return redraw(directory, summary)


def redraw(directory, summary=None):
    """Draw the figure of validation folder ``directory`` from its files; returns the paths."""
    directory = Path(directory)
    summary = read_json(directory / "summary.json") if summary is None else summary
    name, draw = DRAWERS[summary["script"]]
    with np.load(directory / DATA_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    return [save_figure(draw(arrays, summary["meta"]), directory / "figures" / name)]


# ----- one function per script ------------------------------------------------------------------
def _a8_distance(a, meta):
    """h22_a8_distance: Monte Carlo distances of two initialisations, E d and the paper's 6.38."""
    names = meta["models"]
    fig = Figure(figsize=(8.0, 3.2))
    for k, (ax, name) in enumerate(zip(fig.subplots(1, len(names)), names)):
        r = meta["results"][name]
        ax.hist(a[f"samples_{k}"], bins=30, color="0.7")
        ax.axvline(r["expected"], color="C0", label=f"E d = {r['expected']:.3f}")
        ax.axvline(r["paper_reading"], color="C3", ls="--",
                   label=f"2 sqrt(E|theta|^2) = {r['paper_reading']:.3f}")
        ax.axvline(meta["paper_value"], color="k", ls=":", label=f"H22: {meta['paper_value']}")
        ax.set_title(f"{name} (N = {r['num_params']})")
        ax.set_xlabel("|theta - theta'|")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _c3_magnitude(a, meta):
    """h22_c3_magnitude: distance and test accuracy of the perturbed runs, per eps."""
    fig = Figure(figsize=(9.0, 3.4))
    ax_d, ax_a = fig.subplots(1, 2)
    for k, eps in enumerate(meta["epsilons"]):
        ax_d.plot(a["dist"][k], lw=0.8, label=f"eps {eps:g}")
        ax_a.plot(a["acc"][k + 1], lw=0.8, label=f"eps {eps:g}")
    ax_a.plot(a["acc"][0], "k--", lw=0.8, label="A")
    ax_d.set_yscale("log")
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("|theta_B - theta_A|")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("test accuracy")
    ax_a.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _c4_float32(a, meta):
    """h22_c4_float32: d(t) / (d(0) |Y(t) w|) per eps, one panel per dtype."""
    dtypes = meta["dtypes"]
    fig = Figure(figsize=(9.0, 3.4))
    for ax, dtype in zip(fig.subplots(1, len(dtypes), sharey=True), dtypes):
        for k, eps in enumerate(meta["epsilons"]):
            d = a[f"dist_{dtype}"][k]
            ax.plot(d / (d[0] * a["linear"]), lw=0.8, label=f"eps {eps:g}")
        ax.axhline(1.0, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{dtype}: d(t) / (d(0) |Y(t) w|)")
        ax.set_xlabel("step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _c5_bounds(a, meta):
    """h22_c5_bounds: d(t) / eps against the upper bound sigma_1(Y(t_h)) of Eq. (5) at the
    horizons, and each direction's own tangent growth: the random w and the top vector v_1 of
    Y(T) (H22's strategy (1))."""
    fig = Figure(figsize=(6.0, 4.2))
    ax = fig.subplots()
    ax.plot(a["distance"] / meta["eps"], lw=0.9, color="C0",
            label=f"d(t) / eps, random w (eps {meta['eps']:g})")
    ax.plot(a["growth"], lw=0.9, ls="--", color="C0", label="|Y(t) w| (tangent map)")
    ax.plot(a["distance_top"] / meta["eps"], lw=0.9, color="C1",
            label="d_1(t) / eps, top vector v_1 of Y(T)")
    ax.plot(a["growth_top"], lw=0.9, ls="--", color="C1", label="|Y(t) v_1| (tangent map)")
    ax.plot(a["horizons"], a["sigma"], "o", color="C3",
            label="sigma_1(Y(t)) = e^(lambda_1 t), Eq. (5) upper bound / eps")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    return fig


def _released_counts(a, meta):
    """h22_released_counts: |lambda| of the Hessian by sign against refchaos's zero tolerance."""
    lam = np.asarray(a["lam"], dtype=np.float64)
    scale = float(np.max(np.abs(lam)))
    bins = np.linspace(np.log10(scale) - 20, np.log10(scale) + 0.5, 80)
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.subplots()
    for sign, label in ((-1, "lambda < 0"), (1, "lambda > 0")):
        sel = np.sign(lam) == sign
        ax.hist(np.log10(np.abs(lam[sel])), bins=bins, alpha=0.6, label=label)
    ax.axvline(np.log10(meta["zero_tol"] * scale), color="k", ls=":", label="refchaos zero tolerance")
    ax.set_yscale("log")
    ax.set_xlabel("log10 |lambda|")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


ESTIMATOR_SERIES = (("j25_l1_auto", "copies, J25 (L1, auto window)"),
                    ("l2_auto", "copies, L2, auto window"),
                    ("l2_whole_run", "copies, L2, whole run"),
                    ("tangent_random", "tangent, random start, whole run"),
                    ("tangent_random_j25_window", "tangent, random start, J25 window"))


def _j25_estimators(a, meta):
    """j25_estimators: each estimate of the exponent per lr (``a[key]`` one value per lr)."""
    lrs = list(meta["lrs"])
    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.subplots()
    x = np.arange(len(lrs))
    for k, (key, label) in enumerate(ESTIMATOR_SERIES):
        ax.plot(x + 0.06 * (k - 2), a[key], "o", ms=4, label=label)
    ax.set_xticks(x, [f"lr {lr}" for lr in lrs])
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_ylabel("exponent per epoch")
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _j25_copies_pooling(a, meta):
    """j25_copies_pooling: each copy's log distance ratio against its tangent-map propagation
    (top), the relative residual of the tangent map per step with the routing changes (bottom)."""
    fig = Figure(figsize=(6.4, 5.0))
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = np.arange(1, a["residual"].shape[1] + 1)  # residual of step t -> t + 1, drawn at t + 1
    for m in range(a["distance"].shape[0]):
        top.plot(np.log(a["distance"][m] / a["distance"][m, 0]), color=f"C{m}", label=f"copy {m}")
        top.plot(np.log(a["distance_tangent"][m] / a["distance_tangent"][m, 0]), "--",
                 color=f"C{m}", lw=0.8, label=f"copy {m}: tangent map Y(t) delta(0)")
        bottom.semilogy(t, np.maximum(a["residual"][m], 1e-18), ".", color=f"C{m}", ms=3)
        hit = a["flips"][m] > 0
        bottom.semilogy(t[hit], np.maximum(a["residual"][m][hit], 1e-18), "o", mfc="none",
                        color=f"C{m}", ms=5)
    top.set_ylabel("ln(|delta(t)|_1 / |delta(0)|_1)")
    top.legend(fontsize=6)
    bottom.axhline(meta["jump"], color="0.4", lw=0.8, ls=":")
    bottom.set_ylabel("|r(t)|_1 / |delta(t)|_1\n(circled: routing differs)")
    bottom.set_xlabel(f"full-batch GD step (lr {meta['lr']:g})")
    if meta.get("pool", "max") != "max":  # the average-pool control (no routing to circle)
        top.set_title(f"{meta['pool']} pooling", fontsize=8)
    fig.tight_layout()
    return fig


DRAWERS = {
    "h22_a8_distance": ("a8_distance.png", _a8_distance),
    "h22_c3_magnitude": ("c3_magnitude.png", _c3_magnitude),
    "h22_c4_float32": ("c4_float32.png", _c4_float32),
    "h22_c5_bounds": ("c5_bounds.png", _c5_bounds),
    "h22_released_counts": ("released_counts.png", _released_counts),
    "j25_estimators": ("j25_estimators.png", _j25_estimators),
    "j25_copies_pooling": ("j25_copies_pooling.png", _j25_copies_pooling),
}
