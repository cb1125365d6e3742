"""The data sets' file formats, each decoded into an ImageSet: IDX files (MNIST-like sets), CIFAR-10's
pickled batches (from its tarball), and scikit-learn's bundled digits.

An ImageSet holds x [N, D] float32 in [0, 1], each row an image in C, H, W order, and y [N] int64.
A set's loader is called with its DatasetInfo (data_utils.DATASETS: shape, classes, published MD5s,
source), the split and the data root; its downloader with the same. A file with a published MD5 is
checked before it is decoded, and a malformed one is a DataFileError naming it.
"""
import dataclasses
import gzip
import os
from pathlib import Path
import pickle
import tarfile
import tempfile
import zlib

import numpy as np
import torch

from data_files import DataFileError, DatasetNotFoundError, download, missing_message, verify_md5

PIXEL_MAX = 255.0                    # uint8 images: 0..255 -> [0, 1]


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Images flattened to x [N, D] float32 in [0, 1], labels y [N] int64.

    Cached sets are shared between callers: treat the tensors as read-only.
    """
    x: torch.Tensor
    y: torch.Tensor
    image_shape: tuple
    num_classes: int

    def __post_init__(self):
        if self.x.ndim != 2 or self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"ImageSet needs x [N, D] and y [N], got {tuple(self.x.shape)} and {tuple(self.y.shape)}")
        if int(np.prod(self.image_shape)) != self.x.shape[1]:
            raise ValueError(f"image_shape {self.image_shape} does not match D={self.x.shape[1]}")

    def __len__(self):
        return int(self.y.shape[0])

    def to(self, device):
        """A new ImageSet with x and y on `device`."""
        return dataclasses.replace(self, x=self.x.to(device), y=self.y.to(device))


# ---------------------------------------------------------------------------------------------
# IDX files (MNIST-like): 00 00 <type> <ndim>, then ndim big-endian uint32 sizes, then the values
# ---------------------------------------------------------------------------------------------
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IDX_MAGIC = 4                        # bytes: two zeros, the type code, the number of dimensions
IDX_SIZE = 4                         # bytes per dimension size


def read_idx(path):
    """An IDX file (gzip if its name ends in .gz) as a tensor of its own type and shape; a
    DataFileError naming the file if it is not a complete IDX file."""
    path = Path(path)
    raw = _file_bytes(path)
    dtype, dims, header = _idx_layout(raw, path)
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return torch.from_numpy(data.astype(dtype.newbyteorder("="), copy=True))


def _file_bytes(path):
    """The bytes of a file, decompressed if its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataFileError(f"cannot decompress IDX file {path} ({err}); expected a complete gzip file: "
                            "delete it and download it again") from err


def _idx_layout(raw, path):
    """(value dtype, dims, header bytes) of an IDX file's contents, checked against their length."""
    if len(raw) < IDX_MAGIC or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataFileError(f"{path} is not an IDX file (magic number {raw[:IDX_MAGIC].hex() or 'missing'}, "
                            "expected 00 00 <type> <dimensions>); delete it and download it again")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = IDX_MAGIC + IDX_SIZE * ndim
    if len(raw) < header:
        raise DataFileError(f"IDX file {path} is truncated inside its header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=IDX_MAGIC))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataFileError(f"IDX file {path} has {len(raw)} bytes but its header {dims} implies {expected}; "
                            "it is truncated or corrupt, delete it and re-download")
    return dtype, dims, header


# ---------------------------------------------------------------------------------------------
# MNIST-like sets: an images and a labels IDX file per split
# ---------------------------------------------------------------------------------------------
def _mnist_search_dirs(name, info, root):
    """The set's own folder, then torchvision's layout."""
    return [root / name, root / info.torchvision_folder / "raw"]


def _mnist_stems(split):
    """The (images, labels) file names of a split, without .gz."""
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find_idx(stem, dirs):
    """The first existing `<stem>.gz` or `<stem>` (gzip preferred within a folder), or None."""
    for folder in dirs:
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _mnist_files(name, info, split, root):
    """The (images, labels) files of a split; a DatasetNotFoundError naming the missing ones."""
    dirs = _mnist_search_dirs(name, info, root)
    found = {stem: _find_idx(stem, dirs) for stem in _mnist_stems(split)}
    missing = [f"{stem}.gz" for stem, path in found.items() if path is None]
    if missing:
        raise DatasetNotFoundError(missing_message(name, split, missing, dirs, dirs[0]))
    return tuple(found.values())


