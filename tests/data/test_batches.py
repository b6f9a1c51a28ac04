"""The seeded batch order: exact reproduction, resumption without replay, epoch bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refchaos.backend import asarray, to_host
from refchaos.data import BatchOrder

USPS_TRAIN = 7291


def test_usps_at_batch_8_has_912_steps_last_one_partial():
    order = BatchOrder(USPS_TRAIN, 8, seed=0)
    assert order.steps_per_epoch == 912
    assert order.indices(911).size == 3 and order.indices(912).size == 8
    epoch = np.concatenate([order.indices(s) for s in range(912)])
    np.testing.assert_array_equal(np.sort(epoch), np.arange(USPS_TRAIN))
    assert BatchOrder(USPS_TRAIN, 8, 0, drop_last=True).steps_per_epoch == 911
    assert order.epoch_of(911) == 0 and order.epoch_of(912) == 1
    assert order.epoch_of(10 * 912 + 5) == 10


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), b=st.integers(1, 64), seed=st.integers(0, 2**32 - 1),
       drop_last=st.booleans(), t=st.integers(0, 500))
def test_resume_at_any_step_equals_uninterrupted_run(n, b, seed, drop_last, t):
    if drop_last and b > n:
        with pytest.raises(ValueError, match="drop_last"):
            BatchOrder(n, b, seed, drop_last=drop_last)
        return
    first = BatchOrder(n, b, seed, drop_last=drop_last)
    stop = t + 2 * first.steps_per_epoch + 1
    run = [first.indices(s) for s in range(stop)]
    resumed = BatchOrder(n, b, seed, drop_last=drop_last)  # a fresh object: nothing replayed
    for s in range(t, stop):
        np.testing.assert_array_equal(resumed.indices(s), run[s])
    sizes = [len(run[s]) for s in range(first.steps_per_epoch)]
    assert sum(sizes) == (n - n % b if drop_last else n)
    assert all(size == b for size in sizes[:-1]) and 0 < sizes[-1] <= b


def test_epochs_are_reshuffled_and_seeds_differ():
    a, b = BatchOrder(100, 10, seed=3), BatchOrder(100, 10, seed=4)
    assert not np.array_equal(a.permutation(0), a.permutation(1))
    assert not np.array_equal(a.permutation(0), b.permutation(0))
    np.testing.assert_array_equal(a.permutation(0), np.random.default_rng([3, 0]).permutation(100))


@pytest.mark.parametrize("batch_size", [None, 0])
def test_full_batch_is_one_step_of_everything(batch_size):
    order = BatchOrder(50, batch_size, seed=1)
    assert order.full_batch and order.steps_per_epoch == 1
    for step in (0, 1, 17):
        np.testing.assert_array_equal(order.indices(step), np.arange(50))
        assert order.epoch_of(step) == step


def test_full_batch_hands_out_the_arrays_themselves():
    # Full-batch GD sees the same n examples in stored order every step: no per-step copy.
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    order = BatchOrder(10, None, seed=3)
    for xb, yb in order.batches(x, y, start=4, stop=7):
        assert xb is x and yb is y


def test_batches_on_a_backend_from_step_s(xp):
    x_host = np.arange(30, dtype=np.float64).reshape(10, 3)
    y_host = np.arange(10, dtype=np.int64)
    x, y = asarray(x_host, xp), asarray(y_host, xp)
    order = BatchOrder(10, 4, seed=7)
    got = list(order.batches(x, y, start=2, stop=6))
    assert len(got) == 4
    for step, (xb, yb) in zip(range(2, 6), got):
        idx = order.indices(step)
        np.testing.assert_array_equal(to_host(xb), x_host[idx])
        np.testing.assert_array_equal(to_host(yb), y_host[idx])


@pytest.mark.parametrize("args,match", [
    ((0, 8, 0), "at least one example"), ((10, -1, 0), "batch_size"), ((10, 2, -1), "seed"),
])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        BatchOrder(*args)


def test_bad_step():
    order = BatchOrder(10, 3)
    for step in (-1, 1.5):
        with pytest.raises(ValueError, match="non-negative integer"):
            order.indices(step)
    with pytest.raises(ValueError, match="n=10"):
        next(order.batches(np.zeros((9, 2)), np.zeros(9)))
