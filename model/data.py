"""Fashion-MNIST loading through ``torchvision.datasets.FashionMNIST``.

One function, :func:`fashion_mnist`, finds or prepares the data set. Sources, in
order:

1. ``<root>/FashionMNIST/raw`` already holding the four idx files;
2. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``):
   its ``.gz`` files are decompressed into ``<root>/FashionMNIST/raw`` (torchvision's
   md5 check rejects the Debian ``.gz`` headers, the decompressed files load fine);
3. torchvision's own download (when the network allows it).

If none works, :class:`DatasetMissingError` names both ways to get it.
"""
from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

import torch

from model.settings import TEST_IMAGES

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path(os.environ.get("FASHION_MNIST_ROOT", REPO_ROOT / "data"))
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class DatasetMissingError(RuntimeError):
    """Fashion-MNIST is neither on disk, nor installable from Debian, nor downloadable."""


def _prepare_from_debian(raw: Path) -> bool:
    if not all((DEBIAN_DIR / f"{name}.gz").is_file() for name in RAW_FILES):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        dst = raw / name
        if dst.is_file():
            continue
        # a private temporary file and an atomic rename: parallel test workers may race here
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        with gzip.open(DEBIAN_DIR / f"{name}.gz", "rb") as src, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    return True


def fashion_mnist(train: bool, root: Path | str | None = None):
    """Return ``torchvision.datasets.FashionMNIST`` for the train or test split.

    Args:
        train: True for the 60,000 training images, False for the 10,000 test images.
        root: data folder (default ``$FASHION_MNIST_ROOT`` or ``<repo>/data``).

    Raises:
        DatasetMissingError: no local copy, no Debian package and no download possible.
    """
    from torchvision.datasets import FashionMNIST

    root = Path(root) if root is not None else DEFAULT_ROOT
    raw = root / "FashionMNIST" / "raw"
    if not all((raw / name).is_file() for name in RAW_FILES):
        if not _prepare_from_debian(raw):
            try:
                return FashionMNIST(str(root), train=train, download=True)
            except Exception as exc:  # network refused, mirror down, ...
                raise DatasetMissingError(
                    f"Fashion-MNIST not found under {raw}. Either install Debian's package "
                    "(apt-get install dataset-fashion-mnist, files in "
                    f"{DEBIAN_DIR}) or allow torchvision to download it ({exc})"
                ) from exc
    return FashionMNIST(str(root), train=train, download=False)


def load_images(train: bool, offset: int = 0, count: int | None = None, root=None):
    """Raw images and labels of one split.

    Returns:
        ``(images, labels)``: ``images`` uint8 ``[N, 28, 28]`` (the pixel bytes, 0..255,
        which are also the quantized input at scale 1/255, zero point 0), ``labels``
        int64 ``[N]`` in 0..9.

    Raises:
        ValueError: ``offset``/``count`` outside the split.
        DatasetMissingError: see :func:`fashion_mnist`.
    """
    ds = fashion_mnist(train, root)
    n = len(ds.data)
    if count is None:
        count = n - offset
    if offset < 0 or count < 1 or offset + count > n:
        raise ValueError(
            f"images {offset}..{offset + count - 1} are outside the "
            f"{'train' if train else 'test'} split (0..{n - 1})"
        )
    images = ds.data[offset:offset + count].to(torch.uint8).contiguous()
    labels = ds.targets[offset:offset + count].to(torch.int64).contiguous()
    return images, labels
