"""Comparing two sweep tables: bit for bit where the arithmetic is the same, to rounding where
the chunk plan changes it.

Two sweeps with the same chunk plan run the same float64 operations on arrays of the same
shapes: their tables are identical (whether the chunks ran serially, on processes or on Dask,
or were resumed). A different plan changes the shapes: a chunk of one seed shares x, so its
first layer is one GEMM x [W_1; ...; W_M]^T of width M H, a chunk of several seeds gives each
member its own input and one product per member (:mod:`refchaos.ensemble.rules`). Whether the
BLAS adds each column's terms in the same order for every width depends on its kernels (seen
both ways: byte-identical tables on earlier CI machines, differences of 1e-9 relative in the
copies' exponents on an AMD EPYC with OpenBLAS 0.3.31's Haswell kernels), so across plans the
tables agree to rounding only. A rounding error u |theta| ~ 1e-16 per step acts on the perturbed copies
like a perturbation of 1e-16 against their eps = 1e-8: ln d(t)/d(0) moves by ~u / eps, 1e-8
relative, whatever the growth; the fitted slope over a window of >= 8 steps by less. 1e-6 leaves
two decades of margin for the sums over N of a few hundred parameters; the training loss and
the tangent exponent, unamplified, differ at the ulp level.
"""

from __future__ import annotations

import numpy as np

from refchaos.experiments.sweep import CSV_COLUMNS, read_table

EXACT = ("lr", "seed", "window_start", "window_stop", "training_time", "final_test_accuracy",
         "best_test_accuracy", "diverged", "diverged_epoch", "steps", "num_params")
ROUNDED = ("exponent_copies", "exponent_copies_std", "exponent_tangent", "exponent_tangent_theta",
           "final_train_loss")
RTOL, ATOL = 1e-6, 1e-9
assert set(EXACT) | set(ROUNDED) == set(CSV_COLUMNS), "every column of the table is compared"


def csv_text(out):
    return (out / "sweep.csv").read_text()


def assert_same_to_rounding(out_a, out_b):
    """The sweep tables of two directories agree: discrete columns exactly, numbers to rounding."""
    a, b = read_table(out_a / "sweep.csv"), read_table(out_b / "sweep.csv")
    assert set(a) == set(b)
    for col in EXACT:
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    for col in ROUNDED:
        np.testing.assert_allclose(a[col], b[col], rtol=RTOL, atol=ATOL, err_msg=col)
