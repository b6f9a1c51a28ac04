"""Figure of a perturbation directory (H22 Fig. 3), redrawn from perturb.csv and summary.json.

``figures/perturb.png``  d(t) = ||theta_A(t) - theta_B(t)|| for each strategy (one panel per
eps), the Eq. (15) fit sqrt(alpha t^2 + beta t + eps^2) dashed, and the Eq. (5) bounds
e^{lambda_N t} eps and e^{lambda_1 t} eps in grey (the y range follows the measured curves).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..io import read_json
from .sweep import save_figure

COLORS = {"top": "C3", "bottom": "C0", "chaotic": "C1", "nonchaotic": "C2", "random": "k"}


def redraw(directory, summary=None):
    """Draw the figure of perturbation directory ``directory``; returns the PNG paths."""
    from ..experiments.perturb import read_table

    directory = Path(directory)
    table = read_table(directory / "perturb.csv")
    summary = read_json(directory / "summary.json") if summary is None else summary
    eps = sorted({e for _, e in table})
    fig = Figure(figsize=(6.4 * min(len(eps), 3), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(eps), squeeze=False)[0])
    for ax, e in zip(axes, eps):
        curves = {s: cols for (s, ee), cols in table.items() if ee == e}
        lo, hi = np.inf, 0.0
        for s, cols in curves.items():
            ok = np.isfinite(cols["distance"])
            ax.plot(cols["step"][ok], cols["distance"][ok], color=COLORS.get(s), lw=1.2, label=s)
            ax.plot(cols["step"], cols["fit"], color=COLORS.get(s), lw=0.8, ls="--")
            if ok.any():
                lo, hi = min(lo, cols["distance"][ok].min()), max(hi, cols["distance"][ok].max())
        any_cols = next(iter(curves.values()))
        for b in ("lower_bound", "upper_bound"):
            if np.isfinite(any_cols[b]).any():
                ax.plot(any_cols["step"], any_cols[b], color="0.6", lw=0.8, ls=":")
        if np.isfinite(lo) and hi > 0:
            ax.set_ylim(lo / 2, hi * 2)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("||theta_A - theta_B||")
        ax.set_title(f"eps = {e:g}; fit Eq. (15) dashed, bounds Eq. (5) dotted", fontsize="small")
        ax.legend(fontsize="small")
    fig.suptitle(f"Perturbation analysis: lambda_1 = {summary['lambda_1']:.3g} per step, "
                 f"N = {summary['num_params']}, T = {summary['steps']}", fontsize="small")
    fig.tight_layout()
    return [save_figure(fig, directory / "figures" / "perturb.png")]
