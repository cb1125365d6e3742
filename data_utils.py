"""Data sets: the table of known sets (DATASETS), loading a split, and label helpers (per-class
subsets, one-hot targets, relabelling).

A split loads as an ImageSet: x [N, D] float32 in [0, 1], each row an image in C, H, W order, and
y [N] int64. Files are looked up under the data root (DATA_DIR, resolve_data_dir). A file with a
published MD5 (DATASETS[name].md5s) is checked before it is decoded; a download is written beside
its destination under a temporary name and renamed only once its MD5 matches. Every error names the
file it is about and what to do.

The parts, whose public names this module gathers: data_files.py (the data root, checksums,
downloads, the errors) and data_formats.py (each format decoded into an ImageSet). The training
streams built on these sets live in streams.py.
"""
import dataclasses
import functools
from pathlib import Path
from typing import Callable

import numpy as np
import torch

# The parts' public names, which the rest of the project uses as data_utils.<name>:
from data_files import (ChecksumError, DataFileError, DatasetNotFoundError, DownloadError, file_md5,
                        resolve_data_dir, verify_md5)
from data_formats import (CIFAR_TARBALL, ImageSet, download_cifar10, download_mnist_like, load_cifar10,
                          load_digits, load_mnist_like, read_idx)

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What is known of a data set without reading it (configs are checked before any file is opened)."""
    image_shape: tuple                   # (channels, height, width)
    classes: int
    train_size: int                      # images in the train split
    test_size: int
    load: Callable                       # (info, split, data root or None) -> the split's ImageSet
    download: Callable = None            # (info, split, root): fetch the split's files; None: bundled with a library
    url: str = ""                        # folder holding the files (MNIST-like) or the archive itself (CIFAR-10)
    md5s: dict = dataclasses.field(default_factory=dict)   # file name -> published MD5 of the official file
    torchvision_folder: str = None       # also searched: <root>/<torchvision_folder>/raw

    @property
    def inputs(self):
        """Pixels per flattened image: the network's input size."""
        return int(np.prod(self.image_shape))

    @property
    def dims(self):
        """(inputs, classes)."""
        return self.inputs, self.classes


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
def _mnist_like(name, torchvision_folder, url, md5s):
    """The entry of an MNIST-like set: 28x28 grey images of 10 classes, 60,000 + 10,000, IDX files."""
    return DatasetInfo(image_shape=(1, 28, 28), classes=10, train_size=60000, test_size=10000,
                       load=functools.partial(load_mnist_like, name),
                       download=functools.partial(download_mnist_like, name),
                       url=url, md5s=md5s, torchvision_folder=torchvision_folder)


# Every known data set, in the order error messages list them.
DATASETS = {
    "fashion_mnist": _mnist_like(
        "fashion_mnist", "FashionMNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
    "mnist": _mnist_like(
        "mnist", "MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "cifar10": DatasetInfo(image_shape=(3, 32, 32), classes=10, train_size=50000, test_size=10000,
                           load=load_cifar10, download=download_cifar10,
                           url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                           md5s={CIFAR_TARBALL: "c58f30108f718f92721af3b95e74349a"}),
    "digits": DatasetInfo(image_shape=(1, 8, 8), classes=10, train_size=1433, test_size=364, load=load_digits),
}


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _load_cached(name, split, root):
    info = DATASETS[name]
    return info.load(info, split, None if root is None else Path(root))


def clear_dataset_cache():
    """Forget data sets parsed so far in this process."""
    _load_cached.cache_clear()


def load_dataset(name, split, data_dir=None, download=False):
    """Load `name` (a key of DATASETS), `split` in {train, test}, as an ImageSet.

    Files are looked up under resolve_data_dir(data_dir) (a bundled set ignores it) and parsed
    sets are cached per (name, split, folder). Downloads happen only if `download=True`.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; allowed: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    info = DATASETS[name]
    if info.download is None:
        return _load_cached(name, split, None)
    root = resolve_data_dir(data_dir)
    try:
        return _load_cached(name, split, str(root))
    except DatasetNotFoundError:
        if not download:
            raise
    info.download(info, split, root)
    return _load_cached(name, split, str(root))


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------
def _check_labels(y):
    if y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got {y.dtype} {tuple(y.shape)}")


def per_class_subset(y, n_per_class, generator):
    """Indices of `n_per_class` random samples of every class in `y` [N], sorted ascending.

    Classes are drawn in increasing label order from `generator`; None keeps all samples.
    """
    _check_labels(y)
    if n_per_class is None:
        return torch.arange(y.shape[0], device=y.device)
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    chosen = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        if idx.numel() < n_per_class:
            raise ValueError(f"class {c} has only {idx.numel()} samples, fewer than n_per_class={n_per_class}")
        perm = torch.randperm(idx.numel(), generator=generator, device=generator.device).to(y.device)
        chosen.append(idx[perm[:n_per_class]])
    if not chosen:
        return torch.empty(0, dtype=torch.long, device=y.device)
    return torch.sort(torch.cat(chosen)).values


def class_subset(y, classes):
    """Indices (ascending) of the samples whose label is in `classes` (an iterable or a tensor)."""
    _check_labels(y)
    wanted = torch.as_tensor(list(classes) if not torch.is_tensor(classes) else classes, dtype=y.dtype)
    return torch.isin(y, wanted.to(y.device)).nonzero().flatten()


def one_hot(y, num_classes, off_value=0.0, dtype=torch.float32):
    """Targets [N, num_classes]: 1 at the label, `off_value` elsewhere (-1 gives +-1 targets)."""
    _check_labels(y)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    out = torch.full((y.shape[0], num_classes), float(off_value), dtype=dtype, device=y.device)
    out.scatter_(1, y.long().unsqueeze(1), 1.0)
    return out


def random_label_permutation(num_classes, generator):
    """A random permutation of 0..num_classes-1 (on the generator's device)."""
    return torch.randperm(num_classes, generator=generator, device=generator.device)


def relabel(y, mapping):
    """New labels mapping[y] (e.g. with a permutation from random_label_permutation)."""
    _check_labels(y)
    mapping = torch.as_tensor(mapping, dtype=torch.long).to(y.device)
    if mapping.ndim != 1:
        raise ValueError("mapping must be 1-D")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= mapping.numel()):
        raise ValueError(f"labels must lie in 0..{mapping.numel() - 1} to be relabelled")
    return mapping[y.long()]
