"""Exact non-zero eigenpairs of the minibatch Hessian from its range, without an N x N eigh.

With the free-layer split of :mod:`refchaos.curvature.structure` (s the free layer, c the other
parameters, G_s the factored Jacobian block, H[s, s] = G_s^T G_s) every column of H lies in

    R = span(E_c) (+) range([G_s^T, H[s, c]])   (on the theta_s coordinates)

so with W = [G_s^T, H[s, c]] = Q_s R (Householder QR of the n_s x (B C + |c|) matrix, Q_s
(n_s, r_s) orthonormal) and Q = [Q_s on theta_s ; I on c], H = Q T Q^T exactly, where

    T = Q^T H Q = [[ (G_s Q_s)^T (G_s Q_s),  Q_s^T H[s, c] ],      = [[ R_1 R_1^T,  R_2     ],
                   [  H[c, s] Q_s,           H[c, c]       ]]         [ R_2^T,      H[c, c] ]]

(r x r, r = r_s + |c|; R = [R_1, R_2] split after the B C columns of G_s^T), because
Q_s^T W = R.
The non-zero eigenpairs of H are those of T, mapped back by V = Q U. H[s, s] is never formed.
Householder QR returns an orthonormal Q_s even when [G_s^T, H[s, c]] is rank deficient (it
is: rank(M_b) = C - 1 for cross-entropy), so no rank decision is made on the basis; the
surplus directions of R lie in the null space of H and show up as zero eigenvalues of T.

Zero eigenvalues. The eigenvalues of T that belong to null directions come out as rounding
noise of size about u * (longest accumulation) * ||H||; DESIGN/eigensets measured dense noise
below 1.1e-15 ||H|| and the smallest genuine eigenvalue at 9e-9 ||H|| on small MLPs. The
pairs with |mu| <= NULL_RTOL * max|mu| are dropped: they are the zero eigenspace (local
exponent 0, never pruned). The returned arrays hold only the non-zero eigenpairs; callers
count the zero eigenvalues as N minus the number returned.

Dense first layer, any activation. When the first parameter layer declares
``input_contracted`` (Dense) and B < D, :mod:`refchaos.curvature.dense_first` first reduces
the problem exactly to the same network on q = B input features (H = Q T Q^T, T the Hessian of
the reduced network, N~ = H q + H + |rest|); the reduced network is then decomposed by this
module's free-layer split if that gives a smaller space (ReLU), else by a dense eigh of
T, and the eigenvectors are mapped back by Q. This needs nothing of the activations: for
H22's sigmoid or tanh 256-20-10 MLP at B = 8, T is 390 x 390 instead of 5,350 x 5,350.

Fallback: where the range dimension r exceeds RANGE_MAX_FRACTION * N (or neither a free layer
nor a Dense first layer gives a smaller space),
:func:`range_spectrum` returns None and :func:`refchaos.curvature.spectrum` uses ``dense``.

Symbols: Q_s -> ``Qs``; T -> ``T``; mu, U -> ``mu``, ``U``; lambda, V -> ``lam``, ``V``.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

from .dense_eigh import eigh
from .dense_first import reduce, reduced_model, reduced_size
from .hessian import hessian, structured_blocks
from .structure import free_layer, free_span

# Above this r / N the QR (2 N r^2), V = Q U (2 N r^2) and the r x r eigh (~9 r^3) approach
# the ~9 N^3 / 3 of a dense eigh with vectors, while H's blocks must be built either way.
RANGE_MAX_FRACTION = 0.5
# |mu| <= NULL_RTOL max|mu| is a null direction of H: 10^3 above the measured rounding noise
# (1.1e-15 ||H||), 10^4 below the smallest genuine eigenvalue measured (9e-9 ||H||), and 100x
# below refchaos.optim.eigensets.ZERO_TOL, so every pair CGD could call non-zero is kept.
NULL_RTOL = 1e-12


def range_dimension(model, batch_size):
    """r, the dimension of the space T lives in (see the module); None if no route applies.

    Dense first layer with B < D: min(N~, the reduced network's free-layer r). Otherwise the
    free-layer split: r = |c| + r_s, r_s = min(n_s, B C + |c|).
    """
    q = reduced_size(model, batch_size)
    if q is not None:
        red = reduced_model(model, q)
        return min(red.num_params, _free_dimension(red, batch_size) or red.num_params)
    return _free_dimension(model, batch_size)


def _free_dimension(model, batch_size):
    s = free_layer(model)
    if s is None:
        return None
    a, b = free_span(model, s)
    c = model.num_params - (b - a)
    return c + min(b - a, batch_size * model.num_outputs + c)


def range_applies(model, batch_size):
    """True where the range method is exact and markedly cheaper than ``dense``."""
    r = range_dimension(model, batch_size)
    return r is not None and r <= RANGE_MAX_FRACTION * model.num_params


def range_spectrum(model, theta, x, y, block_size=None, null_rtol=NULL_RTOL):
    """Non-zero eigenpairs (lam (n,) ascending, V (N, n)) of H, or None where range does not apply."""
    if not range_applies(model, x.shape[0]):
        return None
    red = reduce(model, theta, x)
    if red is None:
        return free_range_pairs(model, theta, x, y, block_size, null_rtol)
    # H = Q T Q^T with T the Hessian of the reduced network (dense_first)
    B = x.shape[0]
    r_free = _free_dimension(red.model, B)
    if r_free is not None and r_free < red.model.num_params:
        lam, U = free_range_pairs(red.model, red.theta, red.x, y, block_size, null_rtol)
    else:
        T = hessian(red.model, red.theta, red.x, y, block_size=block_size)
        lam, U = nonzero_pairs(*eigh(_sym(T)), null_rtol)
    return lam, red.lift(U)


def free_range_pairs(model, theta, x, y, block_size=None, null_rtol=NULL_RTOL):
    """Non-zero eigenpairs from the free-layer split and the QR basis (module docstring)."""
    s = free_layer(model)
    sb = structured_blocks(model, theta, x, y, s, block_size)
    xp = sb.xp
    a, b = sb.span
    A, Tsc, apply_Q = _qr_terms(sb.G, sb.H_sc())
    r_s = A.shape[1]
    T = xp.concat([xp.concat([xp.matrix_transpose(A) @ A, Tsc], axis=1),
                   xp.concat([xp.matrix_transpose(Tsc), sb.H_cc()], axis=1)], axis=0)
    lam, U = nonzero_pairs(*eigh(_sym(T)), null_rtol)  # (n,), (r, n)
    Vs = apply_Q(U[:r_s, :])  # (n_s, n): V = Q U on theta_s
    Uc = U[r_s:, :]  # (|c|, n): V = U on c
    V = xp.concat([Uc[:a, :], Vs, Uc[a:, :]], axis=0)  # theta order: c_left, s, c_right
    return lam, V


def _sym(T):
    """(T + T^T) / 2: eigh reads one triangle; symmetrising makes the result independent of which."""
    xp = array_api_compat.array_namespace(T)
    return 0.5 * (T + xp.matrix_transpose(T))


def nonzero_pairs(mu, U, null_rtol=NULL_RTOL):
    """The pairs of (mu, U) with |mu| > null_rtol max|mu| (the rest is H's null space)."""
    xp = array_api_compat.array_namespace(mu)
    scale = xp.max(xp.abs(mu))
    keep = xp.nonzero(xp.abs(mu) > null_rtol * scale)[0]
    return xp.take(mu, keep, axis=0), xp.take(U, keep, axis=1)


def _qr_terms(G, Hsc):
    """(A = G_s Q_s, Q_s^T H[s, c], Q_s @ .) with Q_s from the Householder QR of W = [G_s^T, H[s, c]].

    Q_s^T W = R, so A^T = R[:, :B C] and Q_s^T H[s, c] = R[:, B C:]: Q_s is applied only once.
    """
    xp = array_api_compat.array_namespace(G)
    BC = G.shape[0]
    R, apply_Q = householder_qr(xp.concat([xp.matrix_transpose(G), Hsc], axis=1))
    return xp.matrix_transpose(R[:, :BC]), R[:, BC:], apply_Q


def householder_qr(W):
    """(R (r_s, m), apply_Q) with W = Q_s R, Q_s (n_s, r_s) orthonormal, r_s = min(n_s, m).

    ``apply_Q(U)`` returns Q_s @ U for U (r_s, k). On NumPy the fast twin calls LAPACK dgeqrf
    and applies the Householder reflectors with dormqr (Q_s is never formed: half the flops of
    numpy.linalg.qr's geqrf + orgqr); elsewhere ``xp.linalg.qr`` (reduced) and a product.
    """
    xp = array_api_compat.array_namespace(W)
    n_s, m = W.shape
    r_s = min(n_s, m)
    if not array_api_compat.is_numpy_namespace(xp) or W.dtype != np.float64:
        Q, R = xp.linalg.qr(W)
        return R, (lambda U: Q @ U)
    from scipy.linalg import lapack

    qr, tau, _, info = lapack.dgeqrf(np.asfortranarray(W))
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf failed with info={info}")
    R = np.triu(qr[:r_s, :])

    def apply_Q(U):
        C = np.zeros((n_s, U.shape[1]), order="F")
        C[:r_s, :] = U
        lwork = int(lapack.dormqr("L", "N", qr, tau, C, lwork=-1)[1][0].real)
        out, _, info = lapack.dormqr("L", "N", qr, tau, C, lwork=max(lwork, 1), overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"dormqr failed with info={info}")
        return np.ascontiguousarray(out)

    return R, apply_Q
