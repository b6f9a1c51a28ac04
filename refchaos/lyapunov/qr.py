"""QR re-orthonormalisation of a block of tangent vectors (Benettin et al. 1980; Geist et al.
1990, method "H2"): the finite-time Lyapunov spectrum without over- or underflow.

The tangent block evolves as Y(t+1) = J(t) Y(t) (Eqs. (1), (2) of Herrmann et al. 2022).
Products of J over long horizons leave float64 range, so every ``qr_every`` steps the block is
factored Y = Q R, Q (n, k) with orthonormal columns, R (k, k) upper triangular, and Q carries on
while ln|R_jj| is accumulated. After t accumulated steps the exponents are

    lambda_j(t) = (1 / t) sum_s ln |R_jj(s)|           j = 1..k

the k largest Lyapunov exponents (for k = n, the whole spectrum). Steps before ``transient``
are integrated and re-orthonormalised but not accumulated, so the initial orientation of Q
does not bias the average.

Symbols: Y^(t) -> ``Q`` (the orthonormalised block), ln|R_jj| -> ``log_r``,
lambda_j -> ``exponents()``.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from ..backend import asarray, is_floating, namespace_of, to_host


class QRAccumulator:
    """Benettin/Geist-H2 accumulator for a block of k tangent vectors in n dimensions.

    Usage::

        acc = QRAccumulator(Q0, transient=0, qr_every=1)
        for t in range(steps):
            acc.push(J_t @ acc.Q)        # or any matrix-free product J_t Q
        lam = acc.exponents()             # (k,), descending in expectation

    Parameters
    ----------
    Q0 : array (n, k)
        Initial tangent block; it is orthonormalised on entry.
    transient : int
        Number of initial steps integrated but not accumulated.
    qr_every : int
        Re-orthonormalise every this many steps (1: every step). Between QRs the block is
        multiplied unnormalised, so keep qr_every * max|lambda| well below ln(1e308) ~ 709.
        Steps pushed after the last QR are not in :meth:`exponents` until the next QR.
    """

    def __init__(self, Q0, transient=0, qr_every=1):
        if Q0.ndim != 2 or Q0.shape[1] > Q0.shape[0] or Q0.shape[1] < 1:
            raise ValueError(f"Q0 must be (n, k) with 1 <= k <= n, got {tuple(Q0.shape)}")
        if int(transient) < 0 or int(qr_every) < 1:
            raise ValueError(f"need transient >= 0 and qr_every >= 1, got {transient}, {qr_every}")
        xp = namespace_of(Q0)
        if not is_floating(xp, Q0):
            raise TypeError(f"Q0 must be a floating array, got dtype {Q0.dtype}")
        self._xp = xp  # found once: array_namespace costs more than a small QR in push()
        self.transient = int(transient)
        self.qr_every = int(qr_every)
        self.step = 0  # tangent-map applications pushed so far
        self.accumulated_steps = 0  # steps whose growth is in log_r
        self.Q, _ = xp.linalg.qr(Q0)
        # On Q0's device: a CuPy or CUDA-torch block must not meet a host accumulator.
        self.log_r = xp.zeros((Q0.shape[1],), dtype=Q0.dtype, device=array_api_compat.device(Q0))
        self._since_qr = 0

    def push(self, JQ):
        """Replace the block by J Q (n, k) and re-orthonormalise when due."""
        if JQ.shape != self.Q.shape:
            raise ValueError(f"J Q must have shape {tuple(self.Q.shape)}, got {tuple(JQ.shape)}")
        xp = self._xp
        self.step += 1
        self._since_qr += 1
        if self._since_qr < self.qr_every:
            self.Q = JQ
            return
        Q, R = xp.linalg.qr(JQ)
        log_r = xp.log(xp.abs(xp.linalg.diagonal(R)))  # ln|R_jj|: growth of each direction
        interval_start = self.step - self._since_qr
        if interval_start >= self.transient:  # intervals that reach into the transient are dropped
            self.log_r = self.log_r + log_r
            self.accumulated_steps += self._since_qr
        self.Q = Q
        self._since_qr = 0

    def exponents(self):
        """Finite-time exponents (k,) over the accumulated steps: log_r / accumulated_steps."""
        if self.accumulated_steps == 0:
            raise RuntimeError("no steps accumulated yet (still in the transient)")
        return self.log_r / self.accumulated_steps

    def state_dict(self, prefix="qr_"):
        """The accumulator as host arrays (exact copies), for a checkpoint."""
        ints = dict(transient=self.transient, qr_every=self.qr_every, step=self.step,
                    accumulated_steps=self.accumulated_steps, since_qr=self._since_qr)
        out = {prefix + k: np.asarray(v, dtype=np.int64) for k, v in ints.items()}
        out[prefix + "Q"] = np.array(to_host(self.Q), copy=True)
        out[prefix + "log_r"] = np.array(to_host(self.log_r), copy=True)
        return out

    @classmethod
    def from_state_dict(cls, arrays, xp, dtype, prefix="qr_"):
        """The accumulator saved by :meth:`state_dict`, restored without a QR (which would round)."""
        self = cls.__new__(cls)
        self._xp = xp
        self.transient = int(arrays[prefix + "transient"])
        self.qr_every = int(arrays[prefix + "qr_every"])
        self.step = int(arrays[prefix + "step"])
        self.accumulated_steps = int(arrays[prefix + "accumulated_steps"])
        self._since_qr = int(arrays[prefix + "since_qr"])
        self.Q = asarray(arrays[prefix + "Q"], xp, dtype)
        self.log_r = asarray(arrays[prefix + "log_r"], xp, dtype)
        return self
