"""Measure ``subspaces``: how much the finite-time chaotic and non-chaotic subspaces of
Lambda(t) move between measurements (Herrmann et al. 2022, Sec. 4.2: "the subspaces of chaotic
and non-chaotic eigenvectors do stabilise towards the end of the training").

The full tangent matrix Y(t) = d theta(t) / d theta(0) rides along the optimizer step
(:class:`refchaos.lyapunov.TangentMatrixIntegrator` with ``theta_only``: the buffers of a
stepper start unperturbed, as in the perturbation analysis; its state is in the checkpoint).
Every ``config.every`` steps and at the last, V_chaotic(t) and V_non-chaotic(t) of Y(t) are
taken (:func:`refchaos.lyapunov.finite_time_subspaces`: by SVD, or from the top eigenpairs of
Y^T Y with ``config.subspace_method = "gram"``) and compared with those of the
previous measurement (:func:`refchaos.lyapunov.subspace_overlap`): the columns

* ``subspace_n_chaotic``, ``subspace_n_neutral``   dimensions (neutral: sigma = 1 within rounding)
* ``subspace_chaotic_overlap``, ``subspace_nonchaotic_overlap``   s(previous, now), in [0, 1]
* ``subspace_chaotic_random``, ``subspace_nonchaotic_random``     their chance levels

(the overlaps are NaN at the first measurement). Y is N x N: refused beyond
:data:`MAX_MATRIX_BYTES` (:func:`matrix_too_large`, which ``refchaos perturb`` shares). A Y
that left float range stops the run (status ``diverged``); a Y whose resolution reaches 1 gives
NaN cells. Cost per step: N
Hessian-vector products (in column blocks, :mod:`refchaos.lyapunov.integrator`); per
measurement: one N x N SVD, or one Gram product and the eigenpairs with sigma >= 1 - delta. Figure
``subspaces``.
"""

from __future__ import annotations

import math

import numpy as np

from ...backend import asarray, to_host
from ...lyapunov import (FiniteTimeSubspaces, TangentMatrixIntegrator, UnrepresentableError,
                         finite_time_subspaces, subspace_overlap)
from ..config import ConfigError
from ..divergence import Divergence
from . import Measure

MAX_MATRIX_BYTES = 2 * 1024**3  # Largest tangent matrix Y we agree to hold (here and in perturb).

COLUMNS = ("subspace_n_chaotic", "subspace_n_neutral", "subspace_chaotic_overlap",
           "subspace_nonchaotic_overlap", "subspace_chaotic_random", "subspace_nonchaotic_random")


def matrix_too_large(opt, N, limit=MAX_MATRIX_BYTES):
    """None, or why the float64 tangent matrix Y (n x N: theta(0)'s columns of the whole
    state, ``theta_only``) of ``opt`` over N parameters is not held within ``limit`` bytes."""
    n = opt.tangent_dim(N)  # N, 2N with momentum, 3N for Adam
    need = n * N * np.dtype(np.float64).itemsize
    if need <= limit:
        return None
    return (f"the tangent matrix Y of N = {N} parameters ({n} x {N} with the optimizer's "
            f"buffers) needs {need / 1024**3:.1f} GiB, over the limit of "
            f"{limit / 1024**3:.1f} GiB; use a smaller --model")


class Subspaces(Measure):
    name = "subspaces"
    figures = ("subspaces",)
    summary_key = "subspaces"
    Y_ARRAY = f"{name}_Y"  # Y in the run's checkpoint (the integrator's "Y", prefixed)

    def __init__(self, setup, theta, opt_state):
        super().__init__(setup, theta, opt_state)
        problem = matrix_too_large(setup.opt, setup.model.num_params)
        if problem:
            raise ConfigError(f"--measure subspaces: {problem}")
        self.integrator = TangentMatrixIntegrator(setup.opt, setup.model, theta, state=opt_state,
                                                  theta_only=True)
        self.previous = None  # FiniteTimeSubspaces of the last measurement

    @classmethod
    def columns(cls, config):
        return list(COLUMNS)

    def observe(self, step):
        if not step.measured:
            return None
        integ, N, xp = self.integrator, self.setup.model.num_params, self.setup.xp
        Y = integ.Y[:N, :]  # Y_theta(t + 1), after t + 1 steps
        if not bool(xp.all(xp.isfinite(Y))):
            return Divergence(step.t, "non-finite", "the tangent matrix left float range")
        try:
            now = finite_time_subspaces(Y, integ.t, method=self.setup.config.subspace_method)
        except UnrepresentableError:  # resolution reaches 1: no split of Lambda(t) in this dtype
            step.row.update({c: math.nan for c in COLUMNS})
            return None
        row = {"subspace_n_chaotic": now.n_chaotic, "subspace_n_neutral": now.n_neutral}
        if self.previous is None:
            row.update({c: math.nan for c in COLUMNS[2:]})
        else:
            ov = subspace_overlap(self.previous, now)
            row.update({"subspace_chaotic_overlap": ov.chaotic,
                        "subspace_nonchaotic_overlap": ov.nonchaotic,
                        "subspace_chaotic_random": ov.chaotic_random,
                        "subspace_nonchaotic_random": ov.nonchaotic_random})
        step.row.update(row)
        self.previous = now
        self.last = {k: float(v) for k, v in row.items()}
        return None

    # ----- checkpoint: the integrator's Y and the previous measurement's subspaces -------------
    def state_dict(self):
        arrays = super().state_dict()
        if self.previous is not None:
            arrays["subspaces_previous_W"] = np.array(to_host(self.previous.W), copy=True)
            arrays["subspaces_previous_sigma"] = np.array(self.previous.sigma, copy=True)
        return arrays

    def meta(self):
        meta = super().meta()
        if self.previous is not None:
            p = self.previous
            meta["previous"] = {"n_chaotic": p.n_chaotic, "n_neutral": p.n_neutral, "t": p.t,
                                "delta": p.delta}
        return meta

    def load(self, meta, arrays, theta, opt_state):
        own = {k: v for k, v in arrays.items() if not k.startswith("subspaces_previous_")}
        super().load(meta, own, theta, opt_state)
        p = meta.get("previous")
        self.previous = None if p is None else FiniteTimeSubspaces(
            W=asarray(arrays["subspaces_previous_W"], self.setup.xp, theta.dtype),
            n_chaotic=int(p["n_chaotic"]), n_neutral=int(p["n_neutral"]), t=float(p["t"]),
            sigma=np.asarray(arrays["subspaces_previous_sigma"], dtype=np.float64),
            delta=float(p["delta"]))
