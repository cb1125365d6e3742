"""Data sets: the table of known sets (DATASETS), their files (search, checksums, download), decoding
into flattened images, and label helpers (per-class subsets, one-hot targets, relabelling).

A split loads as an ImageSet: x [N, D] float32 in [0, 1], each row an image in C, H, W order, and
y [N] int64. Files are looked up under the data root (DATA_DIR, resolve_data_dir). A file with a
published MD5 (DATASETS[name].md5s) is checked before it is decoded; a download is written beside
its destination under a temporary name and renamed only once its MD5 matches. Every error names the
file it is about and what to do.

The training streams built on these sets live in streams.py.
"""
import contextlib
import dataclasses
import functools
import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch

SPLITS = ("train", "test")
CHUNK = 1 << 20                      # bytes read or copied at a time when hashing or downloading
MD5_CACHE = 256                      # files whose MD5 is remembered (keyed by path, mtime and size)
DOWNLOAD_TIMEOUT_S = 120
USER_AGENT = "data_utils/1.0"
PIXEL_MAX = 255.0                    # uint8 images: 0..255 -> [0, 1]
FETCH_HINT = "main.py --download"


class DatasetNotFoundError(FileNotFoundError):
    """The files of a data set are not on disk (and download=False)."""


class DataFileError(ValueError):
    """A data file exists but is malformed (bad header, truncated, bad shape)."""


class ChecksumError(DataFileError):
    """A downloaded or official file does not have its published MD5."""


class DownloadError(OSError):
    """A file cannot be fetched from its official source (the message names both)."""


# ---------------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------------
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


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What is known of a data set without reading it (configs are checked before any file is opened)."""
    image_shape: tuple                   # (channels, height, width)
    classes: int
    train_size: int                      # images in the train split
    test_size: int
    load: Callable                       # (split, data root or None) -> the split's ImageSet
    download: Callable = None            # (split, data root): fetch the split's files; None: bundled with a library
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
# Paths and checksums
# ---------------------------------------------------------------------------------------------
def resolve_data_dir(data_dir=None):
    """The data root: `data_dir`, else the environment's DATA_DIR, else ./data; made absolute."""
    if data_dir is None:
        data_dir = os.environ.get("DATA_DIR") or "data"
    return Path(data_dir).expanduser().absolute()


