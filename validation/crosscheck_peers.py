"""Cross-check other curvature tools against refchaos's exact numbers, same theta and batch, float64.

For each network and each installed peer (pyhessian, hessian-eigenthings, backpack, curvlinops)
the peer runs with its defaults and its numbers are set beside refchaos's exact ones
(:func:`refchaos.peers.compare`): top eigenvalues, trace, diagonal, density. Peers that compute
exactly (BackPACK's DiagHessian, curvlinops' Hessian operator) must agree to float64 rounding;
stochastic estimates (Hutchinson traces, Lanczos / power iteration, SLQ densities) are reported
with their errors, not judged. refchaos's own diagonal, trace and layer blocks are checked
against its dense Hessian on every network, whatever is installed. Writes crosscheck_peers.json
to --out and exits non-zero if an exact comparison fails.

    python validation/crosscheck_peers.py --quick      # digits: a tanh MLP 64-6-10, B = 4
    python validation/crosscheck_peers.py --data-dir ../shared/data   # USPS, H22's 256-20-10 MLP, B = 8 and 32
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import refchaos as rc
from refchaos import peers
from refchaos.curvature import hessian_blocks
from refchaos.io import atomic_write_json, json_safe

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0  # theta(0) and the peers' random probes
TOP_K = 5
EXACT_RTOL = 1e-12  # normwise, relative: two float64 computations of the same exact quantity
QUICK = [("mlp", [64, 6, 10], "tanh", 4)]  # digits 8x8: one small smooth MLP (CI)
FULL = [("mlp", [256, 20, 10], "relu", 8), ("mlp", [256, 20, 10], "relu", 32),
        ("mlp", [256, 20, 10], "tanh", 8)]  # USPS 16x16
EXACT_QUANTITIES = {"backpack": ("diag", "trace"), "curvlinops": ("top", "diag", "trace")}


def self_check(model, theta, x, y, exact):
    """refchaos's diagonal, trace and blocks against its own dense Hessian (relative errors)."""
    H = model.hessian(theta, x, y)
    d = np.diag(H)
    errs = {"diag": float(np.linalg.norm(exact["diag"] - d) / np.linalg.norm(d)),
            "trace": abs(exact["trace"] - float(np.trace(H))) / float(np.abs(d).sum())}
    blocks = [np.linalg.norm(b.H - H[b.span[0]:b.span[1], b.span[0]:b.span[1]])
              / np.linalg.norm(H[b.span[0]:b.span[1], b.span[0]:b.span[1]])
              for b in hessian_blocks(model, theta, x, y)]
    errs["blocks"] = float(max(blocks))
    return errs


def run_case(sizes, act, B, x_all, y_all, names):
    model = rc.mlp(sizes, activation=act)
    theta = model.init(seed=SEED)
    x, y = x_all[:B], y_all[:B]
    t0 = time.perf_counter()
    exact = peers.exact_numbers(model, theta, x, y, k=TOP_K)
    result = {"model": f"mlp:{'-'.join(map(str, sizes))} {act}", "B": B, "N": model.num_params,
              "exact_seconds": time.perf_counter() - t0, "self": self_check(model, theta, x, y, exact),
              "top": exact["top"], "trace": exact["trace"], "peers": {}}
    passed = all(v <= EXACT_RTOL for v in result["self"].values())
    for name in names:
        if not peers.peer_available(name):
            result["peers"][name] = "not installed"
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the peers' own deprecation and autograd warnings
            numbers = peers.peer_numbers(name, model, theta, x, y, k=TOP_K)
        cmp = peers.compare(exact, numbers)
        entry = {q: c["error"] for q, c in cmp.items()}
        entry["seconds"] = time.perf_counter() - t0
        entry["notes"] = numbers.get("notes", {})
        for q in EXACT_QUANTITIES.get(name, ()):
            entry[f"{q}_exact_ok"] = cmp[q]["error"] <= EXACT_RTOL
            passed = passed and entry[f"{q}_exact_ok"]
        result["peers"][name] = entry
    result["passed"] = passed
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="digits, one small MLP (CI)")
    p.add_argument("--data-dir", default=None, help="folder with usps/ (full mode)")
    p.add_argument("--peers", default=",".join(peers.PEERS), help="comma list of peers to run")
    p.add_argument("--out", default="validation/results/crosscheck_peers")
    args = p.parse_args(argv)
    names = [n for n in args.peers.split(",") if n]
    dataset = "digits" if args.quick else "usps"
    scaling = "unit" if args.quick else "standardize"
    x_all, y_all = rc.data.load(dataset, "train", data_dir=args.data_dir, scaling=scaling, flatten=True)
    x_all, y_all = np.asarray(x_all, dtype=np.float64), np.asarray(y_all)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for _, sizes, act, B in (QUICK if args.quick else FULL):
        r = run_case(sizes, act, B, x_all, y_all, names)
        results.append(r)
        print(f"{r['model']} B={B}: self {r['self']}")
        for name, e in r["peers"].items():
            print(f"  {name}: {e}")
    atomic_write_json(out / "crosscheck_peers.json", json_safe({
        "parameters": {"seed": SEED, "top_k": TOP_K, "exact_rtol": EXACT_RTOL, "dataset": dataset},
        "results": results}))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
