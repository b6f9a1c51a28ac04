"""``load``: one call from a dataset name to preprocessed arrays on a backend; study presets.

Pipeline (each step optional, in this order): read the raw split in [0, 1] -> ``resize``
(bilinear, as torchvision's ``Resize`` on tensors) -> ``scaling`` (``standardize`` uses the
*training* split's scalar mean and unbiased std, after the same resize, also when the test split
is loaded) -> seeded ``subset`` -> ``flatten`` -> move to ``backend``. Statistics are taken
from the whole training split, before any subset.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..backend import asarray, get_namespace
from .cifar import load_batches
from .digits import load_digits_split
from .errors import DataSizeWarning
from .idx import load_idx_pair
from .preprocess import apply_scaling, flatten as flatten_images, resize_bilinear
from .preprocess import standardization_stats, subset_indices
from .sources import SPLITS, get_dataset, locate
from .usps import load_esl, load_h5, load_libsvm

USPS_TORCHVISION = "libsvm-uint8"  # LIBSVM pixels quantised to uint8 as torchvision's USPS does.


def _read(loc, split, source):
    """Host float64 (N, C, H, W) in [0, 1] and int64 labels of one split of a located copy."""
    if loc.format == "embedded":
        return load_digits_split(split)
    paths = loc.paths[split]
    if loc.format == "idx":
        return load_idx_pair(*paths)
    if loc.format == "esl":
        return load_esl(paths[0])
    if loc.format == "h5":
        return load_h5(paths[0], split)
    if loc.format == "libsvm":
        return load_libsvm(paths[0], quantize_uint8=source == USPS_TORCHVISION)
    if loc.format == "pickle":
        return load_batches(paths)
    raise ValueError(f"no reader for format {loc.format!r}")  # A registry entry without a reader.


def load_raw(name, split="train", data_dir=None, source=None):
    """The raw split as float64 (N, C, H, W) in [0, 1] and int64 labels, on the host.

    ``source`` picks a format (``usps``: ``esl``, ``h5``, ``libsvm`` or ``libsvm-uint8``);
    by default the first format found complete (see :func:`refchaos.data.locate`).
    """
    ds = get_dataset(name)
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    fmt = "libsvm" if source == USPS_TORCHVISION else source
    loc = locate(ds.name, data_dir, split=split, source=fmt)
    x, y = _read(loc, split, source)
    _check_size(ds, loc, split, x.shape[0])
    return x, y


def _check_size(ds, loc, split, n):
    """Warn (:class:`DataSizeWarning`, naming the files) when a split has another number of
    examples than the publisher's: a file cut short at a line boundary still parses."""
    expected = ds.sizes.get(split)
    if loc.format == "embedded" or expected is None or n == expected:
        return
    files = ", ".join(str(p) for p in loc.paths[split])
    warnings.warn(f"{files}: the {split} split of {ds.name} has {n} examples, the publisher's "
                  f"has {expected}; the file may be cut short or another version (check it "
                  f"with `refchaos data verify {ds.name}`)", DataSizeWarning, stacklevel=3)