def _read_official_idx(info, path):
    """An IDX file of a data set, checked against its published MD5 first (if it has one)."""
    md5 = info.md5s.get(path.name)
    if md5 is not None:
        verify_md5(path, md5)
    return read_idx(path)


def _check_mnist_images(path, images, height, width):
    if images.ndim != 3 or tuple(images.shape[1:]) != (height, width) or images.dtype != torch.uint8:
        raise DataFileError(f"{path}: expected uint8 images [N, {height}, {width}], "
                            f"got {images.dtype} {tuple(images.shape)}")


def _mnist_labels(path, labels, count, classes):
    """The labels as int64, checked: one per image, each a class."""
    if labels.ndim != 1 or labels.shape[0] != count:
        raise DataFileError(f"{path}: expected {count} labels, got shape {tuple(labels.shape)}")
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= classes):
        raise DataFileError(f"{path}: labels outside 0..{classes - 1}")
    return labels


def load_mnist_like(name, info, split, root):
    """One split of the MNIST-like set `name` from its IDX files."""
    paths = _mnist_files(name, info, split, root)
    images, labels = (_read_official_idx(info, path) for path in paths)
    _check_mnist_images(paths[0], images, *info.image_shape[1:])
    labels = _mnist_labels(paths[1], labels, images.shape[0], info.classes)
    x = images.reshape(images.shape[0], -1).float().div_(PIXEL_MAX)
    return ImageSet(x=x, y=labels, image_shape=info.image_shape, num_classes=info.classes)


def download_mnist_like(name, info, split, root):
    """Fetch the split's files that are not on disk into the set's own folder."""
    dirs = _mnist_search_dirs(name, info, root)
    for stem in _mnist_stems(split):
        if _find_idx(stem, dirs) is None:
            filename = f"{stem}.gz"
            download(info.url + filename, dirs[0] / filename, info.md5s.get(filename))


# ---------------------------------------------------------------------------------------------
# CIFAR-10: one tarball holding pickled batches
# ---------------------------------------------------------------------------------------------
CIFAR_TARBALL = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def _cifar_batch_dirs(root):
    return [root / "cifar10" / CIFAR_FOLDER, root / CIFAR_FOLDER]


def _cifar_tarballs(root):
    return [root / "cifar10" / CIFAR_TARBALL, root / CIFAR_TARBALL]


def _find_cifar_dir(split, root):
    """The first folder that holds every batch of the split, or None."""
    for folder in _cifar_batch_dirs(root):
        if all((folder / b).is_file() for b in CIFAR_BATCHES[split]):
            return folder
    return None


def _cifar_folder(info, split, root):
    """The folder of the split's batches, extracted from the first tarball found if need be; a
    DatasetNotFoundError listing the folders searched if there is neither."""
    folder = _find_cifar_dir(split, root)
    tarball = next((t for t in _cifar_tarballs(root) if t.is_file()), None)
    if folder is None and tarball is not None:
        _extract_cifar(tarball, info.md5s[CIFAR_TARBALL])
        folder = _find_cifar_dir(split, root)
    if folder is None:
        searched = _cifar_batch_dirs(root) + [t.parent for t in _cifar_tarballs(root)]
        missing = [f"{CIFAR_TARBALL} (or extracted {CIFAR_FOLDER}/{', '.join(CIFAR_BATCHES[split])})"]
        raise DatasetNotFoundError(missing_message("cifar10", split, missing, searched, root / "cifar10"))
    return folder


def _extract_cifar(tarball, md5):
    """Check the tarball's MD5, then extract its batch folder beside it (file by file, atomically)."""
    verify_md5(tarball, md5)
    with tempfile.TemporaryDirectory(prefix=".cifar-extract-", dir=tarball.parent) as tmp:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, members=_cifar_members(tar, tarball), filter="data")
        extracted = Path(tmp) / CIFAR_FOLDER
        if not extracted.is_dir():
            raise DataFileError(f"{tarball} contains no {CIFAR_FOLDER}/ folder")
        target = tarball.parent / CIFAR_FOLDER
        target.mkdir(exist_ok=True)
        for item in extracted.iterdir():
            if item.is_file():
                os.replace(item, target / item.name)


