"""Training data for trace dumps, read from local files only (nothing is ever downloaded).

- :func:`load_digits`: scikit-learn's bundled copy of the UCI 8x8 handwritten digits
  (1797 images, 10 classes), shipped inside scikit-learn, so no network access.
- :func:`load_cifar10`: CIFAR-10 from a local directory in the dataset's own python format
  (``data_batch_1`` ... ``data_batch_5``, ``test_batch``: pickled dicts with ``data``
  [N, 3072] uint8, channel-major 3x32x32 rows, and ``labels``), e.g. the extracted
  ``cifar-10-python.tar.gz`` (``cifar-10-batches-py/``). Pickles are read with a restricted
  unpickler that only rebuilds numpy arrays, so a hostile file cannot run code.

Needs numpy (and scikit-learn for digits); not torch.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EssopSimError

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
#: Per-channel mean and standard deviation of the CIFAR-10 training images, on the [0, 1] scale.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class DatasetError(EssopSimError, ValueError):
    """A dataset directory or file is missing or not in the expected format."""

    def __init__(self, path: object, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


@dataclass
class Split:
    """A train/test split. Images NCHW: x_* [N, C, H, W]; labels y_* int64 [N] in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str
    info: dict = field(default_factory=dict)


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Split:
    """scikit-learn's 8x8 digits as float32 [N, 1, 8, 8] in [0, 1] (pixel / 16).

    A stratified split with ``test_fraction`` of the 1797 images held out, shuffled with
    ``seed`` (1437 train / 360 test at the default).
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError("the digits data set needs scikit-learn: pip install scikit-learn "
                          "(or the 'essop-sim[torch]' extra)") from exc
    bunch = _sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed,
                                          stratify=y)
    return Split(np.ascontiguousarray(xtr), ytr, np.ascontiguousarray(xte), yte,
                 tuple(str(i) for i in range(10)), "sklearn.datasets.load_digits (bundled)",
                 {"seed": seed, "test_fraction": test_fraction})


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and nothing else (no arbitrary code)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (a CIFAR-10 "
                                     "batch holds only numpy arrays, lists and bytes)")


def read_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch file -> (images uint8 [N, 3, 32, 32], labels int64 [N])."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "missing CIFAR-10 batch file")
    try:
        with open(path, "rb") as f:
            obj = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError) as exc:
        raise DatasetError(path, f"not a CIFAR-10 python batch (pickle): {exc}") from None
    if not isinstance(obj, dict):
        raise DatasetError(path, f"expected a pickled dict, got {type(obj).__name__}")
    obj = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in obj or "labels" not in obj:
        raise DatasetError(path, f"expected keys 'data' and 'labels', got {sorted(obj)}")
    data = np.asarray(obj["data"])
    labels = np.asarray(obj["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(path, f"'data' must be uint8 [N, 3072], got {data.dtype} "
                                 f"{list(data.shape)}")
    if labels.shape != (data.shape[0],):
        raise DatasetError(path, f"'labels' has {labels.size} entries for {data.shape[0]} "
                                 "images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(path, f"labels must be in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def find_cifar10_dir(directory: str | os.PathLike) -> Path:
    """``directory`` itself if it holds the batch files, else its ``cifar-10-batches-py``."""
    d = Path(directory)
    for cand in (d, d / "cifar-10-batches-py"):
        if (cand / CIFAR10_TEST_FILE).is_file() or (cand / CIFAR10_TRAIN_FILES[0]).is_file():
            return cand
    raise DatasetError(d, "no CIFAR-10 python batches here (expected data_batch_1..5 and "
                          "test_batch, or a cifar-10-batches-py/ subdirectory); essop-sim "
                          "never downloads data: extract cifar-10-python.tar.gz here")


def load_cifar10(directory: str | os.PathLike, limit_train: int | None = None,
                 limit_test: int | None = None) -> Split:
    """CIFAR-10 from a local directory: uint8 images [N, 3, 32, 32] (0..255) and labels.

    Reads all six batch files (each must exist). ``limit_train`` / ``limit_test`` keep only the
    first N images (for quick runs). Normalise with :func:`normalize_cifar10`.
    """
    d = find_cifar10_dir(directory)
    missing = [f for f in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE) if not (d / f).is_file()]
    if missing:
        raise DatasetError(d, f"missing CIFAR-10 batch files {missing}")
    parts = [read_cifar10_batch(d / f) for f in CIFAR10_TRAIN_FILES]
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    xte, yte = read_cifar10_batch(d / CIFAR10_TEST_FILE)
    if limit_train is not None:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test is not None:
        xte, yte = xte[:limit_test], yte[:limit_test]
    if len(xtr) == 0:
        raise DatasetError(d, "no training images")
    return Split(xtr, ytr, xte, yte, CIFAR10_CLASSES, f"CIFAR-10 python batches in {d}",
                 {"limit_train": limit_train, "limit_test": limit_test})


def normalize_cifar10(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 3, 32, 32] (0..255) -> float32, per channel (v/255 - mean) / std."""
    mean = np.asarray(CIFAR10_MEAN, np.float32)[None, :, None, None]
    std = np.asarray(CIFAR10_STD, np.float32)[None, :, None, None]
    return (images.astype(np.float32) / 255.0 - mean) / std


def load_for_model(model: str, *, seed: int = 0, cifar_dir: str | os.PathLike | None = None,
                   cifar_limit: int | None = None) -> Split:
    """The data a reference model trains on, as float32 images ready for the network.

    ``resnet32``: CIFAR-10 from the local ``cifar_dir``, normalised per channel
    (:func:`normalize_cifar10`), at most ``cifar_limit`` training images and a fifth as many test
    images. Any other model: scikit-learn digits split with ``seed`` (:func:`load_digits`).
    """
    if model != "resnet32":
        return load_digits(seed=seed)
    lim = cifar_limit
    data = load_cifar10(cifar_dir, lim, None if lim is None else max(1, lim // 5))
    return dataclasses.replace(data, x_train=normalize_cifar10(data.x_train),
                               x_test=normalize_cifar10(data.x_test))


def cifar_augment(xb, gen):
    """CIFAR-style augmentation of a float batch [B, 3, 32, 32]: 4-pixel zero pad + random
    32x32 crop, random horizontal flip; randomness from ``gen`` (the run's data generator)."""
    import torch

    b = xb.shape[0]
    padded = torch.nn.functional.pad(xb, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (b,), generator=gen)
    dy = torch.randint(0, 9, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    out = torch.empty_like(xb)
    for i in range(b):
        img = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = img.flip(-1) if flip[i] else img
    return out
