"""``refchaos curvature``: the exact curvature numbers of a PyTorch model on a batch, and a peer's.

No mathematics here: the model is read with :func:`refchaos.from_torch` (a saved
``nn.Sequential``) or built from a model string and a state dict; the numbers come from
:func:`refchaos.peers.exact_numbers` and, with ``--compare``, :func:`refchaos.peers.peer_numbers`.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from refchaos.experiments.config import ConfigError, parse_model_string
from refchaos.io import atomic_write_json, json_safe
from refchaos.nn.layer import LayerShapeError
from refchaos.nn.losses import LossInputError
from refchaos.nn.model import ModelInputError
from refchaos.nn.registry import UnknownLayerError

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}
PEER_CHOICES = ("pyhessian", "curvlinops", "backpack", "hessian-eigenthings")
DIAG_SHOWN = 5  # diagonal entries printed (all of them go to the JSON file)


def _torch_load(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  unpickling errors come in many types
        raise click.BadParameter(f"{path} is not a file torch.load can read: {err}") from None


def load_batch(path):
    """(x float64, y int64) from a .npz with arrays x, y or a .pt holding {"x", "y"} or (x, y)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path) as f:
            if "x" not in f or "y" not in f:
                raise click.BadParameter(f"{path} must hold arrays 'x' and 'y', has {sorted(f.files)}",
                                         param_hint="BATCH")
            x, y = f["x"], f["y"]
    elif path.suffix == ".pt":
        obj = _torch_load(path)
        if isinstance(obj, dict) and {"x", "y"} <= set(obj):
            x, y = obj["x"], obj["y"]
        elif isinstance(obj, (tuple, list)) and len(obj) == 2:
            x, y = obj
        else:
            raise click.BadParameter(f"{path} must hold {{'x': ..., 'y': ...}} or (x, y)", param_hint="BATCH")
        x, y = (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a) for a in (x, y))
    else:
        raise click.BadParameter(f"{path}: the batch must be a .pt or .npz file", param_hint="BATCH")
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] < 1:
        raise click.BadParameter(f"batch shape wrong: x {x.shape} must be (B, ...) and y {y.shape} (B,) "
                                 "with the same B >= 1", param_hint="BATCH")
    if not np.issubdtype(y.dtype, np.integer):
        raise click.BadParameter(f"y must hold integer class labels, got dtype {y.dtype}", param_hint="BATCH")
    return x.astype(np.float64), y.astype(np.int64)


def load_model(path, model_string, activation, loss, x):
    """(model, theta): a saved nn.Sequential, or a state dict with --model."""
    import refchaos as rc

    obj = _torch_load(path)
    input_shape = tuple(x.shape[1:])
    if type(obj).__name__ == "Sequential":
        return rc.from_torch(obj, input_shape=input_shape, loss=loss)
    if not isinstance(obj, dict):
        raise click.BadParameter(f"{path} holds a {type(obj).__name__}, not an nn.Sequential or a state dict",
                                 param_hint="MODEL")
    if model_string is None:
        raise click.UsageError(f"{path} is a state dict: give the network with --model (e.g. mlp:256-20-10)")
    kind, arg = parse_model_string(model_string)
    if kind == "mlp":
        if len(arg) < 2:
            raise ConfigError(f"--model {model_string!r}: give all sizes, e.g. mlp:256-20-10")
        model = rc.mlp(arg, activation=activation, loss=loss)
    else:
        model = rc.cnn(**arg, activation=activation, loss=loss, input_size=input_shape[-1])
    theta = np.concatenate([np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v,
                                       dtype=np.float64).reshape(-1) for v in obj.values()])
    if theta.shape != (model.num_params,):
        raise ConfigError(f"--model {model_string!r} has {model.num_params} parameters, the state dict "
                          f"{theta.size}")
    return model, theta


