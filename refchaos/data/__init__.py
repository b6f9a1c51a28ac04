"""Real datasets: readers of the publishers' files, the embedded default, preprocessing, batches.

    import refchaos.data as data
    x, y = data.load("usps", "train", scaling="standardize", flatten=True)   # (7291, 256)
    order = data.BatchOrder(x.shape[0], batch_size=8, seed=0)               # 912 steps/epoch
    xb, yb = x[order.indices(step)], y[order.indices(step)]

Pixel convention: every loader returns float64 images (B, C, H, W) **in [0, 1]** and int64
labels 0..9, as host NumPy arrays; :func:`load` moves them to the chosen backend. Raw formats:

=================  =======================  ===========  ====================================
dataset            files read               raw pixels   mapped to [0, 1] by
=================  =======================  ===========  ====================================
``digits``         scikit-learn (embedded)  0..16        v / 16
``usps`` (esl)     zip.train.gz, .test.gz   [-1, 1]      (v + 1) / 2 (= usps.h5 within 4.4e-8)
``usps`` (h5)      usps.h5                  [0, 1]       as stored (float32 -> float64)
``usps`` (libsvm)  usps.bz2, usps.t.bz2     [-1, 1]      (v + 1) / 2; label = digit + 1 there
``mnist``          IDX, 4 files (.gz)       0..255       v / 255
``fashion-mnist``  IDX, 4 files (.gz)       0..255       v / 255
``cifar10``        cifar-10-batches-py/     0..255       v / 255
=================  =======================  ===========  ====================================

Defaults per dataset (``load(name)`` with no options): the native size (digits 1x8x8, USPS
1x16x16, MNIST and Fashion-MNIST 1x28x28, CIFAR-10 3x32x32), ``scaling="none"`` (the [0, 1]
values above), not flattened, all examples. Split sizes: digits 1,437 / 360 (a fixed seeded
split, see :mod:`refchaos.data.digits`), USPS 7,291 / 2,007, MNIST and Fashion-MNIST 60,000 /
10,000, CIFAR-10 50,000 / 10,000. The studies' settings are presets (:func:`study_preset`):
``herrmann-usps``, ``herrmann-usps-torchvision``, ``herrmann-fashion-mnist`` and
``jimenez-gonzalez-mnist``.

Where data is found: ``data_dir`` if given, else ``$REFCHAOS_DATA``, else
``~/.cache/refchaos`` (``$XDG_CACHE_HOME/refchaos``); :func:`fetch` downloads from the
publishers with checksums, :func:`verify` checks a copy (see :mod:`refchaos.data.sources`).
"""

from .batches import BatchOrder
from .errors import DataSizeWarning
from .errors import (ChecksumMismatchError, CorruptDataError, DataError, DatasetNotFoundError,
                     DownloadError)
from .download import FileCheck, VerifyReport, fetch, verify
from .loader import STUDY_PRESETS, StudyPreset, load, load_raw, study_preset
from .preprocess import SCALINGS, resize_bilinear
from .sources import DATASETS, REGISTRY, cache_dir, data_home, get_dataset, locate, search_roots

__all__ = [
    "BatchOrder", "ChecksumMismatchError", "CorruptDataError", "DataError", "DataSizeWarning",
    "DatasetNotFoundError", "DownloadError", "FileCheck", "VerifyReport", "fetch", "verify",
    "STUDY_PRESETS", "StudyPreset", "load", "load_raw", "study_preset", "SCALINGS",
    "resize_bilinear", "DATASETS", "REGISTRY", "cache_dir", "data_home", "get_dataset",
    "locate", "search_roots",
]
