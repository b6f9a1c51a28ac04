"""Other curvature tools' numbers for a refchaos model, to set beside refchaos's exact ones.

    module = to_torch(model, theta)                       # the same network as an nn.Sequential
    numbers = peer_numbers("pyhessian", model, theta, x, y, k=5)

Each adapter runs one PyTorch tool with its documented defaults on the float64 module and
batch, and returns what that tool reports, in one schema: ``top`` (its k largest eigenvalues,
descending), ``trace``, ``diag`` (N,), ``density`` ((grid, rho), rho as the tool smooths it),
each ``None`` where the tool does not report it. No refchaos mathematics happens here;
:func:`compare` puts the numbers beside :func:`exact_numbers`.

Peers (PyPI names): pyhessian, hessian-eigenthings (installed with the ``test`` extra),
backpack-for-pytorch and curvlinops-for-pytorch (optional: their releases pull a torchvision
build that fails to import beside the CPU torch this project pins; install them with
``--no-deps`` as the README says). A peer that is not installed raises
:class:`PeerUnavailableError`.
"""

from __future__ import annotations

import importlib
import math

import numpy as np

from .curvature import all_eigenvalues, hessian_blocks, hessian_diag, spectral_density
from .curvature.density import DEFAULT_BINS, DEFAULT_SIGMA2, default_grid

PEERS = {  # name -> (import name, PyPI distribution)
    "pyhessian": ("pyhessian", "pyhessian"),
    "hessian-eigenthings": ("hessian_eigenthings", "hessian-eigenthings"),
    "backpack": ("backpack", "backpack-for-pytorch"),
    "curvlinops": ("curvlinops", "curvlinops-for-pytorch"),
}
TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "softplus": "Softplus",
                     "identity": "Identity"}
PEER_SEED = 0  # torch's global seed before each stochastic peer call: reruns give the same numbers


class PeerUnavailableError(RuntimeError):
    """The peer tool is not installed (or fails to import)."""


def peer_available(name):
    """True if the peer ``name`` imports."""
    try:
        _import(name)
        return True
    except PeerUnavailableError:
        return False


def _import(name):
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; choose one of {', '.join(PEERS)}")
    module, dist = PEERS[name]
    try:
        return importlib.import_module(module)
    except Exception as err:  # noqa: BLE001  an installed peer may fail to import for its own reasons
        raise PeerUnavailableError(f"{name} is not installed or fails to import ({err}); "
                                   f"pip install {dist}") from None


def to_torch(model, theta):
    """An ``nn.Sequential`` in float64 equal to the refchaos model at theta (the inverse of
    :func:`refchaos.from_torch`)."""
    import torch
    from torch import nn

    mods = []
    for layer in model.layers:
        k = layer.kind
        if k == "dense":
            mods.append(nn.Linear(layer.in_features, layer.out_features, bias=layer.bias))
        elif k == "conv2d":
            mods.append(nn.Conv2d(layer.in_channels, layer.out_channels, tuple(layer.kernel_size),
                                  stride=tuple(layer.stride), padding=tuple(layer.padding), bias=layer.bias))
        elif k == "activation":
            mods.append(getattr(nn, TORCH_ACTIVATIONS[layer.act.name])())
        elif k in ("maxpool2d", "avgpool2d"):
            cls = nn.MaxPool2d if k == "maxpool2d" else nn.AvgPool2d
            mods.append(cls(tuple(layer.kernel_size), stride=tuple(layer.stride)))
        elif k == "flatten":
            mods.append(nn.Flatten())
        else:
            raise ValueError(f"no PyTorch module for layer {layer!r}")
    module = nn.Sequential(*mods).double()
    flat = torch.as_tensor(np.asarray(theta, dtype=np.float64))
    torch.nn.utils.vector_to_parameters(flat, module.parameters())
    return module


def _criterion(model, reduction="mean"):
    """The refchaos loss as a torch criterion: CrossEntropyLoss, or 0.5 * C * MSELoss on one-hot."""
    import torch

    if model.loss_fn.name == "cross_entropy":
        return torch.nn.CrossEntropyLoss()
    C = model.num_outputs

    def mse(z, y):
        t = torch.nn.functional.one_hot(y, C).to(z.dtype)
        return 0.5 * C * torch.nn.functional.mse_loss(z, t)

    return mse


