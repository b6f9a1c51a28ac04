"""GPU check: the same code on CuPy gives the numbers NumPy gives.

1. runs the backend-generic tests (the ``xp`` fixture includes cupy when a GPU is visible);
2. compares loss, gradient, HVP, exact Hessian, spectrum, 50 SGD steps with momentum and the
   tangent-vector maximum exponent of H22's MLP and CNN on CuPy against NumPy;
3. runs one short ``refchaos run`` on each backend and compares the metrics;
4. with ``--data-dir`` holding MNIST: times J25's full-batch GD step (784-64-10 tanh, 60,000
   images, float64) on the GPU, one ``Ensemble.step`` of 50 members (one kernel per layer for
   all members, the whole batch at once) against one ``SGD.step`` of each member in turn, paired
   repeats: the per-trajectory ratio of the ensemble issue, measured where the batching pays.
Writes gpu_check.json to --out; exits non-zero on a mismatch or when no GPU is usable.

    python validation/gpu_check.py --out validation/results/gpu_check [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import refchaos as rc
from refchaos.backend import BackendUnavailableError, get_namespace, to_host
from refchaos.data import DataError
from refchaos.ensemble import Ensemble
from refchaos.io import atomic_write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/bench, also when imported by path
from bench._timing import paired_times  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
BATCH_SIZE = 8
LR, MOMENTUM = 0.05, 0.9
STEPS = 50
RUN_STEPS = 40  # length of the short `refchaos run` compared across backends
RTOL = 1e-12  # normwise: cuBLAS and OpenBLAS sum in different orders, both in float64
TEST_FILES = ["tests/curvature/test_backends.py", "tests/test_backend.py", "tests/nn/test_conv.py",
              "tests/nn/test_pool.py", "tests/_kernels/test_kernels.py", "tests/test_audit.py",
              "tests/ensemble/test_trajectories.py", "tests/ensemble/test_passes.py"]
ENSEMBLE_MEMBERS = 50  # J25 step timed as one ensemble against separate steps
ENSEMBLE_LR = 0.5  # a J25 lr; the cost does not depend on it
ENSEMBLE_REPEATS = 3


def rel(a, b):
    a, b = np.asarray(to_host(a), dtype=np.float64), np.asarray(to_host(b), dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(np.float64).tiny))


def compare_model(name, model, x, y, cp):
    theta = model.init(seed=SEED)
    theta_c, x_c, y_c = cp.asarray(theta), cp.asarray(x), cp.asarray(y)
    V = np.random.default_rng(SEED).normal(size=(model.num_params, 4))
    out = {"model": name, "num_params": model.num_params}
    t0 = time.perf_counter()
    H = model.hessian(theta, x, y)
    t_np = time.perf_counter() - t0
    Hc = model.hessian(theta_c, x_c, y_c)
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    Hc = model.hessian(theta_c, x_c, y_c)
    cp.cuda.Device().synchronize()
    out["hessian_seconds_numpy"], out["hessian_seconds_cupy"] = t_np, time.perf_counter() - t0
    out["loss"] = rel(model.loss(theta_c, x_c, y_c), model.loss(theta, x, y))
    out["grad"] = rel(model.grad(theta_c, x_c, y_c), model.grad(theta, x, y))
    out["hvp"] = rel(model.hvp(theta_c, x_c, y_c, cp.asarray(V)), model.hvp(theta, x, y, V))
    out["hessian"] = rel(Hc, H)
    lam, _ = rc.curvature.spectrum(model, theta, x, y, method="dense")
    lam_c, _ = rc.curvature.spectrum(model, theta_c, x_c, y_c, method="dense")
    out["eigenvalues"] = float(np.abs(to_host(lam_c) - lam).max() / np.abs(lam).max())
    opt = rc.optim.SGD(LR, momentum=MOMENTUM)
    th, st, th_c, st_c = theta, opt.init(theta), theta_c, opt.init(theta_c)
    for _ in range(STEPS):
        th, st, _ = opt.step(model, th, st, x, y)
        th_c, st_c, _ = opt.step(model, th_c, st_c, x_c, y_c)
    out["sgd_theta_after_steps"] = rel(th_c, th)
    sgd = rc.optim.SGD(LR)
    run_np = rc.lyapunov.max_exponent(sgd, model, theta, lambda t: (x, y), STEPS, seed=SEED)
    run_cp = rc.lyapunov.max_exponent(sgd, model, theta_c, lambda t: (x_c, y_c), STEPS, seed=SEED)
    out["max_exponent"] = rel(run_cp.exponent, run_np.exponent)
    out["passed"] = all(out[k] <= RTOL * 1e3 if k in ("max_exponent", "sgd_theta_after_steps")
                        else out[k] <= RTOL for k in
                        ("loss", "grad", "hvp", "hessian", "eigenvalues", "sgd_theta_after_steps",
                         "max_exponent"))
    return out


def compare_runs(out):
    """One short ``refchaos run`` per backend; the metrics must agree."""
    from refchaos.experiments import RunConfig, RunDirectory, run

    metrics = {}
    for name in ("numpy", "cupy"):
        config = RunConfig(steps=RUN_STEPS, every=10, subset=256, backend=name, seed=SEED,
                           measure=("loss", "accuracy", "maxexp", "spectrum"))
        run(config, out / f"run_{name}", progress=False)
        metrics[name] = RunDirectory(out / f"run_{name}").read_metrics()[1]
    worst = {}
    for column, ref in metrics["numpy"].items():
        got = metrics["cupy"][column]
        finite = np.isfinite(ref)
        if finite.any():
            worst[column] = float(np.abs(got[finite] - ref[finite]).max()
                                  / max(np.abs(ref[finite]).max(), 1.0))
    # Eigenvalue counts are integers; the chaotic-boundary classification may flip only for
    # eigenvalues within rounding of 0 or 2/lr, which a short run does not produce.
    return {"max_rel_diff_per_column": worst, "passed": all(v <= 1e-9 for v in worst.values())}


def ensemble_timing(xp, sync, data_dir, members=ENSEMBLE_MEMBERS, images=None):
    """Per-trajectory seconds of J25's full-batch step on backend ``xp`` (``sync()`` waits for
    the device): one ensemble step of ``members`` against their separate steps."""
    try:
        x, y = rc.data.load("mnist", "train", data_dir=data_dir, scaling="unit", flatten=True,
                            backend=xp, subset=images, seed=SEED)
    except DataError as err:
        return {"skipped": f"MNIST not found ({err})"}
    model = rc.mlp([784, 64, 10], activation="tanh")
    M = int(members)
    Theta = xp.asarray(np.stack([model.init(seed=SEED + m, scheme="normal", std=1.0)
                                 for m in range(M)]))
    opt = rc.optim.SGD(ENSEMBLE_LR)
    thetas = [Theta[m, :] for m in range(M)]
    states = [opt.init(th) for th in thetas]
    ens = Ensemble(model, Theta, ENSEMBLE_LR, sample_block=None)

    def separate():
        for m in range(M):
            thetas[m], states[m], _ = opt.step(model, thetas[m], states[m], x, y)
        sync()

    def ensemble():
        ens.step(x, y)
        sync()

    # paired repeats after one warm-up call of each (kernel compilation, cuBLAS handles)
    t_separate, t_ensemble, ratio = paired_times(separate, ensemble, ENSEMBLE_REPEATS)
    return {"members": M, "images": int(x.shape[0]), "repeats": ENSEMBLE_REPEATS,
            "separate_s_per_trajectory": t_separate / M,
            "ensemble_s_per_trajectory": t_ensemble / M, "median_ratio": ratio,
            "members_vs_separate": rel(ens.Theta, xp.stack(thetas))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="validation/results/gpu_check")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--data-dir", default=None, help="folder holding mnist/ (step 4; skipped without it)")
    args = p.parse_args(argv)
    try:
        cp = get_namespace("cupy")
    except BackendUnavailableError as err:
        print(f"gpu_check: {err}")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"parameters": {"seed": SEED, "batch_size": BATCH_SIZE, "lr": LR, "momentum": MOMENTUM,
                             "steps": STEPS, "rtol": RTOL}}
    if not args.skip_tests:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *TEST_FILES, "-k", "cupy"],
                              capture_output=True, text=True)
        report["tests"] = {"returncode": proc.returncode, "tail": proc.stdout[-2000:]}
        print(proc.stdout[-800:])
    x, y = rc.data.load("digits", "train", scaling="unit", subset=BATCH_SIZE, seed=SEED)
    mlp_x = x.reshape(x.shape[0], -1)
    cnn_x, _ = rc.data.load("digits", "train", scaling="unit", subset=BATCH_SIZE, seed=SEED, resize=16)
    report["models"] = [
        compare_model("mlp 64-20-10 relu", rc.mlp([64, 20, 10]), mlp_x, y, cp),
        compare_model("cnn c=4", rc.cnn(4), cnn_x, y, cp),
    ]
    for m in report["models"]:
        print({k: (f"{v:.1e}" if isinstance(v, float) else v) for k, v in m.items()})
    report["run"] = compare_runs(out)
    print("refchaos run numpy vs cupy:", "PASS" if report["run"]["passed"] else "FAIL")
    if args.data_dir is not None:
        report["ensemble_timing"] = ensemble_timing(cp, cp.cuda.Device().synchronize, args.data_dir)
        print("J25 step, ensemble vs separate on the GPU:", report["ensemble_timing"])
    ok = (all(m["passed"] for m in report["models"]) and report["run"]["passed"]
          and report.get("tests", {}).get("returncode", 0) == 0)
    report["passed"] = ok
    atomic_write_json(out / "gpu_check.json", report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