def load(name, split="train", data_dir=None, backend="numpy", resize=None, scaling="none",
         flatten=False, subset=None, seed=0, source=None, dtype="float64"):
    """Load a dataset split, preprocessed, on an array backend.

    Parameters
    ----------
    name : {"digits", "usps", "mnist", "fashion-mnist", "cifar10"}
    split : {"train", "test"}
    data_dir : str or Path, optional
        Where to look; default ``$REFCHAOS_DATA`` then the per-user cache (``digits`` needs none).
    backend : str or namespace
        ``"numpy"`` (default), ``"cupy"``, ``"torch"``, ``"array_api_strict"``.
    resize : int or (int, int), optional
        Bilinear resize of each image (``16`` for Herrmann et al.'s Fashion-MNIST).
    scaling : {"none", "unit", "standardize"}
        See :mod:`refchaos.data.preprocess`; ``standardize`` uses training-set statistics.
    flatten : bool
        Return x as (B, C*H*W) for an MLP.
    subset : int, optional
        Keep a seeded random subset of this many examples (in their stored order).
    seed : int
        Seed of the subset.
    source : str, optional
        Format to read (``usps``: ``esl``, ``h5``, ``libsvm``, ``libsvm-uint8``).
    dtype : {"float64", "float32"}
        Dtype of x; float64 is the reference.

    Returns
    -------
    x : (B, C, H, W) or (B, C*H*W) array of ``dtype`` on ``backend``
    y : (B,) int64 array of labels on ``backend``

    Raises
    ------
    DatasetNotFoundError
        No local copy; the message names the places searched and ``refchaos data fetch NAME``.
    CorruptDataError
        A file is damaged or not in the expected format; the message names it.
    """
    xp = get_namespace(backend)
    x, y = load_raw(name, split, data_dir, source)
    if resize is not None:
        x = resize_bilinear(x, resize)
    stats = None
    if scaling == "standardize":
        x_train = x if split == "train" else load_raw(name, "train", data_dir, source)[0]
        if resize is not None and x_train is not x:
            x_train = resize_bilinear(x_train, resize)
        stats = standardization_stats(x_train)
    x = apply_scaling(x, scaling, stats)
    if subset is not None:
        idx = subset_indices(x.shape[0], int(subset), seed)
        x, y = x[idx], y[idx]
    if flatten:
        x = flatten_images(x)
    x = np.ascontiguousarray(x)
    return asarray(x, xp, dtype=dtype), asarray(y, xp)


@dataclass(frozen=True)
class StudyPreset:
    """The data setup of a published study: what to load and how to batch it."""

    name: str
    dataset: str
    load_kwargs: dict = field(default_factory=dict)
    batch_size: int | None = None  # None: full batch
    drop_last: bool = False
    note: str = ""

    def load(self, split="train", data_dir=None, backend="numpy", **overrides):
        """:func:`load` with this preset's arguments (``overrides`` win)."""
        kwargs = {**self.load_kwargs, **overrides}
        return load(self.dataset, split, data_dir=data_dir, backend=backend, **kwargs)

    def batch_order(self, n, seed=0):
        """The :class:`~refchaos.data.BatchOrder` of this preset for n training examples."""
        from .batches import BatchOrder

        return BatchOrder(n, self.batch_size, seed, drop_last=self.drop_last)


_HERRMANN = dict(scaling="standardize", flatten=True)
STUDY_PRESETS = {
    p.name: p for p in (
        StudyPreset("herrmann-usps", "usps", dict(_HERRMANN), 8, False,
                    "H22: USPS 16x16, standardised by the training set's scalar mean and "
                    "unbiased std, batches of 8 with the last partial batch kept (912 steps per "
                    "epoch); flatten=False for the CNN. Reads the ESL (or h5) files."),
        StudyPreset("herrmann-usps-torchvision", "usps",
                    dict(_HERRMANN, source=USPS_TORCHVISION), 8, False,
                    "As herrmann-usps, on the data H22's released code used: torchvision's USPS, "
                    "i.e. the LIBSVM files (different pixels from ESL) quantised to uint8."),
        StudyPreset("herrmann-fashion-mnist", "fashion-mnist", dict(_HERRMANN, resize=16), 8,
                    False, "H22: Fashion-MNIST resized 28->16 (bilinear, no antialiasing), "
                    "standardised by training-set statistics after the resize, batches of 8."),
        StudyPreset("jimenez-gonzalez-mnist", "mnist", dict(scaling="none", flatten=True), None,
                    False, "J25: MNIST 784 pixels in [0, 1], no standardisation, full batch."),
    )
}


def study_preset(name):
    """The :class:`StudyPreset` called ``name`` (see :data:`STUDY_PRESETS`)."""
    if name not in STUDY_PRESETS:
        raise ValueError(f"unknown study preset {name!r}; choose one of {', '.join(STUDY_PRESETS)}")
    return STUDY_PRESETS[name]


__all__ = ["load", "load_raw", "StudyPreset", "STUDY_PRESETS", "study_preset"]
