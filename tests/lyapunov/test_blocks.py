"""A wide tangent block taken in column blocks (refchaos.lyapunov.integrator, 'Column blocks'):
the same J Y as one block and as jax.jacfwd of the composed steps, on one or two threads, in
Y's column layout; one block where the step is not cheap to take again (CGD) or off the host;
a stepper whose step is not a function of its inputs is refused; ``run --threads`` leaves the
run's records unchanged, and ``perturb --threads`` its analysis.

Tolerance against JAX: tests/lyapunov/test_stepper_tangents.py's rtol_for(T * (N + B)). Against
one block: both are computations of the same product (only how BLAS groups a GEMM's rows may
differ between a narrow and a wide block), so the same bound applies to their difference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refchaos.lyapunov.integrator as integrator
from click.testing import CliRunner

from refchaos.experiments.config import ConfigError, RunConfig
from refchaos.experiments.perturb import run_perturb
from refchaos.experiments.run import run
from refchaos.experiments.rundir import RunDirectory
from refchaos.lyapunov import TangentMatrixIntegrator
from refchaos.optim import SGD, get_optimizer
from refchaos_cli.perturb import perturb
from tests.lyapunov.test_stepper_tangents import B, CASES, T, case_id, composed, make
from tests.tolerances import assert_normwise_close, rtol_for

WIDTH = 7  # columns per block in these tests: N = 51 gives 8 blocks, the last of 2 columns


@pytest.fixture
def narrow_blocks(monkeypatch):
    """Blocks of WIDTH columns for every tangent block of more than WIDTH columns."""
    def width(opt, Y):
        wide = isinstance(Y, np.ndarray) and opt.retake_step and Y.shape[1] > WIDTH
        return WIDTH if wide else None
    monkeypatch.setattr(integrator, "block_width", width)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_blocks_equal_one_block_and_jax(case, threads, narrow_blocks):
    name, kw, twin = case
    model, theta, data = make()
    opt = get_optimizer(name, **kw)
    N, parts = model.num_params, 1 + len(opt.buffers)
    th, st, Y1 = theta, opt.init(theta), np.eye(parts * N)  # one block: opt.tangent_step itself
    for x, y in data:
        th, st, Y1, _ = opt.tangent_step(model, th, st, x, y, Y1)
    integ = TangentMatrixIntegrator(opt, model, theta)
    calls, step = [], opt.tangent_step
    opt.tangent_step = lambda *a: calls.append(a[-1].shape[1]) or step(*a)
    integ.advance(lambda t: data[t], T, threads=threads)
    assert len(calls) == T * -(-parts * N // WIDTH) and max(calls) == WIDTH  # blocks were taken
    state0 = opt.init(theta)
    z0 = np.concatenate([theta] + [np.zeros(N) if getattr(state0, b) is None else getattr(state0, b)
                                   for b in opt.buffers])
    J = np.asarray(jax.jacfwd(composed(model, data, twin(**kw), parts))(jnp.asarray(z0)))
    rtol = rtol_for(T * (N + B))
    assert integ.Y.shape == J.shape == (parts * N,) * 2
    assert integ.Y.flags.f_contiguous  # the integrator's column layout survives the blocks
    assert_normwise_close(integ.Y, J, rtol, "blocks vs jax.jacfwd")
    assert_normwise_close(integ.Y, Y1, rtol, "blocks vs one block")
    np.testing.assert_array_equal(integ.theta, th)  # the step itself is untouched


def test_block_width_decides():
    model, theta, _ = make()
    N = model.num_params
    sgd, cgd = SGD(lr=0.1), get_optimizer("cgd", lr=0.1)
    column = N * 8
    wide = np.zeros((N, integrator.BLOCK_BYTES // column + 5))
    assert integrator.block_width(sgd, wide) == integrator.BLOCK_BYTES // column
    assert integrator.block_width(sgd, np.zeros((N, 3))) is None  # fits in one block
    assert integrator.block_width(cgd, wide) is None  # CGD does not retake its step


def test_off_the_host_one_block():
    xp = pytest.importorskip("array_api_strict")
    model, theta, _ = make()
    wide = xp.zeros((model.num_params, integrator.BLOCK_BYTES // (model.num_params * 8) + 5),
                    dtype=xp.float64)
    assert integrator.block_width(SGD(lr=0.1), wide) is None


def test_a_step_that_is_not_a_function_of_its_inputs_is_refused():
    class Noisy(SGD):
        calls = 0

        def update(self, theta, state, g):
            Noisy.calls += 1
            return super().update(theta + 1e-3 * Noisy.calls, state, g)

    model, theta, data = make()
    Y = np.eye(model.num_params)
    with pytest.raises(RuntimeError, match="different steps"):
        integrator.tangent_step_by_blocks(Noisy(lr=0.1), model, theta, Noisy(lr=0.1).init(theta),
                                          *data[0], Y, WIDTH)
    for width in (3, None):  # refused before any work, wide or narrow
        with pytest.raises(ValueError, match="width and threads"):
            integrator.tangent_step_by_blocks(SGD(lr=0.1), model, theta, None, *data[0], Y, width,
                                              threads=0)


def test_run_threads_leave_the_records_unchanged(tmp_path, narrow_blocks):
    config = RunConfig(model="mlp:6", subset=64, batch_size=8, steps=12, seed=2, lr=0.5,
                       measure=("loss", "subspaces", "maxexp"), every=4)
    run(config, tmp_path / "one", progress=False)
    run(config, tmp_path / "two", progress=False, threads=2)
    _, a = RunDirectory(tmp_path / "one").read_metrics()
    _, b = RunDirectory(tmp_path / "two").read_metrics()
    for c in a:
        np.testing.assert_array_equal(a[c], b[c], err_msg=c)
    with pytest.raises(ValueError, match="threads"):
        run(config, tmp_path / "zero", progress=False, threads=0)


def test_perturb_threads_leave_the_analysis_unchanged(tmp_path, narrow_blocks):
    """Model A's Y(T) in blocks on two threads (the library call and ``refchaos perturb
    --threads 2``): the same exponents and distance table, byte for byte, as one thread."""
    config = RunConfig(model="mlp:4", subset=64, batch_size=8, steps=10, seed=1, lr=0.5,
                       measure=("loss",))
    run_perturb(config, tmp_path / "one", eps=(0.1,), figures=False)
    run_perturb(config, tmp_path / "two", eps=(0.1,), figures=False, threads=2)
    args = ["--model", "mlp:4", "--subset", "64", "--batch-size", "8", "--steps", "10",
            "--seed", "1", "--lr", "0.5", "--eps", "0.1", "--threads", "2",
            "--out", str(tmp_path / "cli")]
    result = CliRunner().invoke(perturb, args)
    assert result.exit_code == 0, result.output
    for other in ("two", "cli"):
        assert ((tmp_path / other / "perturb.csv").read_bytes()
                == (tmp_path / "one" / "perturb.csv").read_bytes()), other
        np.testing.assert_array_equal(np.load(tmp_path / other / "exponents.npz")["exponents"],
                                      np.load(tmp_path / "one" / "exponents.npz")["exponents"])
    with pytest.raises(ConfigError, match="--threads"):
        run_perturb(config, tmp_path / "zero", eps=(0.1,), threads=0)
    assert not (tmp_path / "zero").exists()
    result = CliRunner().invoke(perturb, args[:-4] + ["--threads", "0", "--out", str(tmp_path / "z")])
    assert result.exit_code == 2 and "--threads" in result.output, result.output
    assert not (tmp_path / "z").exists()
