"""The audit's framework: tolerances from float64 rounding, the check registry, shared fixtures
and :func:`run_audit`. The tolerance argument is in the package docstring (:mod:`refchaos.audit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from ..backend import asarray, backend_name, get_namespace, host_rng, to_float, to_host
from ..nn.builders import mlp
from ..nn.cnn import cnn

U = float(np.finfo(np.float64).eps) / 2  # Unit roundoff of float64, the reference dtype.
SAFETY = 16  # Ulps per accumulated term: two independent roundings, and sum|terms| vs |sum|.
FD_STEP = U ** (1.0 / 3.0)  # ~4.8e-6: balances truncation h^2 f'''/6 and rounding delta/h.
EVAL_ULPS = 64  # Absolute error of one evaluation of a small network quantity, in ulps of it.
NETWORK_D3_BOUND = 100.0  # Assumed bound on third directional derivatives (unit directions) of
#                           the small tanh networks below (inputs and weights O(1)); O(1) expected.
TANH_D3_BOUND = 16.0  # sup|tanh^(k)| for k = 1..4 is 1, 0.77, 2, 4.1: third r-derivatives of the
#                       tanh layer lines with |rx|, |dy|, |rdy| <= 1 stay below 4.1 + 3*2 + 2 < 16.
SOFTMAX_D3_BOUND = 16.0  # p(z + r rz) with |rz_i| <= 1: each r-derivative brings a factor of at
#                          most the spread 2 of rz, and p <= 1: |d^3 p / dr^3| <= 2^3 < 16.
FIRST_ORDER_SLOPE_TOL = 0.05  # Eq. (6) error order: |log2(r(eps)/r(eps/2)) - 1| for r = O(eps).
MC_SIGMAS = 4.0  # Monte Carlo tolerance in standard errors (two-sided false alarm 6e-5).
PAPER_A8 = 6.38  # The expected initial distance printed in H22 App. A.8.
PAPER_A8_DIGITS = 0.005  # Half a unit of the last printed digit of 6.38.


class AuditRow(NamedTuple):
    """One line of the audit table; ``ran_on`` names the backend the arrays lived on."""

    id: str
    description: str
    residual: float
    tolerance: float
    passed: bool
    note: str = ""
    ran_on: str = ""


@dataclass
class Outcome:
    """What a check returns: residual <= tolerance, plus exact conditions that must all hold."""

    residual: float
    tolerance: float
    note: str = ""
    conditions: tuple = ()  # (bool, message) pairs

    def passed(self):
        ok = math.isfinite(self.residual) and self.residual <= self.tolerance
        return ok and all(bool(c) for c, _ in self.conditions)


@dataclass(frozen=True)
class Check:
    id: str
    description: str
    fn: Callable
    host_only: str = ""  # why it runs on host NumPy whatever the backend ("" if it does not)


CHECKS: dict = {}


def check(ledger_id, description, host_only=""):
    """Register ``fn(xp) -> Outcome`` as the audit check of ledger entry ``ledger_id``."""

    def register(fn):
        if ledger_id in CHECKS:
            raise ValueError(f"duplicate audit id {ledger_id!r}")
        CHECKS[ledger_id] = Check(ledger_id, description, fn, host_only)
        return fn

    return register


def gamma(n):
    """gamma_n = n u / (1 - n u): relative rounding bound of an n-term sum (Higham 3.1)."""
    n = max(int(n), 1)
    return n * U / (1 - n * U)


def rtol(n):
    """Normwise relative tolerance for results accumulated over n terms: SAFETY * gamma_n."""
    return SAFETY * gamma(n)


def fd_tolerance(scale, d3=NETWORK_D3_BOUND, h=FD_STEP):
    """Error bound of a central difference: truncation d3 h^2 / 6 + rounding EVAL_ULPS u scale / h."""
    return d3 * h * h / 6.0 + EVAL_ULPS * U * scale / h


# ----- small helpers on any backend ----------------------------------------------------------
def _to(xp, a):
    return asarray(np.asarray(a, dtype=np.float64), xp, "float64")


def _host(a):
    return np.asarray(to_host(a), dtype=np.float64)


def _maxabs(xp, a):
    return to_float(xp.max(xp.abs(a)))


def _norm(xp, a):
    return to_float(xp.linalg.vector_norm(xp.reshape(a, (-1,))))


def _rel(xp, a, b):
    """Normwise relative difference ||a - b|| / ||b||."""
    return _norm(xp, a - b) / _norm(xp, b)


def _tanh_mlp(xp, seed=0, sizes=(4, 5, 3), B=6):
    """A small smooth network (tanh, cross-entropy) with its theta and one batch."""
    rng = host_rng(seed)
    model = mlp(list(sizes), activation="tanh")
    theta = model.init(seed, backend=xp)
    x = _to(xp, rng.uniform(-1, 1, (B, sizes[0])))
    y = asarray(rng.integers(0, sizes[-1], B).astype(np.int64), xp)
    return model, theta, x, y


def _tanh_cnn(xp, seed=0, B=2):
    """H22's CNN with base width 1 and tanh (108 parameters) on random 16x16 images."""
    rng = host_rng(seed)
    model = cnn(channels=1, activation="tanh")
    theta = model.init(seed, backend=xp)
    x = _to(xp, rng.uniform(-1, 1, (B, 1, 16, 16)))
    y = asarray(rng.integers(0, 10, B).astype(np.int64), xp)
    return model, theta, x, y