def _tensors(x, y):
    import torch

    return torch.as_tensor(np.asarray(x, dtype=np.float64)), torch.as_tensor(np.asarray(y))


def _pyhessian(model, theta, x, y, k):
    import torch
    from pyhessian import hessian as PyHessian

    module, (xt, yt) = to_torch(model, theta), _tensors(x, y)
    torch.manual_seed(PEER_SEED)
    h = PyHessian(module, _criterion(model), data=(xt, yt), cuda=False)
    top, _ = h.eigenvalues(top_n=k)  # power iteration with deflation (largest |lambda| first)
    trace = float(np.mean(h.trace()))  # Hutchinson, its default stopping rule
    notes = {}
    try:
        nodes, weights = h.density(iter=min(100, model.num_params), n_v=1)  # SLQ
    except RuntimeError as err:  # PyHessian 0.1's density calls torch.eig, gone from torch 2.x
        notes["density"] = f"pyhessian's density failed: {str(err).splitlines()[0]}"
        return {"top": _by_magnitude(top), "which": "LM", "trace": trace, "diag": None,
                "density": None, "notes": notes}
    nodes, weights = np.asarray(nodes, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    overhead, sigma2 = 0.01, 1e-5  # PyHessian's density_generate defaults (its example code)
    lo, hi = nodes.min(axis=1).mean() - overhead, nodes.max(axis=1).mean() + overhead
    grid = np.linspace(lo, hi, DEFAULT_BINS)
    s2 = sigma2 * max(1.0, hi - lo)
    rho = np.mean([spectral_density(n, grid, s2, weights=w) for n, w in zip(nodes, weights)], axis=0)
    rho = rho / (rho.sum() * (grid[1] - grid[0]))  # its normalisation to unit mass on the grid
    # (the exact density is compared normalised the same way: the fourth entry)
    return {"top": _by_magnitude(top), "which": "LM", "trace": trace, "diag": None,
            "density": (grid, rho, s2, True)}


def _by_magnitude(values):
    return sorted(map(float, values), key=abs, reverse=True)


def _eigenthings(model, theta, x, y, k):
    import hessian_eigenthings as he

    module, (xt, yt) = to_torch(model, theta), _tensors(x, y)
    op = he.HessianOperator(module, [(xt, yt)], he.supervised_loss(_criterion(model)))
    top = he.lanczos(op, k=k, which="LA", seed=PEER_SEED).eigenvalues
    trace = he.trace(op, seed=PEER_SEED).estimate
    sd = he.spectral_density(op, lanczos_steps=min(80, model.num_params), seed=PEER_SEED)
    grid = sd.grid.numpy()
    return {"top": sorted(map(float, top), reverse=True), "trace": float(trace), "diag": None,
            "density": (grid, sd.density.numpy(), float(sd.sigma) ** 2, False)}


def _backpack(model, theta, x, y, k):
    import torch
    from backpack import backpack, extend
    from backpack.extensions import DiagHessian

    module, (xt, yt) = extend(to_torch(model, theta)), _tensors(x, y)
    if model.loss_fn.name == "cross_entropy":
        lossf, scale = extend(torch.nn.CrossEntropyLoss()), 1.0
        target = yt
    else:  # refchaos's mse is 0.5 / B times the summed squared error
        lossf, scale = extend(torch.nn.MSELoss(reduction="sum")), 0.5 / xt.shape[0]
        target = torch.nn.functional.one_hot(yt, model.num_outputs).to(xt.dtype)
    loss = lossf(module(xt), target)
    with backpack(DiagHessian()):
        loss.backward()
    diag = scale * torch.cat([p.diag_h.reshape(-1) for p in module.parameters()]).detach().numpy()
    return {"top": None, "trace": float(diag.sum()), "diag": diag, "density": None}


def _curvlinops(model, theta, x, y, k):
    import torch
    from curvlinops import HessianLinearOperator

    module, (xt, yt) = to_torch(model, theta), _tensors(x, y)
    if model.loss_fn.name == "cross_entropy":
        lossf, scale, target = torch.nn.CrossEntropyLoss(), 1.0, yt
    else:  # curvlinops needs a loss module; refchaos's mse is 0.5 * C * MSELoss()
        lossf, scale = torch.nn.MSELoss(), 0.5 * model.num_outputs
        target = torch.nn.functional.one_hot(yt, model.num_outputs).to(xt.dtype)
    params = [p for p in module.parameters() if p.requires_grad]
    op = HessianLinearOperator(module, lossf, params, [(xt, target)])
    H = scale * (op @ torch.eye(model.num_params, dtype=torch.float64)).detach().numpy()  # exact HVPs
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    return {"top": lam[::-1][:k].tolist(), "trace": float(np.trace(H)), "diag": np.diag(H).copy(),
            "density": None}


ADAPTERS = {"pyhessian": _pyhessian, "hessian-eigenthings": _eigenthings, "backpack": _backpack,
            "curvlinops": _curvlinops}


def peer_numbers(name, model, theta, x, y, k=5):
    """What peer ``name`` reports for the model at theta on (x, y); schema in the module docstring."""
    _import(name)
    return ADAPTERS[name](model, theta, x, y, int(k))


def exact_numbers(model, theta, x, y, k=5, bottom_k=5, num_bins=DEFAULT_BINS):
    """refchaos's exact numbers: all eigenvalues, top/bottom k, trace, diagonal, layer blocks and
    the smoothed density (Eq. R1 on the default grid, normalised on it)."""
    lam = np.asarray(all_eigenvalues(model, theta, x, y))
    diag = np.asarray(hessian_diag(model, theta, x, y))
    blocks = []
    for blk in hessian_blocks(model, theta, x, y):
        w = np.linalg.eigvalsh(0.5 * (blk.H + blk.H.T))
        blocks.append({"name": blk.name, "span": list(blk.span), "trace": float(np.trace(blk.H)),
                       "top": w[::-1][:k].tolist(), "bottom": w[:bottom_k].tolist()})
    grid = default_grid(float(lam[0]), float(lam[-1]), np, np.float64, num_bins)
    sigma2 = DEFAULT_SIGMA2 * max(1.0, float(grid[-1] - grid[0]))
    rho = spectral_density(lam, grid, sigma2, normalize=True)
    return {"num_params": model.num_params, "eigenvalues": lam, "top": lam[::-1][:k].tolist(),
            "bottom": lam[:bottom_k].tolist(), "trace": float(diag.sum()), "diag": diag,
            "blocks": blocks, "density": {"grid": grid.tolist(), "rho": rho.tolist(), "sigma2": sigma2}}


def compare(exact, peer):
    """Per quantity: the peer's value and its error against the exact one.

    top: max_i |lambda_i(peer) - lambda_i| / |lambda_1|, against the largest eigenvalues, or the
    largest in magnitude for a peer that reports those (``which == "LM"``: power iteration); trace: relative error; diag: normwise
    relative error; density: L1 distance int |rho_peer - rho_exact| dt on the peer's grid with
    the peer's kernel (both densities have unit mass, so the distance lies in [0, 2]).
    """
    out = {}
    if peer.get("top") is not None:
        if peer.get("which") == "LM":
            ref = _by_magnitude(exact["eigenvalues"])[:len(peer["top"])]
        else:
            ref = exact["eigenvalues"][::-1][:len(peer["top"])].tolist()
        err = max(abs(a - b) for a, b in zip(peer["top"], ref)) / max(abs(ref[0]), math.ulp(1.0))
        out["top"] = {"value": peer["top"], "exact": ref, "error": err}
    if peer.get("trace") is not None:
        t = exact["trace"]
        out["trace"] = {"value": peer["trace"], "exact": t, "error": abs(peer["trace"] - t) / abs(t)}
    if peer.get("diag") is not None:
        d = exact["diag"]
        out["diag"] = {"error": float(np.linalg.norm(peer["diag"] - d) / np.linalg.norm(d))}
    if peer.get("density") is not None:
        grid, rho, s2, normalize = peer["density"]
        ref = spectral_density(exact["eigenvalues"], grid, s2, normalize=normalize)
        out["density"] = {"sigma2": s2, "error": float(np.sum(np.abs(rho - ref)) * (grid[1] - grid[0]))}
    return out


__all__ = ["PEERS", "PeerUnavailableError", "peer_available", "to_torch", "peer_numbers",
           "exact_numbers", "compare"]
