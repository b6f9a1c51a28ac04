"""A chunk of sweep points run as ONE ensemble: training, perturbed copies and tangent vectors.

:func:`refchaos.experiments.sweep.run_point` computes one (lr, seed) grid point from three runs
of the same reference trajectory (training with test accuracy, reference plus M perturbed
copies, reference plus a tangent vector). Here P points of one sweep become one
:class:`refchaos.ensemble.Ensemble` of P (1 + M) members, advanced together:

    members 0 .. P-1          the P references theta_p(0), each carrying the tangent vector
                              of :func:`refchaos.lyapunov.max_exponent` (seed = the point's seed)
    member P + p M + j        copy j of point p, theta_p(0) + delta_pj with delta_p the draw of
                              :func:`refchaos.lyapunov.copies_exponent` (U(-eps, eps) on the
                              weights, host seed = the point's seed): the same numbers

Every member uses its point's learning rate and the base configuration's weight decay. Under
full-batch GD with one dataset (J25) every member sees the same x: the first layer is one GEMM
for the whole chunk; so do minibatches when the chunk holds one seed. Otherwise each member
sees its point's seeded batch (per-member inputs); a seeded ``--subset`` gives each seed its
own data. Per point the result has exactly the keys and meaning of ``run_point``'s:

* training: after every epoch the reference's test accuracy and full training loss by
  ``evaluate`` (under full-batch GD the training loss is the loss of the next step, which is
  that loss on the same samples, so no extra forward); the
  run's divergence by :data:`~.divergence.DEFAULT_POLICY` on the step's loss and theta, after
  which the epochs are NaN (``train_with_time``). The ensemble itself masks a member only when
  it is no longer finite, as ``copies_exponent`` and ``max_exponent`` keep stepping a
  reference that has tripped the policy;
* ``exponent_copies``: the L1 distances d_pj(t) fitted by
  :func:`refchaos.lyapunov.copies.fit_distances` (the fit of ``copies_exponent``);
* ``exponent_tangent``: the reference's running exponent (``max_exponent``'s ``running``);
  ``exponent_tangent_theta`` the same number (plain SGD has no buffers: the vector is its
  theta block, ledger entry H22-4-theta).

Numbers equal ``run_point``'s up to rounding: the batched products add the same terms in
another order (exactly equal curves at non-chaotic lrs up to that rounding, amplified at
chaotic ones like any two runs). ``wall_s`` is the chunk's wall time divided among its points.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import replace

import numpy as np

from ..backend import asarray, host_rng, namespace_of, to_host
from ..data import BatchOrder
from ..ensemble import Ensemble
from ..lyapunov import CopiesError, weight_mask
from ..lyapunov.copies import check_start, fit_distances, perturbations
from .config import build_optimizer
from .divergence import DEFAULT_POLICY, DivergencePolicy
from .setup import evaluate, prepare
from .sweep import SweepConfig, copies_fields, time_to_target

NON_FINITE_ONLY = DivergencePolicy(max_loss=math.inf, max_param_norm=math.inf)  # mask only NaN/inf
SAMPLE_BLOCK = 1000  # Samples per block of the passes: bounded memory (60,000 MNIST images in
# 60 blocks), arrays of a few MB per member; 500 to 2,000 ran alike here (bench_ensemble.py).
PARAM_ARRAYS = 6  # (N,) arrays per member at the peak: Theta, the update, the gradient sum and
# its block part, the where() result, the flattened gradient.


def _sweep(sweep):
    return sweep if isinstance(sweep, SweepConfig) else SweepConfig.from_dict(sweep)


def supports(sweep):
    """True when the ensemble path covers the sweep's base configuration: plain SGD / GD (the
    sweep takes no momentum; any weight decay, batch size, subset, model and backend)."""
    base = _sweep(sweep).base
    return base.optimizer == "sgd" and base.momentum == 0


def member_bytes(sweep, setup=None):
    """Estimated peak bytes one member adds to a chunk (for choosing the chunk size); ``setup``
    is ``prepare`` of the sweep's first point where the caller has it (no second data load).

    Per member and sample of a block (:data:`SAMPLE_BLOCK` samples, or the batch if smaller)
    the passes hold each layer's output as the next layer's cache (sum of widths w_l), a
    cotangent and one temporary of the widest layer in the backward (2 max w_l), and the
    loss's p and dL/dz (2 C); its parameters appear in :data:`PARAM_ARRAYS` arrays of N. The
    1 in (1 + M) members of a point (the reference) also runs the R-operator pass, the same
    again: the average member costs (1 + 1 / (1 + M)) times the activations. With minibatches or a seeded subset the
    member's own batch of x (B D) is added (an upper bound: one seed per chunk shares it). The shared full-batch x and the test set are counted once per chunk,
    not here.
    """
    sweep = _sweep(sweep)
    if setup is None:
        setup = prepare(replace(sweep.base, lr=float(sweep.lrs[0]), seed=int(sweep.seeds[0])))
    model, B = setup.model, min(setup.order.batch_size, SAMPLE_BLOCK)
    widths = [math.prod(model.layers[i].output_shape(s)) for i, s in enumerate(model.in_shapes)]
    per_sample = sum(widths) + 2 * max(widths) + 2 * model.num_outputs
    if not setup.order.full_batch or sweep.base.subset is not None:  # per-member inputs
        per_sample += math.prod(model.input_shape)
    itemsize = np.dtype(str(setup.theta0.dtype).split(".")[-1]).itemsize
    carrier_share = 1.0 + 1.0 / (1 + sweep.copies)
    return int(itemsize * (carrier_share * B * per_sample + PARAM_ARRAYS * model.num_params))


def _point(base_setup, lr, seed):
    """The ingredients ``prepare`` gives the point (lr, seed), sharing the loaded data."""
    config = replace(base_setup.config, lr=float(lr), seed=int(seed))
    model = base_setup.model
    theta0 = model.init(seed=config.seed, scheme=config.init, std=config.init_std,
                        backend=base_setup.xp)
    order = BatchOrder(base_setup.x_train.shape[0], config.batch_size or None, seed=config.seed)
    return replace(base_setup, config=config, theta0=theta0, opt=build_optimizer(config),
                   order=order)


def run_chunk(sweep_dict, points, tick=None, sample_block=SAMPLE_BLOCK):
    """Run the (lr, seed) ``points`` of one sweep as one ensemble; a ``run_point`` dict each.

    Parameters
    ----------
    sweep_dict : dict or SweepConfig
        :meth:`SweepConfig.to_dict` of the sweep; :func:`supports` must hold.
    points : sequence of (lr, seed)
    tick : callable or None
        Called (copies + 3) times per point after every step, the units ``run_sweep`` counts.
    sample_block : int or None
        Samples per block of the passes (:class:`refchaos.ensemble.Ensemble`); None runs the
        whole batch at once (a device with room for M B activations: fewer, larger kernels).
    """
    sweep = _sweep(sweep_dict)
    if not supports(sweep):
        raise ValueError("run_chunk covers SGD sweeps without a seeded --subset; use run_point")
    points = [(float(lr), int(seed)) for lr, seed in points]
    if not points:
        return []
    start = time.perf_counter()
    seeds = sorted({seed for _, seed in points})
    own_data = sweep.base.subset is not None  # a seeded subset: each seed its own data
    bases = {s: prepare(replace(sweep.base, lr=points[0][0], seed=s))
             for s in (seeds if own_data else seeds[:1])}
    setups = [_point(bases[seed if own_data else seeds[0]], lr, seed) for lr, seed in points]
    base = setups[0]
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        records = _run(base, setups, sweep, tick, sample_block, shared=len(seeds) == 1 or (
            base.order.full_batch and not own_data))
    shared_notes = sorted({str(w.message) for w in caught})
    wall = (time.perf_counter() - start) / len(points)
    results = []
    for (lr, seed), rec in zip(points, records):
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            result = _result(lr, seed, rec, base, sweep)
        result["notes"] += sorted({str(w.message) for w in caught} | set(shared_notes))
        results.append(dict(result, wall_s=wall))
    return results


def _members(setups, sweep, model, xp):
    """Theta (P (1 + M), N), the copies' host perturbations and the references' w0."""
    P, M, N = len(setups), sweep.copies, model.num_params
    mask = weight_mask(model)
    deltas = [perturbations(s.theta0, M, sweep.eps, mask, s.config.seed) for s in setups]
    refs = [s.theta0 for s in setups]
    copies = [s.theta0 + asarray(d, xp, s.theta0.dtype) for s, d in zip(setups, deltas)]
    Theta = xp.stack(refs + [c[j, :] for c in copies for j in range(M)])
    w0 = np.stack([host_rng(s.config.seed).standard_normal(N) for s in setups])[None]  # (1, P, N)
    return Theta, deltas, asarray(w0, xp, Theta.dtype)


def _run(base, setups, sweep, tick, sample_block, shared):
    xp, model = base.xp, base.model
    P, M, T = len(setups), sweep.copies, base.steps
    per_epoch, epochs = base.order.steps_per_epoch, base.config.epochs
    Theta0, deltas, w0 = _members(setups, sweep, model, xp)
    lrs = [s.config.lr for s in setups]
    ens = Ensemble(model, Theta0, lrs + [lr for lr in lrs for _ in range(M)],
                   weight_decay=base.opt.weight_decay, w0=w0, policy=NON_FINITE_ONLY,
                   sample_block=sample_block)
    full = base.order.full_batch

    def batch(t):
        if shared:  # one x for every member (full batch: the stored order, no copy)
            return (base.x_train, base.y_train) if full else base.batch(t)
        parts = [(s.x_train, s.y_train) if full else s.batch(t) for s in setups]
        own = [p for p in range(P)] + [p for p in range(P) for _ in range(M)]
        return xp.stack([parts[p][0] for p in own]), xp.stack([parts[p][1] for p in own])

    def distances():  # L1 over all parameters, copy minus its reference, (P, M)
        refs = ens.Theta[:P, :]
        copies = xp.reshape(ens.Theta[P:, :], (P, M, model.num_params))
        return np.asarray(to_host(xp.sum(xp.abs(copies - refs[:, None, :]), axis=2)),
                          dtype=np.float64)

    dist = np.full((P, M, T + 1), np.nan)
    dist[:, :, 0] = distances()
    test_acc, train_loss = [[] for _ in range(P)], [[] for _ in range(P)]
    _evaluate(setups, ens, range(P), test_acc, None if full else train_loss)
    divergence = [None] * P
    diverged_epoch = [-1] * P
    ref_gone = [-1] * P  # step at which the reference stopped being finite (copies_exponent)
    units = P * (M + 3)
    for epoch in range(1, epochs + 1):
        for k in range(per_epoch):
            t = (epoch - 1) * per_epoch + k
            losses = ens.step(*batch(t))
            if tick is not None:
                for _ in range(units):
                    tick()
            for p in range(P):
                if full and divergence[p] is None:
                    train_loss[p].append(losses[p] if math.isfinite(losses[p]) else math.nan)
                if divergence[p] is None:
                    divergence[p] = _train_divergence(ens, p, t, losses[p])
                    diverged_epoch[p] = -1 if divergence[p] is None else epoch
                if ref_gone[p] < 0 and not ens.active[p]:
                    ref_gone[p] = t + 1
            gone = ~ens.active[P:].reshape(P, M)
            d = distances()
            for p in range(P):
                if ref_gone[p] < 0:
                    dist[p, :, t + 1] = np.where(gone[p] | ~np.isfinite(d[p]), np.nan, d[p])
        alive = [p for p in range(P) if divergence[p] is None]
        _evaluate(setups, ens, alive, test_acc, None if full else train_loss)
    if full:  # the training loss after the last step, and none after a divergence
        for p in range(P):
            if divergence[p] is None:
                train_loss[p].append(evaluate(setups[p].model, ens.Theta[p, :],
                                              setups[p].x_train, setups[p].y_train)[0])
            else:  # the list ends before the diverging epoch, as train_with_time's
                train_loss[p] = train_loss[p][:diverged_epoch[p]]
    running = ens.running_exponent()[:, 0, :]  # (T, P)
    logs = ens.log_growth()[:, 0, :]
    return [{"theta0": setups[p].theta0, "delta": deltas[p], "distances": dist[p],
             "ref_gone": ref_gone[p], "test_acc": test_acc[p], "train_loss": train_loss[p],
             "divergence": divergence[p], "diverged_epoch": diverged_epoch[p],
             "running": running[:, p], "logs": logs[:, p]} for p in range(P)]


def _evaluate(setups, ens, which, test_acc, train_loss):
    """``train_with_time``'s evaluation of the references ``which``: test accuracy (and, with
    minibatches, the loss on the whole training set) by :func:`~.setup.evaluate`."""
    for p in which:
        s = setups[p]
        test_acc[p].append(evaluate(s.model, ens.Theta[p, :], s.x_test, s.y_test)[1])
        if train_loss is not None:
            train_loss[p].append(evaluate(s.model, ens.Theta[p, :], s.x_train, s.y_train)[0])


def _train_divergence(ens, p, t, loss):
    """``train_with_time``'s rule for reference p after step t: the ensemble's record if it
    masked the member (no longer finite), else DEFAULT_POLICY on the loss and theta; a dict."""
    masked = ens.member_divergence(p)
    if masked is not None:
        return {k: masked[k] for k in ("step", "reason", "message")}
    div = DEFAULT_POLICY.check(t, loss, ens.Theta[p, :])
    return None if div is None else div.to_dict()


def _first_nan(dist):
    """(M,) first step at which copy m's distance is NaN after being recorded, -1 if never."""
    out = np.full(dist.shape[0], -1, dtype=np.int64)
    for m, row in enumerate(dist):
        bad = np.flatnonzero(np.isnan(row))
        out[m] = bad[0] if bad.size else -1
    return out


