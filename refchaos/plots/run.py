"""Figures of one run directory (:mod:`refchaos.experiments.run`), drawn from its files alone.

=========================  =========================================================================
figure                     shows
=========================  =========================================================================
``training.png``           minibatch loss per step (log scale); batch, train and test accuracy
``eigenvalue_counts.png``  negative / positive / chaotic Hessian eigenvalues over training
                           (Theorem 2.1) and the share of ||g||^2 in each eigenspace
``sharpness.png``          top Hessian eigenvalue against 2/lr (GD's edge of stability; the line is
                           left out for the preconditioned steppers, which have no such edge)
``lyapunov.png``           running maximum exponent (tangent vector) and finite-time exponents (QR)
``local_exponents.png``    histogram of the local exponents ln|1 - lr lambda| (Eq. (9)) at the last
                           spectrum measurement, chaotic ones (> 0) marked
``subspaces.png``          overlap of the chaotic and non-chaotic subspaces of Lambda(t) with those
                           of the previous measurement (chance levels dashed), and their dimensions
=========================  =========================================================================

Each measure of :mod:`refchaos.experiments.measures` names the figures drawn from its data
(``figures``); a figure whose quantity was not measured is not drawn. Figures are built on
:class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global backend switch) and
written atomically.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..experiments.measures import figure_names
from ..experiments.rundir import RunDirectory
from ..optim.stepper import OPTIMIZERS
from ..io import atomic_write_bytes
from ..optim.eigensets import zero_mask

DPI = 110  # Readable on screen, small files.
_STYLE = {"negative": {"lw": 3, "alpha": 0.6}, "chaotic": {"lw": 1.2, "ls": "--"}}


def redraw(directory, summary=None):
    """Draw every figure the run in ``directory`` has data for; returns the PNG paths.
    ``summary`` stands in for summary.json if given."""
    rd = RunDirectory(directory)
    config = rd.read_config_doc()["config"]
    _, m = rd.read_metrics()
    arrays = rd.read_arrays()
    summary = rd.read_summary() if summary is None else summary
    rd.figures_dir.mkdir(exist_ok=True)
    title = (f"{config['dataset']} {config['model']} {config['optimizer']} lr={config['lr']:g} "
             f"B={config['batch_size'] or 'full'} seed={config['seed']} [{summary['status']}]")
    written = []
    wanted = figure_names(config["measure"])
    for name, draw in DRAWERS.items():
        if name not in wanted:
            continue
        fig = draw(m, arrays, config, summary)
        if fig is None:
            continue
        fig.suptitle(title, fontsize=9)
        path = rd.figures_dir / f"{name}.png"
        _save(fig, path)
        written.append(path)
    return written


def _save(fig, path):
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic_write_bytes(path, buf.getvalue())


def _measured(m, column):
    """(steps, values) where ``column`` was measured (non-empty cells), or None."""
    if column not in m:
        return None
    ok = ~np.isnan(m[column])
    return (m["step"][ok], m[column][ok]) if ok.any() else None


def _training(m, arrays, config, summary):
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    loss = _measured(m, "loss")
    if loss is not None:
        finite = np.isfinite(loss[1]) & (loss[1] > 0)
        ax_loss.plot(loss[0][finite], loss[1][finite], lw=0.6, color="C0", label="batch loss")
        ax_loss.set_yscale("log")
    div = summary.get("divergence")
    if div:
        ax_loss.axvline(div["step"], color="red", ls="--", lw=1, label=f"diverged (step {div['step']})")
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    ax_loss.legend(fontsize=8)
    for col, label in (("batch_acc", "batch"), ("train_acc", "train"), ("test_acc", "test")):
        d = _measured(m, col)
        if d is not None:
            ax_acc.plot(d[0], d[1], marker=".", ms=3, lw=1, label=label,
                        alpha=0.5 if col == "batch_acc" else 1.0)
    if ax_acc.lines:
        ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
        ax_acc.legend(fontsize=8)
    else:
        ax_acc.set_axis_off()
    return fig


def _counts(m, arrays, config, summary):
    counts = {k: _measured(m, f"n_{k}") for k in ("negative", "positive", "chaotic")}
    if all(v is None for v in counts.values()):
        return None
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_n, ax_o = fig.subplots(1, 2)
    for (k, d), color in zip(counts.items(), ("C3", "C2", "C1")):
        if d is not None:  # chaotic is often equal to negative: drawn dashed on top of it
            ax_n.plot(d[0], d[1], marker=".", ms=3, color=color, label=k,
                      **_STYLE.get(k, {"lw": 1}))
    ax_n.set(xlabel="step", ylabel="number of eigenvalues",
             title="Hessian eigenvalues (zero ones not counted)")
    ax_n.legend(fontsize=8)
    for k, color in (("negative", "C3"), ("positive", "C2"), ("chaotic", "C1"), ("zero", "C7")):
        d = _measured(m, f"overlap_{k}")
        if d is not None:
            ax_o.plot(d[0], d[1], marker=".", ms=3, color=color, label=k,
                      **_STYLE.get(k, {"lw": 1}))
    ax_o.set(xlabel="step", ylabel=r"$\|V_S^T g\|^2 / \|g\|^2$", title="gradient overlap",
             ylim=(-0.02, 1.02))
    ax_o.legend(fontsize=8)
    return fig


def _sharpness(m, arrays, config, summary):
    d = _measured(m, "sharpness") or _measured(m, "lam_max")
    if d is None:
        return None
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(d[0], d[1], marker=".", ms=3, lw=1, label=r"top eigenvalue $\lambda_{max}$")
    stepper = OPTIMIZERS.get(config["optimizer"])
    if stepper is not None and not stepper.preconditioned:  # GD's edge (Cohen et al. 2021)
        ax.axhline(2.0 / config["lr"], color="k", ls="--", lw=1, label=f"2/lr = {2.0 / config['lr']:.4g}")
        ax.set_title("sharpness and the edge of stability")
    else:
        ax.set_title(f"sharpness ({config['optimizer']}: no edge of stability at 2/lr)")
    ax.set(xlabel="step", ylabel="eigenvalue")
    ax.legend(fontsize=8)
    return fig


def _lyapunov(m, arrays, config, summary):
    maxexp = _measured(m, "maxexp")
    ftle = [(c, _measured(m, c)) for c in sorted((c for c in m if c.startswith("ftle_")),
                                                 key=lambda c: int(c.split("_")[1]))]
    ftle = [(c, d) for c, d in ftle if d is not None]
    if maxexp is None and not ftle:
        return None
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    if maxexp is not None:
        ax.plot(maxexp[0], maxexp[1], color="k", lw=1.5, label=r"running max exponent $\lambda_1$")
    for i, (c, d) in enumerate(ftle):
        ax.plot(d[0], d[1], lw=1, marker=".", ms=2, color=f"C{i}", label=f"QR exponent {c.split('_')[1]}")
    ax.axhline(0.0, color="gray", lw=0.8)
    ax.set(xlabel="step", ylabel="exponent per step", title="finite-time Lyapunov exponents")
    ax.legend(fontsize=7, ncol=2)
    return fig


def _local_exponents(m, arrays, config, summary):
    lengths = arrays.get("spectrum_lengths")
    if lengths is None or lengths.size == 0:
        return None
    n = int(lengths[-1])
    lam, e = arrays["eigenvalues"][-1, :n], arrays["local_exponents"][-1, :n]
    step = int(arrays["spectrum_steps"][-1])
    e = e[~zero_mask(lam)]  # zero eigenvalues: exponent 0, neither chaotic nor stable
    n_inf = int(np.sum(np.isneginf(e)))
    e = e[np.isfinite(e)]
    if e.size == 0:
        return None
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(e.min(), e.max(), 60) if e.max() > e.min() else 10
    chaotic = e > 0
    ax.hist([e[~chaotic], e[chaotic]], bins=bins, stacked=True, color=["C0", "C1"],
            label=[f"stable ({int((~chaotic).sum())})", f"chaotic ({int(chaotic.sum())})"])
    ax.set_yscale("log")
    ax.axvline(0.0, color="k", lw=0.8)
    extra = f", {n_inf} at -inf" if n_inf else ""
    ax.set(xlabel=r"local exponent $\ln|1 - \eta\lambda|$ (Eq. 9)", ylabel="count",
           title=f"local exponents at step {step} (zero eigenvalues not shown{extra})")
    ax.legend(fontsize=8)
    return fig


def _subspaces(m, arrays, config, summary):
    chaotic = _measured(m, "subspace_chaotic_overlap")
    nonchaotic = _measured(m, "subspace_nonchaotic_overlap")
    dims = _measured(m, "subspace_n_chaotic")
    if dims is None:
        return None
    fig = Figure(figsize=(6.5, 5.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    for d, rand, label, color in ((chaotic, "subspace_chaotic_random", "chaotic", "C1"),
                                  (nonchaotic, "subspace_nonchaotic_random", "non-chaotic", "C0")):
        if d is None:
            continue
        top.plot(d[0], d[1], marker=".", color=color, label=f"{label}: s(previous, now)")
        r = _measured(m, rand)
        if r is not None:
            top.plot(r[0], r[1], ls="--", lw=1, color=color, label=f"{label}: chance level")
    top.set(ylabel="overlap s", ylim=(-0.02, 1.02),
            title="finite-time subspaces of Lambda(t) between measurements")
    if chaotic is not None or nonchaotic is not None:
        top.legend(fontsize=7)
    bottom.plot(dims[0], dims[1], marker=".", color="C1", label=r"dim $V_{chaotic}$")
    neutral = _measured(m, "subspace_n_neutral")
    if neutral is not None and np.any(neutral[1] > 0):
        bottom.plot(neutral[0], neutral[1], marker=".", color="gray", label="neutral (sigma = 1)")
    bottom.set(xlabel="step", ylabel="dimension")
    bottom.legend(fontsize=7)
    return fig


# figure name -> drawer, in drawing order
DRAWERS = {"training": _training, "eigenvalue_counts": _counts, "sharpness": _sharpness,
           "lyapunov": _lyapunov, "local_exponents": _local_exponents, "subspaces": _subspaces}

__all__ = ["redraw", "DRAWERS"]
