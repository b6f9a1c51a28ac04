"""Exact diagonal blocks of the minibatch Hessian, per layer or per parameter array, and their spectra.

For a dense or convolutional layer l (output linear in theta_l), with the per-sample factors
(S, sigma) of the Hessian in the layer's output (:mod:`refchaos.curvature.hbp`) and the
per-sample gradients G_l (K B, n_l), row (k, b) = (d a_{l,b}/d theta_l)^T S_kb
(:func:`refchaos.curvature.hbp.gradient_chunks`, summed over chunks of columns):

    H[theta_l, theta_l] = G_l^T diag(sigma) G_l                                    (Eq. B1)

exactly: the block the full Hessian holds on that layer's parameters (no cross-layer terms
are dropped: those live off the diagonal block). ``by="param"`` splits each layer block into
its weight and bias blocks (BackPACK's and curvlinops' per-parameter blocks); each is a
sub-block of Eq. (B1). The spectrum of a block is its dense symmetric eigendecomposition.

Symbols: sigma -> ``sign``, G_l -> ``G``, theta_l -> ``theta[a:b]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import namespace_of
from .dense_eigh import eigh
from .hbp import gradient_chunks, prepared_factors

BLOCKINGS = ("layer", "param")
PARAM_NAMES = ("weight", "bias")  # PyTorch's order of a layer's parameter arrays


@dataclass
class HessianBlock:
    """One diagonal block H[a:b, a:b] of the Hessian.

    name : "<layer index>" for a layer block, "<layer index>.weight" / ".bias" for a parameter.
    span : (a, b) offsets in theta.
    H : (b - a, b - a) array in theta's dtype.
    """

    name: str
    span: tuple
    H: object


def hessian_blocks(model, theta, x, y, by="layer"):
    """The exact diagonal blocks of H (Eq. B1), one :class:`HessianBlock` per layer or parameter."""
    if by not in BLOCKINGS:
        raise ValueError(f"unknown blocking {by!r}; choose one of {', '.join(BLOCKINGS)}")
    xp, params, caches, factors = prepared_factors(model, theta, x, y)
    blocks = []
    for i, f in enumerate(factors):
        if f is None:
            continue
        S, sign = f
        Hl = sum(xp.matrix_transpose(G) @ (w[:, None] * G)  # Eq. (B1), (n_l, n_l)
                 for G, w in gradient_chunks(model, params, caches, i, S, sign, xp))
        spans = model.layout.slices[i]
        a0 = spans[0][0]
        if by == "layer":
            blocks.append(HessianBlock(str(i), (a0, spans[-1][1]), Hl))
            continue
        for name, (a, b) in zip(PARAM_NAMES, spans):
            blocks.append(HessianBlock(f"{i}.{name}", (a, b), Hl[a - a0:b - a0, a - a0:b - a0]))
    return blocks


def block_spectra(model, theta, x, y, by="layer"):
    """[(name, span, eigenvalues ascending)] of every block of :func:`hessian_blocks`."""
    out = []
    for blk in hessian_blocks(model, theta, x, y, by=by):
        sym = 0.5 * (blk.H + namespace_of(blk.H).matrix_transpose(blk.H))  # eigh reads one triangle
        out.append((blk.name, blk.span, eigh(sym)[0]))
    return out
