"""Chaos-sensitive gradient descent (CGD), Theorem 2.2 of Herrmann et al. 2022.

At every step t >= ``start`` the exact minibatch Hessian H = V diag(lambda) V^T is decomposed
(:func:`refchaos.curvature.spectrum`) and the gradient is projected off a set S of pruned
eigenvectors before the SGD update:

    P       = I - V_S V_S^T                        (the kept projector)
    d theta~ = P d theta                                                         Eq. (11)
    theta(t+1) = theta(t) - eta P g                                              Eq. (12)

S is ``prune`` of the eigenvalues: ``chaotic`` (lambda < 0 or lambda > 2/eta, Eq. (10)),
``negative``, ``positive``, or ``none`` (CGD is then SGD, with the spectrum still reported).
``k`` limits S to k of those: the k largest |lambda| (``select="top"``), the k largest local
exponents |1 - eta lambda| (``"top_exponent"``: the released code's top-k in chaotic mode; for
negative/positive sets it orders like |lambda|), or k at random (``"random"``), drawn from the
host generator ``np.random.default_rng([seed, step])``, so each step is reproducible on its
own; ``replacement=True`` draws min(k, |S|) indices with replacement as the released code
does, so fewer than k distinct directions may be pruned.

Choices (see DESIGN.md, "Where the published H22 code makes choices the paper does not state")
---------------------------------------------------------------------------------------------
- The projection acts on the loss gradient *before* weight decay and momentum, as the released
  code does (it projects p.grad and then calls PyTorch's functional SGD): the momentum buffer
  accumulates projected gradients, and the weight-decay term omega theta is not projected.
- Zero eigenvalues (|lambda| <= zero_tol max|lambda|, :data:`~refchaos.optim.eigensets.ZERO_TOL`)
  have local exponent 0 and are never pruned by default. The projection is then
  g - V_S (V_S^T g): the zero eigenspace is never represented, so a spectrum method that
  returns only the non-zero eigenpairs gives the same step. ``prune_zero=True`` reproduces the
  released code's negative/positive modes, which keep only lambda > 0 (resp. < 0) and so prune
  the (numerically) zero directions as well; with k = None the projection is then onto the
  kept eigenvectors, V_K (V_K^T g), again without the zero eigenspace. (The released code
  decides by the raw float sign, so its treatment of each zero direction is rounding noise;
  here the tolerance is explicit.) In chaotic mode zero directions are never pruned.
- Before ``start`` CGD takes plain SGD steps and computes no spectrum.

The tangent map of a CGD step with the projector held fixed is I - eta P H (P H = H P =
V_K diag(lambda_K) V_K^T, what the released code integrates); see
:mod:`refchaos.lyapunov.tangent` for why that, and not the printed (I - eta V V^T), is used.

Symbols
-------
eta -> ``lr``; lambda -> ``lam`` (n,) ascending; V -> ``V`` (N, n); S -> the pruned indices;
V_S -> ``Pruning.basis`` (kind "pruned"); V_K -> ``Pruning.basis`` (kind "kept").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import namespace_of, to_float, to_host
from ..curvature import spectrum
from .eigensets import ZERO_TOL, check_zero_tol, classify, count, eigenvalue_counts
from .sgd import SGD
from .stepper import Stepper, norm, register

PRUNE_SETS = ("none", "chaotic", "negative", "positive")
SELECTIONS = ("top", "top_exponent", "random")


@dataclass(frozen=True)
class Pruning:
    """The projection of one CGD step.

    ``kind == "pruned"``: ``basis`` is V_S (N, m), the pruned eigenvectors; P u = u - V_S V_S^T u.
    ``kind == "kept"``: ``basis`` is V_K (N, m), the kept eigenvectors; P u = V_K V_K^T u.
    """

    kind: str
    basis: object
    lam: object  # eigenvalues belonging to the basis columns (m,)
    n_pruned: int
    n_candidates: int
    counts: dict

    def project(self, u):
        """P u for u (N,) or a block (N, K)."""
        xp = namespace_of(u, self.basis)
        if self.kind == "pruned" and self.basis.shape[1] == 0:
            return u
        coef = xp.matmul(xp.matrix_transpose(self.basis), u)  # (m,) or (m, K)
        part = xp.matmul(self.basis, coef)
        return u - part if self.kind == "pruned" else part  # Eq. (11)


@register("cgd")
class CGD(Stepper):
    """Chaos-sensitive gradient descent, Theorem 2.2 (Eqs. (10)-(12)) of Herrmann et al. 2022.

    A projection composed around :class:`~refchaos.optim.SGD`: each step projects the loss
    gradient (Eq. (11)) and hands it to the SGD update, and its tangent map hands the SGD
    tangent map the projected H dtheta, P H dtheta with P held fixed (Eq. (12) in its
    fixed-projector reading, :mod:`refchaos.lyapunov.tangent`). The state and its tangent rows
    are SGD's.

    Parameters
    ----------
    lr, momentum, weight_decay, dampening, nesterov : float, bool
        As :class:`~refchaos.optim.SGD` (PyTorch conventions).
    prune : {"chaotic", "negative", "positive", "none"}
        The eigenvalue set S to project off (module docstring).
    k : int or None
        Prune at most k directions of S (None: all of S).
    select : {"top", "top_exponent", "random"}
        Which k: largest |lambda|, largest |1 - lr lambda|, or drawn at random.
    start : int
        First step that prunes (earlier steps are SGD steps); the released code's ``prune_start``.
    seed : int
        Seed of the random-k draws; step t uses ``np.random.default_rng([seed, t])``.
    zero_tol : float
        Relative zero tolerance on |lambda| (default :data:`ZERO_TOL`).
    prune_zero : bool
        Negative/positive modes also prune the zero eigenspace (the released code's choice).
    spectrum_method : str
        Passed to :func:`refchaos.curvature.spectrum`.
    replacement : bool
        Random-k draws with replacement (the released code); only with ``select="random"``.
    """

    retake_step = False  # each step solves a Hessian eigenproblem: a tangent block is one block

    def __init__(self, lr, prune="chaotic", k=None, select="top", start=0, momentum=0.0,
                 weight_decay=0.0, seed=0, zero_tol=ZERO_TOL, prune_zero=False,
                 spectrum_method="auto", replacement=False, dampening=0.0, nesterov=False):
        self.base = SGD(lr, momentum=momentum, weight_decay=weight_decay, dampening=dampening,
                        nesterov=nesterov)
        if prune not in PRUNE_SETS:
            raise ValueError(f"unknown prune set {prune!r}; choose one of {', '.join(PRUNE_SETS)}")
        if select not in SELECTIONS:
            raise ValueError(f"unknown select {select!r}; choose one of {', '.join(SELECTIONS)}")
        if k is not None and not (_is_int(k) and k >= 1):
            raise ValueError(f"k must be None or an integer >= 1, got {k!r}")
        if not (_is_int(start) and start >= 0):
            raise ValueError(f"start must be an integer >= 0, got {start!r}")
        if replacement and select != "random":
            raise ValueError("replacement=True applies only to select='random'")
        self.prune = prune
        self.k = None if k is None else int(k)
        self.select = select
        self.start = int(start)
        self.seed = int(seed)
        self.zero_tol = check_zero_tol(zero_tol)
        self.prune_zero = bool(prune_zero)
        self.spectrum_method = spectrum_method
        self.replacement = bool(replacement)

    # The SGD hyper-parameters and state layout are the base stepper's.
    lr = property(lambda self: self.base.lr)
    momentum = property(lambda self: self.base.momentum)
    weight_decay = property(lambda self: self.base.weight_decay)
    dampening = property(lambda self: self.base.dampening)
    nesterov = property(lambda self: self.base.nesterov)
    buffers = property(lambda self: self.base.buffers)

    def __repr__(self):
        return (f"CGD(lr={self.lr}, prune={self.prune!r}, k={self.k}, select={self.select!r}, "
                f"start={self.start}, momentum={self.momentum}, weight_decay={self.weight_decay})")

    def init(self, theta):
        """The SGD state before the first step."""
        return self.base.init(theta)

    def update(self, theta, state, g):
        """The SGD update for an already projected gradient g (N,): (theta, state)."""
        return self.base.update(theta, state, g)

    def step(self, model, theta, state, x, y):
        """One CGD step on (x, y): (theta, state, info).

        ``info`` holds ``step``, ``loss`` (before the step), ``grad_norm`` ||g|| (before
        projection and weight decay) and the projection's entries (:meth:`pruning_info`).
        """
        loss, g = model.loss_and_grad(theta, x, y)
        pr = self.pruning(model, theta, x, y, state.step)
        gp = g if pr is None else pr.project(g)  # Eq. (11)
        theta_new, state_new = self.base.update(theta, state, gp)  # Eq. (12)
        info = {"step": state.step, "loss": to_float(loss), "grad_norm": norm(g)}
        info.update(self.pruning_info(pr, gp))
        return theta_new, state_new, info

    def tangent_step(self, model, theta, state, x, y, Y):
        """One CGD step and its tangent map on Y (n, K), the projector P held fixed.

        J Y is SGD's tangent map (:meth:`SGD.tangent_update`) fed P H dtheta for H dtheta:
        (I - eta P H) Y without momentum, the fixed-projector reading of Eq. (12).
        """
        dtheta = self.check_block(Y, model.num_params)
        pr = self.pruning(model, theta, x, y, state.step)
        g, HY = model.grad_and_hvp(theta, x, y, dtheta)  # g (N,), H dtheta (N, K)
        gp = g if pr is None else pr.project(g)  # Eq. (11)
        dg = HY if pr is None else pr.project(HY)  # P H dtheta, P fixed
        theta_new, state_new, JY = self.base.tangent_update(theta, state, gp, Y, dg)
        info = {"step": state.step, "grad_norm": norm(g)}
        info.update(self.pruning_info(pr, gp))
        return theta_new, state_new, JY, info

    def tangent_update(self, theta, state, g, Y, dg):
        """SGD's tangent update for a projected gradient g and projected dg = P H dtheta."""
        return self.base.tangent_update(theta, state, g, Y, dg)

    def pruning(self, model, theta, x, y, step):
        """The :class:`Pruning` of step ``step`` at theta on (x, y); None before ``start``."""
        if step < self.start:
            return None
        lam, V = spectrum(model, theta, x, y, method=self.spectrum_method)
        return self.select_pruned(lam, V, step, dim=model.num_params)

    def select_pruned(self, lam, V, step, dim=None):
        """The :class:`Pruning` for eigenpairs (lam (n,), V (N, n)) at step ``step``.

        ``dim`` is N; the eigenpairs may be all N or only the non-zero ones (n < N).
        """
        xp = namespace_of(lam, V)
        dim = V.shape[0] if dim is None else int(dim)
        masks = classify(lam, self.lr, self.zero_tol)
        counts = eigenvalue_counts(lam, self.lr, self.zero_tol, dim=dim)
        n = lam.shape[0]
        if self.prune == "none":
            candidates = xp.zeros_like(masks["zero"])
        else:
            candidates = masks[self.prune]
        with_zero = self.prune_zero and self.prune in ("negative", "positive")
        if with_zero:
            candidates = candidates | masks["zero"]
        n_candidates = count(candidates) + (dim - n if with_zero else 0)
        if with_zero and self.k is None:
            kept = xp.asarray(np.flatnonzero(~to_host(candidates)))
            basis, lam_b = xp.take(V, kept, axis=1), xp.take(lam, kept, axis=0)
            return Pruning("kept", basis, lam_b, dim - kept.shape[0], n_candidates, counts)
        if with_zero and n < dim:
            raise ValueError(
                "prune_zero with k needs every eigenvector (the zero eigenspace is drawn from); "
                f"the spectrum returned {n} of {dim}: use spectrum_method='dense'"
            )
        idx = self._choose(to_host(lam), np.flatnonzero(to_host(candidates)), step)
        sel = xp.asarray(idx)
        basis, lam_b = xp.take(V, sel, axis=1), xp.take(lam, sel, axis=0)
        return Pruning("pruned", basis, lam_b, int(idx.shape[0]), n_candidates, counts)

    def _choose(self, lam_h, idx, step):
        """Indices (sorted, distinct) of the pruned eigenpairs among candidate indices idx."""
        k = self.k
        if k is None or idx.shape[0] == 0:
            return idx
        if self.select == "top":
            order = np.argsort(-np.abs(lam_h[idx]), kind="stable")
        elif self.select == "top_exponent":
            order = np.argsort(-np.abs(1.0 - self.lr * lam_h[idx]), kind="stable")
        else:
            rng = np.random.default_rng([self.seed, int(step)])  # per-step reproducible
            m = min(k, idx.shape[0])
            if self.replacement:
                order = rng.integers(0, idx.shape[0], size=m)  # the released code: with replacement
            else:
                order = rng.choice(idx.shape[0], size=m, replace=False)
        return np.unique(idx[order[:k]])

    def pruning_info(self, pruning, gp):
        """``n_pruned``, ``n_candidates`` (|S| before k), ``counts``, ``projected_grad_norm``."""
        if pruning is None:  # before ``start``: an SGD step, no spectrum taken
            return {"n_pruned": 0, "n_candidates": None, "counts": None,
                    "projected_grad_norm": norm(gp)}
        return {"n_pruned": pruning.n_pruned, "n_candidates": pruning.n_candidates,
                "counts": dict(pruning.counts), "projected_grad_norm": norm(gp)}



def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
