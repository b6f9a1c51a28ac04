"""Figures of a pruning directory (H22 Figs. 1 and 2), redrawn from prune.csv and summary.json.

``figures/prune.png``   train and test loss and accuracy of every variant against the step
                        (H22 Fig. 1: SGD against CGD pruning each part of the spectrum); a
                        variant that diverged (``summary["divergences"]``) ends with a dotted
                        vertical line at its divergence step, named in the legend.
``figures/counts.png``  negative, positive and chaotic Hessian eigenvalue counts over training
                        for every variant that reports them, and the directions CGD pruned
                        per step (H22 Fig. 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..io import read_json
from .sweep import save_figure

COLORS = {"sgd": "k", "chaotic": "C3", "negative": "C0", "positive": "C2"}


def redraw(directory, summary=None):
    """Draw the figures of pruning directory ``directory``; returns the PNG paths."""
    from ..experiments.prune import read_table

    directory = Path(directory)
    table = read_table(directory / "prune.csv")
    summary = read_json(directory / "summary.json") if summary is None else summary
    return [save_figure(_curves(table, summary), directory / "figures" / "prune.png"),
            save_figure(_counts(table, summary), directory / "figures" / "counts.png")]


def _curves(table, summary):
    fig = Figure(figsize=(8.0, 6.0))
    axes = fig.subplots(2, 2, sharex=True)
    panels = [("train_loss", "train loss"), ("train_accuracy", "train accuracy"),
              ("test_loss", "test loss"), ("test_accuracy", "test accuracy")]
    diverged = summary.get("divergences") or {}
    for ax, (col, label) in zip(axes.flat, panels):
        for variant, cols in table.items():
            ok = np.isfinite(cols[col])
            name = _label(variant)
            if variant in diverged:
                name += f" (diverged at step {diverged[variant]['step']})"
                ax.axvline(diverged[variant]["step"], color=COLORS.get(variant), ls=":", lw=0.8)
            ax.plot(cols["step"][ok], cols[col][ok], "-", marker=".", ms=3,
                    color=COLORS.get(variant), label=name)
        ax.set_ylabel(label)
    for ax in axes[1]:
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize="small")
    c = summary["config"]
    fig.suptitle(f"SGD vs CGD: {c['dataset']} {c['model']} {c['activation']}, lr {c['lr']:g}, "
                 f"batch {c['batch_size']}, prune k {c['prune_k'] or 'all'} ({c['prune_select']}), "
                 f"from step {c['prune_start']}", fontsize="small")
    fig.tight_layout()
    return fig


def _counts(table, summary):
    fig = Figure(figsize=(8.0, 6.0))
    axes = fig.subplots(2, 2, sharex=True)
    panels = [("negative", "negative eigenvalues"), ("positive", "positive eigenvalues"),
              ("chaotic", "chaotic (lambda < 0 or > 2/lr)"), ("n_pruned", "directions pruned")]
    for ax, (col, label) in zip(axes.flat, panels):
        for variant, cols in table.items():
            ok = np.isfinite(cols[col])
            if ok.any():
                ax.plot(cols["step"][ok], cols[col][ok], lw=0.8, color=COLORS.get(variant),
                        label=_label(variant))
        ax.set_ylabel(label)
    for ax in axes[1]:
        ax.set_xlabel("step")
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(f"Hessian eigenvalue counts over training (N = {summary['num_params']})",
                 fontsize="small")
    fig.tight_layout()
    return fig


def _label(variant):
    return "SGD" if variant == "sgd" else f"CGD, pruning {variant}"
