"""The released H22 code's eigenvalue convention (``convention="released"``), off by default.

Expected counts are worked out by hand from the rule's definition (raw sign; chaotic iff
(1 - lr lam)^2 > 1 in the eigenvalues' dtype) and from IEEE rounding at 1: the spacing of
float64 is 2^-52 = 2.2e-16 above 1 and 2^-53 = 1.1e-16 below it; float32's is 2^-23 = 1.2e-7.
"""

from __future__ import annotations

import numpy as np
import pytest

from refchaos.optim.eigensets import CONVENTIONS, classify, eigenvalue_counts

# Genuine eigenvalues: two negative, three positive of which 2500 > 2 / lr for lr = 1e-3 and
# 3, 2500 > 2 / lr for lr = 1. Rounding noise of a null space: three tiny values and one 0.
GENUINE = [-2.0, -1e-3, 5e-4, 3.0, 2500.0]
NOISE = [-3e-16, 2e-16, -1e-17, 0.0]
LAM = np.array(GENUINE + NOISE)


def test_default_is_unchanged():
    for lr in (1e-3, 1.0):
        assert eigenvalue_counts(LAM, lr) == eigenvalue_counts(LAM, lr, convention="refchaos")
    masks = classify(LAM, 1e-3)
    assert [int(m.sum()) for m in (masks["negative"], masks["positive"], masks["zero"],
                                   masks["chaotic"])] == [2, 3, 4, 3]


def test_raw_sign_counts_noise_as_signed():
    c = eigenvalue_counts(LAM, 1e-3, convention="released")
    # -3e-16 and -1e-17 are negative by sign; 2e-16 positive; only the exact 0.0 is zero.
    assert c == {"negative": 4, "positive": 4, "zero": 1, "chaotic": 3}
    ref = eigenvalue_counts(LAM, 1e-3)
    assert ref == {"negative": 2, "positive": 3, "zero": 4, "chaotic": 3}


def test_released_chaotic_count_grows_with_lr():
    # lr = 1e-3: 1 + 3e-19 rounds to 1, so no noise value is chaotic: -2, -1e-3, 2500.
    assert eigenvalue_counts(LAM, 1e-3, convention="released")["chaotic"] == 3
    # lr = 1: 1 + 3e-16 rounds up to 1 + 2^-52, squared > 1: -3e-16 counts as chaotic;
    # 1 + 1e-17 rounds to 1 (not chaotic); 1 - 2e-16 rounds to 1 - 2^-53 (squared < 1).
    rel = classify(LAM, 1.0, convention="released")["chaotic"]
    assert rel.tolist() == [True, True, False, True, True, True, False, False, False]
    # Theorem 2.1 with the zero tolerance: the 4 genuine chaotic values only.
    assert eigenvalue_counts(LAM, 1.0)["chaotic"] == 4


def test_released_rule_follows_the_dtype():
    lam = np.array([-1e-8, -1e-6, 1.0], dtype=np.float32)
    # float32 at lr = 1: 1 + 1e-8 rounds to 1 (spacing 1.2e-7), 1 + 1e-6 does not.
    assert classify(lam, 1.0, convention="released")["chaotic"].tolist() == [False, True, False]
    # float64: both are resolved.
    assert classify(lam.astype(np.float64), 1.0,
                    convention="released")["chaotic"].tolist() == [True, True, False]


def test_both_conventions_agree_without_near_zero_eigenvalues(xp):
    lam = xp.asarray(np.array(GENUINE), dtype=xp.float64)
    for lr in (1e-3, 1.0):
        a = classify(lam, lr)
        b = classify(lam, lr, convention="released")
        for name in ("negative", "positive", "chaotic"):
            assert bool(xp.all(a[name] == b[name])), (lr, name)


def test_dim_adds_exact_zeros_in_both_conventions():
    for convention in CONVENTIONS:
        c = eigenvalue_counts(LAM, 1e-3, dim=20, convention=convention)
        assert sum(c[k] for k in ("negative", "positive", "zero")) == 20


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError, match="convention must be one of"):
        classify(LAM, 0.1, convention="pytorch")
    with pytest.raises(ValueError, match="lr must be"):
        classify(LAM, 0.0, convention="released")
