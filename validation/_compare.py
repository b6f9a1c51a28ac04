"""Shared arithmetic and reporting of the cross-framework checks (crosscheck_torch/jax.py).

Both scripts compare refchaos with another framework on the same network, initialisation and
batches; the other framework's code stays in its own script. This module holds what is the
same for both: the normwise relative differences of gradient and Hessian, the eigenvalue
difference, the pass rule and the one-line report.
"""

from __future__ import annotations

import numpy as np


def relative(a, ref):
    """||a - ref||_2 / ||ref||_2 (Frobenius for matrices)."""
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def derivative_differences(g, g_ref, H, H_ref):
    """Gradient and Hessian relative differences and max |eigenvalue difference| / max |lambda|."""
    ev, ev_ref = np.linalg.eigvalsh(0.5 * (H + H.T)), np.linalg.eigvalsh(0.5 * (H_ref + H_ref.T))
    return {"grad_rel": relative(g, g_ref), "hessian_rel": relative(H, H_ref),
            "eigenvalues_max_abs_diff_over_norm": float(np.abs(ev - ev_ref).max()
                                                        / np.abs(ev_ref).max())}


def verdict(summary, param_diffs, param_tol, hessian_rtol):
    """Record the largest parameter difference over the run and whether the check passed."""
    summary["max_abs_param_diff_all"] = float(max(param_diffs))
    summary["passed"] = bool(summary["max_abs_param_diff_all"] <= param_tol
                             and summary["hessian_rel"] <= hessian_rtol)
    return summary


def report_line(name, s, steps):
    """One line per model for the terminal."""
    return (f"{name:9s} N={s['num_params']:6d}  grad rel {s['grad_rel']:.1e}  Hessian rel "
            f"{s['hessian_rel']:.1e}  eigenvalues {s['eigenvalues_max_abs_diff_over_norm']:.1e}  "
            f"max |dtheta| over {steps} steps {s['max_abs_param_diff_all']:.1e}  "
            f"{'PASS' if s['passed'] else 'FAIL'}")
