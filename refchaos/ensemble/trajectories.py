"""M training trajectories of one model advanced as one batched computation.

Member m follows ``torch.optim.SGD`` (dampening 0) with its own learning rate eta_m, momentum
mu_m, weight decay omega_m and Nesterov flag, Eq. (7) of Herrmann et al. 2022 with PyTorch's
buffer (as :class:`refchaos.optim.SGD`):

    d_m        = g_m(theta_m) + omega_m theta_m
    v_m(t+1)   = mu_m v_m(t) + d_m            (v_m(0) = 0, so v_m(1) = d_m, PyTorch's first step)
    u_m        = d_m + mu_m v_m(t+1)  (Nesterov)  or  v_m(t+1)
    theta_m(t+1) = theta_m(t) - eta_m u_m                                         Eq. (7)

For mu_m = 0 this is theta - eta d exactly (0 v + d = d), and for omega_m = 0, d = g.
The gradients of all members come from one batched pass (:mod:`.passes`).

Members 0..Mt-1 may carry K tangent vectors each, advanced by the exact tangent map of their
step (Eq. (8) of Herrmann et al. 2022; :meth:`refchaos.optim.SGD.tangent_update` on the state
(theta, v), 2N rows when any carrier has momentum), with H_m dtheta from one batched
R-operator pass, and renormalised every step as in :func:`refchaos.lyapunov.max_exponent`:

    dd  = (H_m + omega_m I) dtheta
    dv' = mu_m dv + dd,   du = dd + mu_m dv' (Nesterov) or dv',   dtheta' = dtheta - eta_m du
    r   = ||(dtheta', dv')||,   w <- (dtheta', dv') / r,   lambda_1(t) = (1/t) sum_s ln r(s)

(without momentum: dtheta' = (I - eta_m (H_m + omega_m I)) dtheta). A carrier without momentum
in a 2N ensemble keeps dv = 0, so its norm is over its N-dimensional state.

Divergence: after each step, a member whose loss (before the step) or parameters (after it)
trip ``policy`` (:data:`refchaos.experiments.divergence.DEFAULT_POLICY`: non-finite, loss or
parameter norm too large) is recorded (member, step, reason) and masked: its slot keeps its
last state that passed the check and is no longer updated. Shapes never change, and no
operation mixes members (the shared first-layer GEMM gives column block m from W_m alone, the
later products and the loss are per member), so the other members compute exactly the same
operations on the same numbers as without the diverging neighbour: bitwise the same result
under a deterministic BLAS.

Symbols: theta_m -> ``Theta[m]`` (M, N); v_m -> ``V[m]``; eta_m, mu_m, omega_m -> ``lr``,
``momentum``, ``weight_decay`` (M,); (dtheta, dv) -> ``Y[k, m]`` (K, Mt, n); ln r ->
``log_growth`` (T, K, Mt).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import asarray, namespace_of, to_host
from ..experiments.divergence import DEFAULT_POLICY
from ..optim.eigensets import check_lr
from ..optim.sgd import check_momentum, check_weight_decay
from .passes import EnsemblePasses


def _per_member(value, M, check, name):
    """(M,) host float64 from a number or M numbers, each passed through ``check``."""
    values = [value] * M if np.ndim(value) == 0 else list(value)
    if len(values) != M:
        raise ValueError(f"{name} must be a number or have one entry per member ({M}), "
                         f"got {len(values)}")
    return np.array([check(v) for v in values], dtype=np.float64)


class Ensemble:
    """M SGD / momentum trajectories of ``model``, optionally with tangent vectors.

    Parameters
    ----------
    model : refchaos.nn.Model
    Theta : array (M, N)
        Start parameters of the members (not modified).
    lr, momentum, weight_decay : float or sequence of M floats
        eta_m (> 0), mu_m in [0, 1), omega_m >= 0 (checked as :class:`refchaos.optim.SGD`).
    nesterov : bool or sequence of M bools
        PyTorch's Nesterov momentum for member m (needs mu_m > 0).
    w0 : array (K, Mt, n) or None
        Start tangent vectors of members 0..Mt-1 (each normalised on entry), n = 2N when any
        of them has momentum, else N; a carrier without momentum must have dv rows 0.
    policy : DivergencePolicy
        The divergence rule (default: the one ``run`` and ``sweep`` use).
    sample_block : int or None
        Run the passes over blocks of this many samples (bounded memory, cache-sized arrays;
        :meth:`EnsemblePasses._blocks`); None: the whole batch at once.
    """

    def __init__(self, model, Theta, lr, momentum=0.0, weight_decay=0.0, nesterov=False,
                 w0=None, policy=DEFAULT_POLICY, sample_block=None):
        xp = namespace_of(Theta)
        self.model, self.policy = model, policy
        self.passes = EnsemblePasses(model, sample_block=sample_block)
        if Theta.ndim != 2 or Theta.shape[1] != model.num_params or Theta.shape[0] < 1:
            raise ValueError(f"Theta must have shape (M, {model.num_params}), got {tuple(Theta.shape)}")
        M, N = Theta.shape
        self.M, self.N = M, N
        self.lr = _per_member(lr, M, check_lr, "lr")
        self.momentum = _per_member(momentum, M, check_momentum, "momentum")
        self.weight_decay = _per_member(weight_decay, M, check_weight_decay, "weight_decay")
        self.nesterov = np.broadcast_to(np.asarray(nesterov, dtype=bool), (M,)).copy()
        if np.any(self.nesterov & (self.momentum == 0)):
            raise ValueError("Nesterov momentum requires momentum > 0 (as torch.optim.SGD)")
        col = lambda a: asarray(a[:, None], xp, Theta.dtype)  # (M, 1) on Theta's device
        self._lr, self._mu, self._wd = col(self.lr), col(self.momentum), col(self.weight_decay)
        self._nest = asarray(self.nesterov[:, None], xp)
        self.Theta = Theta
        self.V = xp.zeros_like(Theta) if np.any(self.momentum != 0) else None
        self.Y, self.Mt = None, 0
        if w0 is not None:
            self._init_tangents(w0, xp)
        self.active = np.ones(M, dtype=bool)
        self.divergences = []  # dicts: member, step, reason, message
        self.losses = []  # (M,) host float64 per step: the loss before the step
        self.logs = []  # (K, Mt) ln r per step, on Theta's device
        self.t = 0

    def _init_tangents(self, w0, xp):
        if w0.ndim != 3:
            raise ValueError(f"w0 must have shape (K, Mt, n), got {tuple(w0.shape)}")
        K, Mt, n = w0.shape
        N = self.N
        mom = self.momentum[:Mt] != 0
        want = 2 * N if np.any(mom) else N
        if n != want or not 1 <= Mt <= self.M:
            raise ValueError(f"w0 must have shape (K, Mt, {want}) with 1 <= Mt <= {self.M}, "
                             f"got {tuple(w0.shape)}")
        if n == 2 * N and not np.all(mom):
            dv = to_host(w0[:, :, N:])
            if np.any(np.asarray(dv)[:, ~mom, :] != 0):
                raise ValueError("a tangent carrier without momentum must have dv rows 0 in w0")
        self.Mt = Mt
        self.Y = w0 / xp.sqrt(xp.sum(w0 * w0, axis=2, keepdims=True))
        self._has_mom = asarray(mom[None, :, None], xp)

    # ----- one step ---------------------------------------------------------------------------
    def _gradients(self, x, y):
        """Losses (M,), gradients (M, N) and, for the carriers, H dtheta (K, Mt, N)."""
        xp, Mt, N = namespace_of(self.Theta), self.Mt, self.N
        if self.Y is None:
            return (*self.passes.loss_and_grad(self.Theta, x, y), None)
        shared = x.ndim == 1 + len(self.model.input_shape)
        part = (lambda a, s: a) if shared else (lambda a, s: a[s, ...])
        lc, Gc, HV = self.passes.grad_and_hvp(self.Theta[:Mt, :], part(x, slice(0, Mt)),
                                              part(y, slice(0, Mt)), self.Y[:, :, :N])
        if Mt == self.M:
            return lc, Gc, HV
        lo, Go = self.passes.loss_and_grad(self.Theta[Mt:, :], part(x, slice(Mt, None)),
                                           part(y, slice(Mt, None)))
        return xp.concat([lc, lo]), xp.concat([Gc, Go], axis=0), HV

    def _update(self, G):
        """Eq. (7) for every member: (Theta, V) after the step."""
        xp = namespace_of(self.Theta)
        d = G + self._wd * self.Theta if np.any(self.weight_decay) else G  # d = g + omega theta
        if self.V is None:
            return self.Theta - self._lr * d, None  # Eq. (7)
        V = self._mu * self.V + d  # v = mu v + d
        U = xp.where(self._nest, d + self._mu * V, V) if np.any(self.nesterov) else V
        return self.Theta - self._lr * U, V  # Eq. (7)

    def _tangent(self, HV):
        """The carriers' tangent map (module docstring, Eq. (8)) before renormalisation."""
        xp, Mt, N = namespace_of(self.Y), self.Mt, self.N
        lr, mu, wd = self._lr[None, :Mt, :], self._mu[None, :Mt, :], self._wd[None, :Mt, :]
        dth = self.Y[:, :, :N]
        dd = HV + wd * dth if np.any(self.weight_decay[:Mt]) else HV  # (H + omega I) dtheta
        if self.Y.shape[2] == N:
            return dth - lr * dd  # Eq. (8), beta = 0
        dv = mu * self.Y[:, :, N:] + dd  # dv' = mu dv + dd
        du = xp.where(self._nest[None, :Mt, :], dd + mu * dv, dv) if np.any(self.nesterov) else dv
        dv = xp.where(self._has_mom, dv, xp.zeros_like(dv))  # no buffer: no dv rows
        return xp.concat([dth - lr * du, dv], axis=2)  # dtheta' = dtheta - eta du

    def step(self, x, y):
        """One step of every active member on (x, y) (shared or per member); the losses (M,)."""
        xp = namespace_of(self.Theta)
        losses, G, HV = self._gradients(x, y)
        Theta, V = self._update(G)
        keep = self._check(losses, Theta)
        keep_dev = asarray(keep[:, None], xp)
        self.Theta = xp.where(keep_dev, Theta, self.Theta)
        if V is not None:
            self.V = xp.where(keep_dev, V, self.V)
        if self.Y is not None:
            JY = self._tangent(HV)
            r = xp.sqrt(xp.sum(JY * JY, axis=2))  # growth factors (K, Mt), ||w|| = 1
            alive = asarray(keep[None, :self.Mt], xp)
            self.logs.append(xp.where(alive, xp.log(r), xp.full_like(r, math.nan)))
            self.Y = xp.where(alive[:, :, None], JY / r[:, :, None], self.Y)  # renormalise
        host = np.asarray(to_host(losses), dtype=np.float64).copy()
        host[~self.active] = math.nan
        self.losses.append(host)
        self.active = keep
        self.t += 1
        return host

    def _check(self, losses, Theta):
        """Members still active after this step (the policy on loss and ||theta||, per member)."""
        xp = namespace_of(Theta)
        loss = np.asarray(to_host(losses), dtype=np.float64)
        norm = np.asarray(to_host(xp.sqrt(xp.sum(Theta * Theta, axis=1))), dtype=np.float64)
        p = self.policy
        with np.errstate(invalid="ignore"):
            suspect = ~(np.isfinite(loss) & np.isfinite(norm) & (loss <= p.max_loss)
                        & (norm <= p.max_param_norm))
        keep = self.active.copy()
        for m in np.flatnonzero(suspect & self.active):
            div = p.check(self.t, loss[m], Theta[int(m), :])  # the rule itself names the reason
            if div is not None:
                keep[m] = False
                self.divergences.append({"member": int(m), **div.to_dict()})
        return keep

    def advance(self, batch, steps):
        """Take ``steps`` steps on ``batch(t) -> (x, y)``, t = self.t, self.t + 1, ..."""
        for _ in range(int(steps)):
            self.step(*batch(self.t))
        return self

    # ----- results ----------------------------------------------------------------------------
    def log_growth(self):
        """ln r (T, K, Mt) host float64; NaN from the step a carrier was masked."""
        if not self.logs:
            return np.zeros((0, *self.Y.shape[:2]) if self.Y is not None else (0, 0, 0))
        xp = namespace_of(self.Theta)
        return np.asarray(to_host(xp.stack(self.logs)), dtype=np.float64)

    def running_exponent(self, transient=0):
        """lambda_1 after each step (T, K, Mt), as :func:`refchaos.lyapunov.max_exponent`'s
        ``running`` (NaN inside the transient and once ln r was not finite)."""
        logs = self.log_growth()
        T, t0 = logs.shape[0], int(transient)
        if not 0 <= t0 < T:
            raise ValueError(f"transient must lie in [0, steps) = [0, {T}), got {transient}")
        out = np.full(logs.shape, math.nan)
        count = np.arange(1, T - t0 + 1, dtype=np.float64)[:, None, None]
        with np.errstate(invalid="ignore"):
            out[t0:] = np.cumsum(logs[t0:], axis=0) / count
        return out

    def member_divergence(self, m):
        """The recorded divergence of member m (dict) or None."""
        return next((d for d in self.divergences if d["member"] == int(m)), None)