@functools.lru_cache(maxsize=MD5_CACHE)
def _md5_of(path, mtime_ns, size):
    """MD5 of a file; the stat fields only key the cache."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_md5(path):
    """MD5 hex digest of a file, cached per (path, mtime, size)."""
    st = os.stat(path)
    return _md5_of(str(Path(path).absolute()), st.st_mtime_ns, st.st_size)


def verify_md5(path, expected):
    """A ChecksumError naming the file unless its MD5 equals `expected`."""
    actual = file_md5(path)
    if actual != expected.lower():
        raise ChecksumError(f"checksum mismatch for {path}: expected md5 {expected}, got {actual}: the file is "
                            f"corrupt or not the official one; delete it and download it again ({FETCH_HINT})")


def _official_md5(name, filename):
    """The published MD5 of one of a data set's files, or None if it has none."""
    return DATASETS[name].md5s.get(filename)


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------
def _download(url, dest, expected_md5):
    """Fetch `url` to a temporary file beside `dest`, check its MD5, then rename it to `dest`. A failure
    is a DownloadError (or ChecksumError) naming the URL and the file, and leaves nothing behind: no
    file, and no folder made for it."""
    made = _missing_folders(dest.parent)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise DownloadError(f"cannot download {url} to {dest}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out)
        _check_download(url, tmp, dest, expected_md5)
        os.replace(tmp, dest)
    except OSError as err:   # urllib's URLError and HTTPError, timeouts, a full disk
        raise DownloadError(f"cannot download {url} to {dest}: {getattr(err, 'reason', None) or err}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
        if not dest.exists():
            _remove_empty(made)


def _missing_folders(folder):
    """`folder` and those of its parents that do not exist yet, deepest first."""
    return [f for f in (folder, *folder.parents) if not f.exists()]


def _remove_empty(folders):
    """Remove the folders that are empty, in order (each is left if another file came meanwhile)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def _fetch(url, out):
    """Copy what `url` serves into the open binary file `out`."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        shutil.copyfileobj(response, out, CHUNK)


def _check_download(url, tmp, dest, expected_md5):
    """A ChecksumError unless the downloaded file `tmp` has the published MD5 (if there is one)."""
    actual = file_md5(tmp)
    if expected_md5 is not None and actual != expected_md5:
        raise ChecksumError(f"checksum mismatch for {url}: expected md5 {expected_md5}, got {actual}: not "
                            f"the official file, so nothing was saved to {dest}; try again later")


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
def _mnist_search_dirs(name, root):
    """The set's own folder, then torchvision's layout."""
    return [root / name, root / DATASETS[name].torchvision_folder / "raw"]


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


def _mnist_files(name, split, root):
    """The (images, labels) files of a split; a DatasetNotFoundError naming the missing ones."""
    dirs = _mnist_search_dirs(name, root)
    found = {stem: _find_idx(stem, dirs) for stem in _mnist_stems(split)}
    missing = [f"{stem}.gz" for stem, path in found.items() if path is None]
    if missing:
        raise DatasetNotFoundError(_missing_message(name, split, missing, dirs, dirs[0]))
    return tuple(found.values())


def _read_official_idx(name, path):
    """An IDX file of a data set, checked against its published MD5 first (if it has one)."""
    md5 = _official_md5(name, path.name)
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


def _load_mnist_like(name, split, root):
    """One split of an MNIST-like set from its IDX files."""
    info = DATASETS[name]
    paths = _mnist_files(name, split, root)
    images, labels = (_read_official_idx(name, path) for path in paths)
    _check_mnist_images(paths[0], images, *info.image_shape[1:])
    labels = _mnist_labels(paths[1], labels, images.shape[0], info.classes)
    x = images.reshape(images.shape[0], -1).float().div_(PIXEL_MAX)
    return ImageSet(x=x, y=labels, image_shape=info.image_shape, num_classes=info.classes)


def _download_mnist_like(name, split, root):
    """Fetch the split's files that are not on disk into the set's own folder."""
    dirs = _mnist_search_dirs(name, root)
    for stem in _mnist_stems(split):
        if _find_idx(stem, dirs) is None:
            filename = f"{stem}.gz"
            _download(DATASETS[name].url + filename, dirs[0] / filename, _official_md5(name, filename))


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


def _cifar_folder(split, root):
    """The folder of the split's batches, extracted from the first tarball found if need be; a
    DatasetNotFoundError listing the folders searched if there is neither."""
    folder = _find_cifar_dir(split, root)
    tarball = next((t for t in _cifar_tarballs(root) if t.is_file()), None)
    if folder is None and tarball is not None:
        _extract_cifar(tarball)
        folder = _find_cifar_dir(split, root)
    if folder is None:
        searched = _cifar_batch_dirs(root) + [t.parent for t in _cifar_tarballs(root)]
        missing = [f"{CIFAR_TARBALL} (or extracted {CIFAR_FOLDER}/{', '.join(CIFAR_BATCHES[split])})"]
        raise DatasetNotFoundError(_missing_message("cifar10", split, missing, searched, root / "cifar10"))
    return folder


def _extract_cifar(tarball):
    """Check the tarball's MD5, then extract its batch folder beside it (file by file, atomically)."""
    verify_md5(tarball, DATASETS["cifar10"].md5s[CIFAR_TARBALL])
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
    """One pickled CIFAR-10 batch as (data [N, 3072] uint8, labels [N] int64), read with
    _BatchUnpickler (a planted file cannot run code) and checked."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DataFileError(f"Cannot unpickle CIFAR-10 batch {path}: {err}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: not a CIFAR-10 batch (needs keys b'data' and b'labels')")
    return _check_cifar_batch(path, np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64))


def _check_cifar_batch(path, data, labels):
    """(data, labels) if data is [N, 3072] uint8 and labels are N classes; a DataFileError otherwise."""
    info = DATASETS["cifar10"]
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != info.inputs:
        raise DataFileError(f"{path}: expected uint8 data [N, {info.inputs}], got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataFileError(f"{path}: expected {data.shape[0]} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= info.classes):
        raise DataFileError(f"{path}: labels outside 0..{info.classes - 1}")
    return data, labels


def _load_cifar10(split, root):
    """One split of CIFAR-10 from its batches (extracted from the tarball if need be)."""
    info = DATASETS["cifar10"]
    folder = _cifar_folder(split, root)
    parts = [_read_cifar_batch(folder / b) for b in CIFAR_BATCHES[split]]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    # Each row is R(1024) G(1024) B(1024), each channel row-major 32x32: already C,H,W order.
    x = torch.from_numpy(data).float().div_(PIXEL_MAX)
    return ImageSet(x=x, y=torch.from_numpy(labels), image_shape=info.image_shape, num_classes=info.classes)


def _download_cifar10(split, root):
    """Fetch the tarball unless present (it holds both splits)."""
    if any(t.is_file() for t in _cifar_tarballs(root)):
        return
    info = DATASETS["cifar10"]
    _download(info.url, _cifar_tarballs(root)[0], info.md5s[CIFAR_TARBALL])


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


def _load_digits(split, root=None):
    """sklearn's bundled 8x8 digits, split per class (_digits_train_mask); `root` is unused."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x_all = torch.as_tensor(bunch.data, dtype=torch.float32) / DIGITS_LEVELS
    y_all = torch.as_tensor(bunch.target, dtype=torch.int64)
    is_train = _digits_train_mask(y_all)
    keep = is_train if split == "train" else ~is_train
    info = DATASETS["digits"]
    return ImageSet(x=x_all[keep].contiguous(), y=y_all[keep].contiguous(), image_shape=info.image_shape,
                    num_classes=info.classes)


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
def _mnist_like(name, torchvision_folder, url, md5s):
    """The entry of an MNIST-like set: 28x28 grey images of 10 classes, 60,000 + 10,000, IDX files."""
    return DatasetInfo(image_shape=(1, 28, 28), classes=10, train_size=60000, test_size=10000,
                       load=functools.partial(_load_mnist_like, name),
                       download=functools.partial(_download_mnist_like, name),
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
                           load=_load_cifar10, download=_download_cifar10,
                           url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                           md5s={CIFAR_TARBALL: "c58f30108f718f92721af3b95e74349a"}),
    "digits": DatasetInfo(image_shape=(1, 8, 8), classes=10, train_size=1433, test_size=364, load=_load_digits),
}


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _missing_message(name, split, missing, searched, put_in):
    """What is missing, where it was looked for, and how to get it."""
    folders = ", ".join(str(p) for p in dict.fromkeys(searched))
    return (f"data set '{name}' ({split} split) not found: missing {', '.join(missing)}; searched {folders}; "
            f"put the official files into {put_in} (or set DATA_DIR to the folder that holds them), "
            f"or fetch them with {FETCH_HINT}")


@functools.lru_cache(maxsize=None)
def _load_cached(name, split, root):
    return DATASETS[name].load(split, None if root is None else Path(root))


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
    info.download(split, root)
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
