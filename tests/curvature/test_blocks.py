"""Exact diagonal Hessian blocks per layer and per parameter array, and their spectra, against JAX."""

from __future__ import annotations

import numpy as np
import pytest

from refchaos.curvature import block_spectra, hessian_blocks
from tests.curvature._curv_cases import CASES, IDS, accumulated, case_data, jax_hessian
from tests.tolerances import assert_normwise_close, rtol_for, softmax_condition


@pytest.mark.parametrize("name,builder,B", CASES, ids=IDS)
def test_blocks_equal_jax(name, builder, B):
    model, theta, x, y, H = jax_hessian(name)
    rtol = rtol_for(accumulated(model, B)) * softmax_condition(model, theta, x)
    layers = hessian_blocks(model, theta, x, y)
    assert [b.span for b in layers] == [(s[0][0], s[-1][1]) for s in model.layout.slices if s]
    for blk in layers:
        a, b = blk.span
        assert_normwise_close(blk.H, H[a:b, a:b], rtol, f"{name} layer {blk.name}")
    params = hessian_blocks(model, theta, x, y, by="param")
    assert [b.span for b in params] == [s for spans in model.layout.slices for s in spans]
    for blk in params:
        a, b = blk.span
        assert_normwise_close(blk.H, H[a:b, a:b], rtol, f"{name} param {blk.name}")


def test_block_spectra_are_the_blocks_eigenvalues():
    model, theta, x, y = case_data(CASES[1][1], 4)
    H = model.hessian(theta, x, y)
    for name, (a, b), lam in block_spectra(model, theta, x, y, by="param"):
        ref = np.linalg.eigvalsh(0.5 * (H[a:b, a:b] + H[a:b, a:b].T))
        scale = np.abs(ref).max()
        np.testing.assert_allclose(lam, ref, rtol=0, atol=rtol_for(b - a + accumulated(model, 4)) * scale,
                                   err_msg=name)
        assert np.all(np.diff(lam) >= 0)


def test_names_and_unknown_blocking():
    model, theta, x, y = case_data(CASES[0][1], 2)
    assert [b.name for b in hessian_blocks(model, theta, x, y, by="param")] == [
        "0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(ValueError, match="unknown blocking 'row'"):
        hessian_blocks(model, theta, x, y, by="row")