def _relu_mlp(xp, seed=13, D=12, Hd=4, C=3, B=2):
    """A ReLU MLP D-H-C at batch B: rank(H) <= B (C - 1) + 2 (C H + C), a large null space."""
    rng = host_rng(seed)
    model = mlp([D, Hd, C])
    theta = model.init(1, backend=xp)
    x = _to(xp, rng.standard_normal((B, D)))
    y = asarray(np.arange(B, dtype=np.int64) % C, xp)
    return model, theta, x, y


def _linear_mse(xp, seed=0, D=3, C=2, B=7):
    """A linear model z = x W^T + b with loss 1/(2B) sum ||z - t||^2: a quadratic in theta.

    Its Hessian is exact and constant: per output c, the (W[c, :], b[c]) block is
    G = X~^T X~ / B with X~ = [X, 1] (B, D + 1); blocks of different c do not couple. In
    PyTorch order W[c, d] is index c D + d and b[c] is C D + c. Returns the host Hessian too.
    """
    rng = host_rng(seed)
    model = mlp([D, C], loss="mse")
    X = rng.standard_normal((B, D))
    T = rng.standard_normal((B, C))
    Xt = np.hstack([X, np.ones((B, 1))])
    G = Xt.T @ Xt / B
    N = model.num_params
    H = np.zeros((N, N))
    for c in range(C):
        idx = [c * D + d for d in range(D)] + [C * D + c]
        H[np.ix_(idx, idx)] = G
    theta = model.init(seed, backend=xp)
    return model, theta, _to(xp, X), _to(xp, T), H


def _random_symmetric(xp, lam, seed=0):
    """(A on xp, V host) with A = V diag(lam) V^T, V a random orthogonal matrix."""
    n = len(lam)
    V, _ = np.linalg.qr(host_rng(seed).standard_normal((n, n)))
    A = V @ np.diag(lam) @ V.T
    return _to(xp, (A + A.T) / 2), V


def _sgd_run(opt, model, theta, x, y, steps):
    state = opt.init(theta)
    for _ in range(steps):
        theta, state, _ = opt.step(model, theta, state, x, y)
    return theta, state


def _fd_state_jacobian(xp, opt, model, theta, x, y, steps, buffers=()):
    """Central differences of (theta, *buffers)(steps) in theta(0), buffers started at opt.init.

    Returns (Y_fd, scale): Y_fd ((1 + len(buffers)) N, N), column j the difference quotient
    along e_j with step FD_STEP; scale, the largest |entry| of the perturbed end states, sets
    the finite-difference tolerance (:func:`fd_tolerance`)."""
    N = model.num_params
    eye = np.eye(N)
    cols, scale = [], 0.0
    for j in range(N):
        e = _to(xp, FD_STEP * eye[j])
        tp, sp = _sgd_run(opt, model, theta + e, x, y, steps)
        tm, sm = _sgd_run(opt, model, theta - e, x, y, steps)
        plus = [tp] + [getattr(sp, b) for b in buffers]
        minus = [tm] + [getattr(sm, b) for b in buffers]
        cols.append(xp.concat([(a - b) / (2 * FD_STEP) for a, b in zip(plus, minus)]))
        scale = max([scale] + [_maxabs(xp, a) for a in plus])
    return xp.stack(cols, axis=1), scale


# ===== running ================================================================================
def run_audit(backend="numpy", ids=None):
    """Run the audit on ``backend``; one :class:`AuditRow` per ledger entry, in ledger order.

    Parameters
    ----------
    backend : {"numpy", "array_api_strict", "torch", "cupy"} or namespace
    ids : iterable of str, optional
        Run only these checks (default: all of :data:`CHECKS`).

    Returns
    -------
    list of AuditRow
        ``passed`` is False for a residual above its tolerance, a violated exact condition or
        an exception (its message is in ``note``). Nothing is skipped.
    """
    xp = get_namespace(backend)
    name = backend_name(xp)
    host = get_namespace("numpy")
    selected = list(CHECKS) if ids is None else list(ids)
    unknown = [i for i in selected if i not in CHECKS]
    if unknown:
        raise ValueError(f"unknown audit ids {unknown}; known: {', '.join(CHECKS)}")
    rows = []
    for cid in selected:
        chk = CHECKS[cid]
        ran_on = f"numpy (host: {chk.host_only})" if chk.host_only else name
        try:
            out = chk.fn(host if chk.host_only else xp)
        except Exception as err:  # a failure to report, never to hide
            rows.append(AuditRow(cid, chk.description, math.nan, math.nan, False,
                                 f"error: {type(err).__name__}: {err}", ran_on))
            continue
        failed = [msg for ok, msg in out.conditions if not ok]
        note = out.note + ("" if not failed else " | FAILED: " + "; ".join(failed))
        rows.append(AuditRow(cid, chk.description, float(out.residual), float(out.tolerance),
                             out.passed(), note, ran_on))
    return rows
