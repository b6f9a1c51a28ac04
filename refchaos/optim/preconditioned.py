"""The diagonal preconditioner shared by Adam and RMSprop, and its Jacobian-vector product.

Adam (Kingma & Ba 2015) and RMSprop (Tieleman & Hinton 2012) in PyTorch's form divide a
numerator a (N,) (Adam's m, RMSprop's gradient) elementwise by a root of a second-moment
buffer r (N,) >= 0, with eps added *after* the root:

    p(a, r) = a / (sqrt(r / c) + eps)          c > 0 (Adam's bias correction 1 - beta2^t; 1)

With q = sqrt(r / c), its directional derivative along (da, dr) is

    dp = da / (q + eps) - a dr / (2 c q (q + eps)^2)

The second term is singular at r = 0 (sqrt has no derivative at 0). On a trajectory started
from PyTorch's zero buffers, r_i = 0 means every gradient seen so far in coordinate i was 0
exactly (r is a sum of non-negative terms g^2 with positive weights; for RMSprop's centred
variance, sum w g^2 - (sum w g)^2 >= (1 - sum w) sum w g^2 > 0 unless all g = 0), so a_i = 0
too. The map is then p = 0 along the whole half-line r_i >= 0 with a_i = 0, and the one-sided
derivative in r_i (the only side in the domain r >= 0) is 0: :func:`root_quotient_jvp` uses 0
for that coefficient where r = 0 and a = 0, and raises where r = 0 but a != 0 (a state not
reachable from the zero buffers, where the derivative is infinite).

Symbols: a -> ``num``; r -> ``r``; c -> ``c``; q -> ``q``; eps -> ``eps``.
"""

from __future__ import annotations

import math

from ..backend import namespace_of


class SingularTangentError(FloatingPointError):
    """The step is not differentiable at this state (a root of a zero buffer with a != 0)."""


def root_quotient(num, r, eps, c=1.0, xp=None):
    """p = a / (sqrt(r / c) + eps) (N,), computed as PyTorch does (sqrt(r) / sqrt(c) + eps).

    Returns (p, q, q + eps) with q = sqrt(r / c). ``xp`` skips the namespace lookup.
    """
    xp = namespace_of(num, r) if xp is None else xp
    q = xp.sqrt(r) / math.sqrt(c) if c != 1.0 else xp.sqrt(r)  # sqrt(r / c)
    denom = q + eps
    return num / denom, q, denom


def root_quotient_jvp(num, dnum, r, dr, eps, c=1.0, xp=None):
    """p (N,) and dp (N, K) of p = a / (sqrt(r / c) + eps) along (da, dr) (module docstring).

    Parameters
    ----------
    num, r : arrays (N,)
        a and r >= 0 at the current state.
    dnum, dr : arrays (N, K)
        Tangent columns of a and r.
    eps, c : float
        eps > 0 after the root; c > 0 divides r.
    xp : namespace or None
        The arrays' namespace (looked up when None).
    """
    xp = namespace_of(num, r, dnum, dr) if xp is None else xp
    p, q, denom = root_quotient(num, r, eps, c, xp)
    zero = r == 0
    if bool(xp.any(zero)):  # sqrt(r) has no derivative at r = 0: the one-sided rule
        if bool(xp.any(zero & (num != 0))):
            raise SingularTangentError(
                "the preconditioner's buffer is 0 where its numerator is not: sqrt has no "
                "derivative there (a state no trajectory from the zero buffers reaches)")
        safe_q = xp.where(zero, xp.ones_like(q), q)
        coef = xp.where(zero, xp.zeros_like(q), num / ((2.0 * c) * safe_q * denom * denom))
    else:
        coef = num / ((2.0 * c) * q * denom * denom)  # a / (2 c q (q + eps)^2)
    dp = dnum / denom[:, None] - coef[:, None] * dr  # dp = da / (q + eps) - a dr / (2 c q (q + eps)^2)
    return p, dp