def _result(lr, seed, rec, base, sweep):
    notes = []
    T, epochs = base.steps, base.config.epochs
    copies = {"exponent_copies": math.nan, "exponent_copies_std": math.nan, "window_start": -1,
              "window_stop": -1, "log_ratio": []}
    try:
        dist, ref_gone = rec["distances"], rec["ref_gone"]
        check_start(rec["theta0"], rec["delta"], dist[:, 0], sweep.eps, "l1")
        gone_at = _first_nan(dist)  # a copy's first NaN before the reference stopped
        diverged_at = np.where((gone_at >= 0) & ((ref_gone < 0) | (gone_at < ref_gone)),
                               gone_at, -1)
        if ref_gone >= 0:
            notes.append(f"the reference trajectory is not finite at step {rec['ref_gone']}; "
                         "stopping")
        copies = copies_fields(fit_distances(dist, diverged_at, ref_gone))
    except CopiesError as err:
        notes.append(f"perturbed copies: {err}")
    bad = np.flatnonzero(~np.isfinite(rec["logs"]))
    if bad.size:
        notes.append(f"tangent vector: the tangent vector collapsed or overflowed at step "
                     f"{bad[0]} (ln r = {rec['logs'][bad[0]]}); the exponent is undefined there")
        tangent = {"exponent_tangent": math.nan, "tangent_running": []}
    else:
        tangent = {"exponent_tangent": float(rec["running"][-1]),
                   "tangent_running": rec["running"].tolist()}
    tangent["exponent_tangent_theta"] = tangent["exponent_tangent"]  # n = N: the same vector
    acc, loss = list(rec["test_acc"]), list(rec["train_loss"])
    acc += [math.nan] * (epochs + 1 - len(acc))
    loss += [math.nan] * (epochs + 1 - len(loss))
    train = {"training_time": time_to_target(acc, sweep.target),
             "diverged": rec["diverged_epoch"] > 0, "diverged_epoch": rec["diverged_epoch"],
             "divergence": rec["divergence"]}
    curves = {"test_accuracy": acc, "train_loss": loss, "log_ratio": copies.pop("log_ratio"),
              "tangent_running": tangent.pop("tangent_running")}
    return {"lr": float(lr), "seed": int(seed), **copies, **tangent, **train,
            "final_test_accuracy": acc[-1], "best_test_accuracy": float(np.nanmax(acc)),
            "final_train_loss": loss[-1], "steps": T, "num_params": base.model.num_params,
            "steps_per_epoch": base.order.steps_per_epoch, "curves": curves, "notes": notes}