def _cifar_members(tar, tarball):
    """The tarball's members under the batch folder; a DataFileError for a link or a path that leaves it."""
    members = [m for m in tar.getmembers() if m.name.split("/")[0] == CIFAR_FOLDER]
    for m in members:
        if not (m.isfile() or m.isdir()) or ".." in Path(m.name).parts or m.name.startswith("/"):
            raise DataFileError(f"{tarball}: unexpected member {m.name!r}")
    return members


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles containers, numbers, bytes and numpy arrays only, all a CIFAR-10 batch holds: any
    other class or function a file names (a planted file's code) is refused, never called."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch does not hold")
        return super().find_class(module, name)


def _read_cifar_batch(path):
    """One pickled CIFAR-10 batch as (data, labels [N] int64) arrays, read with _BatchUnpickler (a
    planted file cannot run code); _check_cifar_batch checks their shapes."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DataFileError(f"Cannot unpickle CIFAR-10 batch {path}: {err}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: not a CIFAR-10 batch (needs keys b'data' and b'labels')")
    return np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)


def _check_cifar_batch(path, info, data, labels):
    """(data, labels) if data is [N, 3072] uint8 and labels are N classes; a DataFileError otherwise."""
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != info.inputs:
        raise DataFileError(f"{path}: expected uint8 data [N, {info.inputs}], got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataFileError(f"{path}: expected {data.shape[0]} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= info.classes):
        raise DataFileError(f"{path}: labels outside 0..{info.classes - 1}")
    return data, labels


def load_cifar10(info, split, root):
    """One split of CIFAR-10 from its batches (extracted from the tarball if need be)."""
    folder = _cifar_folder(info, split, root)
    parts = [_check_cifar_batch(folder / b, info, *_read_cifar_batch(folder / b)) for b in CIFAR_BATCHES[split]]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    # Each row is R(1024) G(1024) B(1024), each channel row-major 32x32: already C,H,W order.
    x = torch.from_numpy(data).float().div_(PIXEL_MAX)
    return ImageSet(x=x, y=torch.from_numpy(labels), image_shape=info.image_shape, num_classes=info.classes)


def download_cifar10(info, split, root):
    """Fetch the tarball unless present (it holds both splits)."""
    if any(t.is_file() for t in _cifar_tarballs(root)):
        return
    download(info.url, _cifar_tarballs(root)[0], info.md5s[CIFAR_TARBALL])


# ---------------------------------------------------------------------------------------------
# scikit-learn's digits (bundled, offline)
# ---------------------------------------------------------------------------------------------
DIGITS_LEVELS = 16.0                 # pixel values 0..16 -> [0, 1]
DIGITS_TRAIN_FRACTION = (4, 5)       # per class, the first floor(4/5 * n_c) samples in file order -> train


def _digits_train_mask(y):
    """True for the samples of the train split: per class, the first DIGITS_TRAIN_FRACTION in file order."""
    num, den = DIGITS_TRAIN_FRACTION
    is_train = torch.zeros_like(y, dtype=torch.bool)
    for c in torch.unique(y):
        idx = (y == c).nonzero().flatten()
        is_train[idx[: (num * idx.numel()) // den]] = True
    return is_train


def load_digits(info, split, root):
    """sklearn's bundled 8x8 digits, split per class (_digits_train_mask); `root` is unused."""
    from sklearn.datasets import load_digits as bundled_digits

    bunch = bundled_digits()
    x_all = torch.as_tensor(bunch.data, dtype=torch.float32) / DIGITS_LEVELS
    y_all = torch.as_tensor(bunch.target, dtype=torch.int64)
    is_train = _digits_train_mask(y_all)
    keep = is_train if split == "train" else ~is_train
    return ImageSet(x=x_all[keep].contiguous(), y=y_all[keep].contiguous(), image_shape=info.image_shape,
                    num_classes=info.classes)