def _fmt(values):
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _report(exact, peers_out, k):
    click.echo(f"N = {exact['num_params']} parameters")
    click.echo(f"top-{k} eigenvalues     {_fmt(exact['top'])}")
    click.echo(f"bottom-{len(exact['bottom'])} eigenvalues  {_fmt(exact['bottom'])}")
    click.echo(f"trace                 {exact['trace']:.12g}")
    click.echo(f"diag[:{DIAG_SHOWN}]               {_fmt(exact['diag'][:DIAG_SHOWN])}")
    d = exact["density"]
    click.echo(f"density               {len(d['grid'])} points on [{d['grid'][0]:.6g}, {d['grid'][-1]:.6g}], "
               f"kernel variance {d['sigma2']:.3g}")
    for b in exact["blocks"]:
        click.echo(f"block {b['name']:>4s} {str(tuple(b['span'])):>14s}  trace {b['trace']:.6g}  "
                   f"top {_fmt(b['top'][:3])}")
    for name, entry in peers_out.items():
        if "unavailable" in entry:
            click.echo(f"{name}: not installed ({entry['unavailable']})")
            continue
        if "failed" in entry:
            click.echo(f"{name}: failed ({entry['failed']})")
            continue
        for q, c in entry["compare"].items():
            value = c.get("value")
            shown = _fmt(value) if isinstance(value, list) else (f"{value:.12g}" if value is not None else "")
            click.echo(f"{name:20s} {q:8s} {shown:40s} error {c['error']:.3e}")
        for q, note in entry.get("notes", {}).items():
            click.echo(f"{name:20s} {q:8s} {note}")


@click.command("curvature", context_settings=CONTEXT)
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.argument("batch_path", metavar="BATCH", type=click.Path(dir_okay=False))
@click.option("--model", "model_string", default=None,
              help="Network of a state-dict MODEL: mlp:IN-H-...-OUT or cnn[:C][:avg].")
@click.option("--activation", default="relu", help="Activation of a --model network.")
@click.option("--loss", default="cross_entropy", type=click.Choice(["cross_entropy", "mse"]))
@click.option("--top-k", default=5, type=click.IntRange(1), help="Largest eigenvalues to report.")
@click.option("--bottom-k", default=5, type=click.IntRange(1), help="Smallest eigenvalues to report.")
@click.option("--compare", "compare_with", multiple=True, type=click.Choice(PEER_CHOICES),
              help="Also run this peer tool and show its error (repeatable).")
@click.option("--density-bins", default=1000, type=click.IntRange(2),
              help="Grid points of the exact smoothed density (SLQ tools' kernel convention).")
@click.option("--json", "json_path", default="curvature.json", type=click.Path(dir_okay=False),
              help="Write every number here.")
def curvature(model_path, batch_path, model_string, activation, loss, top_k, bottom_k, compare_with,
              density_bins, json_path):
    """Exact Hessian numbers of MODEL (.pt: an nn.Sequential, or a state dict with --model) on
    BATCH (.pt or .npz with x, y): top-k and bottom-k eigenvalues, trace, diagonal, density grid
    and per-layer blocks, in float64; with --compare, a peer's numbers and their errors.
    """
    from refchaos import peers

    for p, hint in ((model_path, "MODEL"), (batch_path, "BATCH")):
        if not Path(p).is_file():
            raise click.BadParameter(f"no such file: {p}", param_hint=hint)
    x, y = load_batch(batch_path)
    try:
        model, theta = load_model(model_path, model_string, activation, loss, x)
        exact = peers.exact_numbers(model, theta, x, y, k=top_k, bottom_k=bottom_k, num_bins=density_bins)
    except (LayerShapeError, ModelInputError) as err:
        raise click.UsageError(f"batch shape wrong for the model: {err}") from None
    except (ConfigError, UnknownLayerError, LossInputError) as err:
        raise click.UsageError(str(err)) from None
    peers_out = {}
    for name in compare_with:
        try:
            numbers = peers.peer_numbers(name, model, theta, x, y, k=top_k)
        except peers.PeerUnavailableError as err:
            peers_out[name] = {"unavailable": str(err)}
            continue
        except Exception as err:  # noqa: BLE001  a peer's own failure is reported, not fatal
            peers_out[name] = {"failed": f"{type(err).__name__}: {err}"}
            continue
        peers_out[name] = {"compare": peers.compare(exact, numbers), "notes": numbers.get("notes", {})}
    _report(exact, peers_out, top_k)
    record = {k: v for k, v in exact.items() if k not in ("eigenvalues", "diag")}
    record.update(eigenvalues=exact["eigenvalues"].tolist(), diag=exact["diag"].tolist(), peers=peers_out,
                  model=model.spec(), batch_size=int(x.shape[0]))
    atomic_write_json(json_path, json_safe(record))
    click.echo(f"written to {json_path}", err=True)


if __name__ == "__main__":
    curvature()
