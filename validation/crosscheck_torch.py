"""Cross-check refchaos against PyTorch: same network, same initialisation, same batches.

Trains one network for STEPS steps with ``torch.optim.SGD`` (momentum) and with
``refchaos.optim.SGD`` from the same theta on the same batch sequence, and reports the
largest parameter difference per step; compares the gradient, the exact Hessian
(``torch.func.hessian``) and its eigenvalues at initialisation. Writes
``crosscheck_torch.csv`` (per-step differences) and ``crosscheck_torch.json`` (summary) to
--out and exits non-zero if a difference exceeds its threshold.

    python validation/crosscheck_torch.py --quick          # digits, MLP and CNN, 100 steps
    python validation/crosscheck_torch.py --data-dir ../shared/data   # USPS, H22's networks
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # validation/_compare.py, also when imported by path
from _compare import derivative_differences, report_line, verdict  # noqa: E402

import refchaos as rc  # noqa: E402
from refchaos.io import atomic_write_csv, atomic_write_json  # noqa: E402

# ----- parameters (one place) ---------------------------------------------------------------
SEED = 0
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
BATCH_SIZE = 8
STEPS_QUICK, STEPS_FULL = 100, 1000
PARAM_TOL = 1e-10  # largest |theta_rc - theta_torch| after the run (issue: 1e-10 or better)
HESSIAN_RTOL = 1e-12  # normwise, relative: float64 rounding of two independent computations


def torch_network(kind, n_in, num_classes):
    import torch

    torch.manual_seed(SEED)  # torch's own draw: theta is then read into refchaos
    if kind == "mlp":
        layers = [torch.nn.Linear(n_in, 20), torch.nn.ReLU(), torch.nn.Linear(20, num_classes)]
    else:  # the CNN of Herrmann et al. 2022, base 4 channels, for 16x16 inputs
        c = 4
        layers = []
        for cin, cout in [(1, c), (c, c), (c, 2 * c), (2 * c, 2 * c)]:
            layers += [torch.nn.Conv2d(cin, cout, 3, padding=1), torch.nn.ReLU(),
                       torch.nn.MaxPool2d(2)]
        layers += [torch.nn.Flatten(), torch.nn.Linear(2 * c, num_classes)]
    return torch.nn.Sequential(*layers).double()


def load(dataset, data_dir, kind):
    scaling = "standardize" if dataset == "usps" else "unit"
    resize = 16 if (kind == "cnn" and dataset == "digits") else None
    x, y = rc.data.load(dataset, "train", data_dir=data_dir, scaling=scaling,
                        flatten=(kind == "mlp"), resize=resize)
    return x, y


def crosscheck(kind, dataset, data_dir, steps):
    import torch

    x, y = load(dataset, data_dir, kind)
    net = torch_network(kind, int(np.prod(x.shape[1:])), 10)
    model, theta = rc.from_torch(net, x.shape[1:])
    order = rc.data.BatchOrder(x.shape[0], BATCH_SIZE, seed=SEED)

    # Derivatives at initialisation on the first batch.
    idx = order.indices(0)
    xb, yb = x[idx], y[idx]
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]

    def torch_loss(flat):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            k = int(np.prod(s))
            params[n] = flat[i:i + k].reshape(s)
            i += k
        out = torch.func.functional_call(net, params, (torch.from_numpy(xb),))
        return torch.nn.functional.cross_entropy(out, torch.from_numpy(yb))

    flat = torch.from_numpy(theta.copy())
    g_t = torch.func.grad(torch_loss)(flat).numpy()
    H_t = torch.func.hessian(torch_loss)(flat).numpy()
    g_r, H_r = model.grad(theta, xb, yb), model.hessian(theta, xb, yb)
    summary = {"model": kind, "dataset": dataset, "num_params": model.num_params, "steps": steps,
               **derivative_differences(g_r, g_t, H_r, H_t)}

    # Training: torch.optim.SGD against refchaos.optim.SGD on the same batches.
    opt_t = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    opt_r = rc.optim.SGD(LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    state = opt_r.init(theta)
    rows = []
    for t in range(steps):
        idx = order.indices(t)
        xb, yb = x[idx], y[idx]
        opt_t.zero_grad()
        loss_t = torch.nn.functional.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss_t.backward()
        opt_t.step()
        theta, state, info = opt_r.step(model, theta, state, xb, yb)
        th_t = torch.cat([p.detach().flatten() for p in net.parameters()]).numpy()
        rows.append({"step": t + 1, "max_abs_param_diff": float(np.abs(theta - th_t).max()),
                     "loss_diff": abs(info["loss"] - loss_t.item())})
    summary["max_abs_param_diff_final"] = rows[-1]["max_abs_param_diff"]
    return verdict(summary, [r["max_abs_param_diff"] for r in rows], PARAM_TOL, HESSIAN_RTOL), rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="digits, 100 steps (CI)")
    p.add_argument("--data-dir", default=None, help="folder with usps/ (full mode)")
    p.add_argument("--out", default="validation/results/crosscheck_torch")
    args = p.parse_args(argv)
    dataset = "digits" if args.quick else "usps"
    steps = STEPS_QUICK if args.quick else STEPS_FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries, all_rows = [], []
    for kind in ("mlp", "cnn"):
        summary, rows = crosscheck(kind, dataset, args.data_dir, steps)
        summaries.append(summary)
        all_rows += [{"model": kind, **r} for r in rows]
        print(report_line(kind, summary, steps))
    atomic_write_csv(out / "crosscheck_torch.csv", [list(r.values()) for r in all_rows],
                     header=list(all_rows[0]))
    atomic_write_json(out / "crosscheck_torch.json", {"parameters": {
        "seed": SEED, "lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
        "batch_size": BATCH_SIZE, "param_tol": PARAM_TOL, "hessian_rtol": HESSIAN_RTOL},
        "results": summaries})
    return 0 if all(s["passed"] for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
