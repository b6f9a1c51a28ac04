"""H22 App. A.8: the expected distance between two default-initialised models (paper: 6.38).

For H22's MLP 256-20-10 (5,350 parameters) and CNN (base 4 channels), both with PyTorch's
default initialisation U(-1/sqrt(k), 1/sqrt(k)) per layer of fan-in k, compares
:func:`refchaos.lyapunov.expected_init_distance` (closed form, exact E d^2, second-order E d)
with a Monte Carlo average over pairs of ``model.init`` draws and with the paper's 6.38, and
evaluates :func:`refchaos.lyapunov.paper_reading_a8` (2 sqrt(E|theta|^2), the reading that
gives 6.38). Statements tested:

* closed form and Monte Carlo agree: |mean_MC - E d| < MC_SIGMAS standard errors
* H22's 6.38 is the expected distance of the MLP: |E d - 6.38| < PAPER_TOL
* H22's 6.38 is 2 sqrt(E|theta|^2) (the triangle-inequality / U(-2a, 2a) reading):
  |paper_reading - 6.38| < PAPER_TOL

No data are read. Quick mode: 200 Monte Carlo pairs per model; full mode: 5,000.

    python validation/h22_a8_distance.py --quick
    python validation/h22_a8_distance.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_claims.py, also when imported by path
from _claims import Claim, finite, fmt, parser, write_report  # noqa: E402

from refchaos.lyapunov import (expected_init_distance, monte_carlo_init_distance,  # noqa: E402
                               paper_reading_a8)
from refchaos.nn import cnn  # noqa: E402
from refchaos.nn.builders import mlp  # noqa: E402
from refchaos.plots import validation as figure_data  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
SCHEME = "pytorch"  # H22: PyTorch default initialisation
PAIRS_QUICK, PAIRS_FULL = 200, 5000
PAPER_VALUE = 6.38  # H22 App. A.8
PAPER_TOL = 0.01  # one unit in the last of the two decimals the paper gives
MC_SIGMAS = 4.0  # agreement within this many Monte Carlo standard errors
NAME = "h22_a8_distance"


def models():
    return {"MLP 256-20-10": mlp([256, 20, 10], activation="relu"),
            "CNN (4 channels)": cnn(channels=4, activation="relu", input_size=16, num_classes=10)}


def main(argv=None):
    p = parser(__doc__, f"validation/results/{NAME}")
    args = p.parse_args(argv)
    started = time.perf_counter()
    pairs = PAIRS_QUICK if args.quick else PAIRS_FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, samples, claims = {}, {}, []
    for name, model in models().items():
        exact = expected_init_distance(model, SCHEME)
        d = monte_carlo_init_distance(model, pairs, SCHEME, seed=SEED)
        se = float(np.std(d, ddof=1) / np.sqrt(d.size))
        reading = paper_reading_a8(model, SCHEME)
        results[name] = {"num_params": exact.num_params, "expected": exact.mean, "rms": exact.rms,
                         "std": exact.std, "mc_mean": float(np.mean(d)), "mc_se": se,
                         "paper_reading": reading}
        samples[name] = d
        claims.append(Claim(
            f"{name}: closed form E d equals the Monte Carlo mean",
            "H22 App. A.8 (derivation)",
            f"E d = {fmt(exact.mean, 5)}, MC {fmt(np.mean(d), 5)} +- {fmt(se, 2)} ({pairs} pairs)",
            bool(finite(exact.mean, se) and abs(np.mean(d) - exact.mean) < MC_SIGMAS * se),
            f"|MC - E d| < {MC_SIGMAS} standard errors"))
    mlp_res = results["MLP 256-20-10"]
    claims.append(Claim("the expected distance between two initialisations of the MLP is 6.38",
                        f"H22 App. A.8: {PAPER_VALUE}",
                        f"E d = {fmt(mlp_res['expected'], 5)} (MC {fmt(mlp_res['mc_mean'], 5)})",
                        bool(abs(mlp_res["expected"] - PAPER_VALUE) < PAPER_TOL),
                        f"|E d - {PAPER_VALUE}| < {PAPER_TOL}"))
    claims.append(Claim("6.38 is 2 sqrt(E|theta|^2) of the MLP (a sqrt(2) too large reading)",
                        f"H22 App. A.8: {PAPER_VALUE}",
                        f"2 sqrt(E|theta|^2) = {fmt(mlp_res['paper_reading'], 5)}",
                        bool(abs(mlp_res["paper_reading"] - PAPER_VALUE) < PAPER_TOL),
                        f"|2 sqrt(E|theta|^2) - {PAPER_VALUE}| < {PAPER_TOL}"))
    names = list(samples)
    figure_data.write(out, NAME, {f"samples_{k}": samples[n] for k, n in enumerate(names)},
                      {"models": names, "results": results, "paper_value": PAPER_VALUE})
    write_report(out, NAME, claims, {"seed": SEED, "scheme": SCHEME, "pairs": pairs,
                                     "paper_value": PAPER_VALUE, "paper_tol": PAPER_TOL,
                                     "mc_sigmas": MC_SIGMAS},
                 f"MLP 256-20-10 and CNN, PyTorch default init, {pairs} Monte Carlo pairs, seed {SEED}",
                 extra={"results": results}, started=started, argv=argv)
    return 0



if __name__ == "__main__":
    sys.exit(main())
