"""Data sets: the table of known sets, their files (search, checksums, download), parsing into
flattened images, and label helpers (per-class subsets, one-hot targets, relabelling).

The training streams built on these sets live in streams.py.
"""

from __future__ import annotations

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
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "SPLITS",
    "DatasetNotFoundError",
    "DataFileError",
    "ChecksumError",
    "DownloadError",
    "ImageSet",
    "resolve_data_dir",
    "load_dataset",
    "clear_dataset_cache",
    "read_idx",
    "file_md5",
    "verify_md5",
    "per_class_subset",
    "class_subset",
    "one_hot",
    "random_label_permutation",
    "relabel",
]

SPLITS: tuple[str, ...] = ("train", "test")

_CIFAR_TARBALL = "cifar-10-python.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_DIGITS_TRAIN_FRACTION = (4, 5)  # first floor(4/5 * n_c) samples of each class -> train


class DatasetNotFoundError(FileNotFoundError):
    """Raised when the files of a data set are not on disk and download=False."""


class DataFileError(ValueError):
    """Raised when a data file exists but is malformed (bad header, truncated, bad shape)."""


class ChecksumError(DataFileError):
    """Raised when a downloaded/official archive does not have its published MD5."""


class DownloadError(OSError):
    """Raised when a file cannot be fetched from its official source (the message names both)."""


# --------------------------------------------------------------------------- containers


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Images flattened to x [N, D] float32 in [0, 1], labels y [N] int64.

    Cached sets are shared between callers: treat the tensors as read-only.
    """

    x: torch.Tensor
    y: torch.Tensor
    image_shape: tuple[int, ...]
    num_classes: int

    def __post_init__(self) -> None:
        if self.x.ndim != 2 or self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"ImageSet needs x [N, D] and y [N], got {tuple(self.x.shape)} and {tuple(self.y.shape)}")
        if int(np.prod(self.image_shape)) != self.x.shape[1]:
            raise ValueError(f"image_shape {self.image_shape} does not match D={self.x.shape[1]}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> "ImageSet":
        """Return a new ImageSet with x and y on `device`."""
        return dataclasses.replace(self, x=self.x.to(device), y=self.y.to(device))


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What is known of a data set without reading it (configs are checked before any file is opened)."""

    image_shape: tuple[int, ...]  # (channels, height, width)
    classes: int
    train_size: int  # images in the train split
    test_size: int
    load: Callable[[str, Path | None], ImageSet]  # (split, data root) -> the parsed split
    download: Callable[[str, Path], None] | None = None  # fetch the split's files; None: bundled with a library
    url: str = ""  # folder holding the files (MNIST-like) or the archive itself (CIFAR-10)
    md5s: dict[str, str] = dataclasses.field(default_factory=dict)  # published MD5 of each official file
    torchvision_folder: str | None = None  # also searched: <root>/<torchvision_folder>/raw

    @property
    def inputs(self) -> int:
        """Pixels per flattened image: the network's input size."""
        return int(np.prod(self.image_shape))

    @property
    def dims(self) -> tuple[int, int]:
        """(inputs, classes)."""
        return self.inputs, self.classes


# --------------------------------------------------------------------------- paths, checksums


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Data root: explicit `data_dir`, else env DATA_DIR, else ./data; returned absolute."""
    if data_dir is None:
        data_dir = os.environ.get("DATA_DIR") or "data"
    return Path(data_dir).expanduser().absolute()


@functools.lru_cache(maxsize=256)
def _md5_of(path: str, mtime_ns: int, size: int) -> str:
    """MD5 of a file; the stat fields only key the cache."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_md5(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file, cached per (path, mtime, size)."""
    st = os.stat(path)
    return _md5_of(str(Path(path).absolute()), st.st_mtime_ns, st.st_size)


def verify_md5(path: str | os.PathLike, expected: str) -> None:
    """Raise ChecksumError unless the file's MD5 equals `expected`."""
    actual = file_md5(path)
    if actual != expected.lower():
        raise ChecksumError(
            f"checksum mismatch for {path}: expected md5 {expected}, got {actual}: the file is corrupt "
            "or not the official one; delete it and download it again (main.py --download)"
        )



def _expected_md5(name: str, filename: str) -> str | None:
    return DATASETS[name].md5s.get(filename)


# --------------------------------------------------------------------------- download


def _download(url: str, dest: Path, expected_md5: str | None) -> None:
    """Fetch `url` to a temp file beside `dest`, check its MD5, then rename atomically. A failure is
    a DownloadError (or ChecksumError) naming the URL and the file, and leaves nothing behind: no
    file, and no folder made for it."""
    made = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise DownloadError(f"cannot download {url} to {dest}: {err.strerror or err}") from None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "data_utils/1.0"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=120) as resp:
            shutil.copyfileobj(resp, out, 1 << 20)
        actual = file_md5(tmp)
        if expected_md5 is not None and actual != expected_md5:
            raise ChecksumError(f"checksum mismatch for {url}: expected md5 {expected_md5}, got {actual}: not "
                                f"the official file, so nothing was saved to {dest}; try again later")
        os.replace(tmp, dest)
    except OSError as err:   # urllib's URLError and HTTPError, timeouts, a full disk
        raise DownloadError(f"cannot download {url} to {dest}: {getattr(err, 'reason', None) or err}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
        if not dest.exists():
            for folder in made:   # deepest first; each is empty unless another file came meanwhile
                with contextlib.suppress(OSError):
                    folder.rmdir()


# --------------------------------------------------------------------------- IDX (MNIST-like)

_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Parse an IDX file (gzip if it ends in .gz) into a tensor; validates magic and size."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataFileError(f"cannot decompress IDX file {path} ({err}); expected a complete gzip file: "
                            "delete it and download it again") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFileError(f"{path} is not an IDX file (magic number {raw[:4].hex() or 'missing'}, expected "
                            "00 00 <type> <dimensions>); delete it and download it again")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"IDX file {path} is truncated inside its header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataFileError(
            f"IDX file {path} has {len(raw)} bytes but its header {dims} implies {expected}; "
            "it is truncated or corrupt, delete it and re-download"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return torch.from_numpy(data.astype(dtype.newbyteorder("="), copy=True))


def _mnist_search_dirs(name: str, root: Path) -> list[Path]:
    return [root / name, root / DATASETS[name].torchvision_folder / "raw"]


def _find_idx(stem: str, dirs: Sequence[Path]) -> Path | None:
    """First existing `<stem>.gz` or `<stem>` (gzip preferred within a folder)."""
    for folder in dirs:
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def _mnist_stems(split: str) -> tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _load_mnist_like(name: str, split: str, root: Path) -> ImageSet:
    info = DATASETS[name]
    dirs = _mnist_search_dirs(name, root)
    stems = _mnist_stems(split)
    found = {stem: _find_idx(stem, dirs) for stem in stems}
    missing = [f"{stem}.gz" for stem, p in found.items() if p is None]
    if missing:
        raise DatasetNotFoundError(_missing_message(name, split, missing, dirs, dirs[0]))
    tensors = []
    for stem in stems:
        path = found[stem]
        md5 = _expected_md5(name, path.name)
        if md5 is not None:
            verify_md5(path, md5)
        tensors.append(read_idx(path))
    images, labels = tensors
    img_path, lbl_path = found[stems[0]], found[stems[1]]
    height, width = info.image_shape[1:]
    if images.ndim != 3 or tuple(images.shape[1:]) != (height, width) or images.dtype != torch.uint8:
        raise DataFileError(
            f"{img_path}: expected uint8 images [N, {height}, {width}], got {images.dtype} {tuple(images.shape)}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataFileError(f"{lbl_path}: expected {images.shape[0]} labels, got shape {tuple(labels.shape)}")
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= info.classes):
        raise DataFileError(f"{lbl_path}: labels outside 0..{info.classes - 1}")
    x = images.reshape(images.shape[0], -1).float().div_(255.0)
    return ImageSet(x=x, y=labels, image_shape=info.image_shape, num_classes=info.classes)


def _download_mnist_like(name: str, split: str, root: Path) -> None:
    dest_dir = _mnist_search_dirs(name, root)[0]
    for stem in _mnist_stems(split):
        if _find_idx(stem, _mnist_search_dirs(name, root)) is None:
            filename = f"{stem}.gz"
            _download(DATASETS[name].url + filename, dest_dir / filename, _expected_md5(name, filename))


# --------------------------------------------------------------------------- CIFAR-10


def _cifar_batch_dirs(root: Path) -> list[Path]:
    return [root / "cifar10" / _CIFAR_FOLDER, root / _CIFAR_FOLDER]


def _cifar_tarballs(root: Path) -> list[Path]:
    return [root / "cifar10" / _CIFAR_TARBALL, root / _CIFAR_TARBALL]


def _find_cifar_dir(split: str, root: Path) -> Path | None:
    for folder in _cifar_batch_dirs(root):
        if all((folder / b).is_file() for b in _CIFAR_BATCHES[split]):
            return folder
    return None


def _extract_cifar(tarball: Path) -> None:
    """Check the tarball's MD5, then extract its batch folder beside it (file by file, atomically)."""
    verify_md5(tarball, DATASETS["cifar10"].md5s[_CIFAR_TARBALL])
    target = tarball.parent / _CIFAR_FOLDER
    with tempfile.TemporaryDirectory(prefix=".cifar-extract-", dir=tarball.parent) as tmp:
        with tarfile.open(tarball, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.split("/")[0] == _CIFAR_FOLDER]
            for m in members:
                if not (m.isfile() or m.isdir()) or ".." in Path(m.name).parts or m.name.startswith("/"):
                    raise DataFileError(f"{tarball}: unexpected member {m.name!r}")
            tar.extractall(tmp, members=members, filter="data")
        extracted = Path(tmp) / _CIFAR_FOLDER
        if not extracted.is_dir():
            raise DataFileError(f"{tarball} contains no {_CIFAR_FOLDER}/ folder")
        target.mkdir(exist_ok=True)
        for item in extracted.iterdir():
            if item.is_file():
                os.replace(item, target / item.name)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles containers, numbers, bytes and numpy arrays only, all a CIFAR-10 batch holds: any
    other class or function a file names (a planted file's code) is refused, never called."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch does not hold")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickled CIFAR-10 batch (with _BatchUnpickler: a planted file cannot run code)."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise DataFileError(f"Cannot unpickle CIFAR-10 batch {path}: {err}") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: not a CIFAR-10 batch (needs keys b'data' and b'labels')")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFileError(f"{path}: expected uint8 data [N, 3072], got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataFileError(f"{path}: expected {data.shape[0]} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(f"{path}: labels outside 0..9")
    return data, labels


def _load_cifar10(split: str, root: Path) -> ImageSet:
    info = DATASETS["cifar10"]
    folder = _find_cifar_dir(split, root)
    if folder is None:
        for tarball in _cifar_tarballs(root):
            if tarball.is_file():
                _extract_cifar(tarball)
                folder = _find_cifar_dir(split, root)
                break
    if folder is None:
        searched = _cifar_batch_dirs(root) + [t.parent for t in _cifar_tarballs(root)]
        missing = [f"{_CIFAR_TARBALL} (or extracted {_CIFAR_FOLDER}/{', '.join(_CIFAR_BATCHES[split])})"]
        raise DatasetNotFoundError(_missing_message("cifar10", split, missing, searched, root / "cifar10"))
    parts = [_read_cifar_batch(folder / b) for b in _CIFAR_BATCHES[split]]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    # Each row is R(1024) G(1024) B(1024), each channel row-major 32x32: already C,H,W order.
    x = torch.from_numpy(data).float().div_(255.0)
    return ImageSet(x=x, y=torch.from_numpy(labels), image_shape=info.image_shape, num_classes=info.classes)


def _download_cifar10(split: str, root: Path) -> None:
    """Fetch the tarball unless present (it holds both splits)."""
    if any(t.is_file() for t in _cifar_tarballs(root)):
        return
    info = DATASETS["cifar10"]
    _download(info.url, _cifar_tarballs(root)[0], info.md5s[_CIFAR_TARBALL])


# --------------------------------------------------------------------------- digits (offline)


def _load_digits(split: str, root: Path | None = None) -> ImageSet:
    """sklearn's bundled 8x8 digits; per class, the first floor(0.8 n_c) samples in file order are train.

    Bundled with scikit-learn: `root` is unused.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x_all = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
    y_all = torch.as_tensor(bunch.target, dtype=torch.int64)
    num, den = _DIGITS_TRAIN_FRACTION
    is_train = torch.zeros_like(y_all, dtype=torch.bool)
    for c in torch.unique(y_all):
        idx = (y_all == c).nonzero().flatten()
        is_train[idx[: (num * idx.numel()) // den]] = True
    keep = is_train if split == "train" else ~is_train
    info = DATASETS["digits"]
    x, y = x_all[keep].contiguous(), y_all[keep].contiguous()
    return ImageSet(x=x, y=y, image_shape=info.image_shape, num_classes=info.classes)


# --------------------------------------------------------------------------- the table

def _mnist_like(name, torchvision_folder, url, md5s):
    """The entry of an MNIST-like set: 28x28 grey images of 10 classes, 60,000 + 10,000, IDX files."""
    return DatasetInfo(image_shape=(1, 28, 28), classes=10, train_size=60000, test_size=10000,
                       load=functools.partial(_load_mnist_like, name),
                       download=functools.partial(_download_mnist_like, name),
                       url=url, md5s=md5s, torchvision_folder=torchvision_folder)


# Every known data set, in the order error messages list them.
DATASETS: dict[str, DatasetInfo] = {
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
    "cifar10": DatasetInfo(
        image_shape=(3, 32, 32),
        classes=10,
        train_size=50000,
        test_size=10000,
        load=_load_cifar10,
        download=_download_cifar10,
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5s={_CIFAR_TARBALL: "c58f30108f718f92721af3b95e74349a"},
    ),
    "digits": DatasetInfo(image_shape=(1, 8, 8), classes=10, train_size=1433, test_size=364, load=_load_digits),
}


# --------------------------------------------------------------------------- public loader


def _missing_message(name: str, split: str, missing: Iterable[str], searched: Iterable[Path], put_in: Path) -> str:
    folders = ", ".join(str(p) for p in dict.fromkeys(searched))
    return (
        f"data set '{name}' ({split} split) not found: missing {', '.join(missing)}; searched {folders}; "
        f"put the official files into {put_in} (or set DATA_DIR to the folder that holds them), "
        "or fetch them with main.py --download"
    )


@functools.lru_cache(maxsize=None)
def _load_cached(name: str, split: str, root: str | None) -> ImageSet:
    return DATASETS[name].load(split, None if root is None else Path(root))


def clear_dataset_cache() -> None:
    """Forget data sets parsed so far in this process."""
    _load_cached.cache_clear()


def load_dataset(
    name: str, split: str, data_dir: str | os.PathLike | None = None, download: bool = False
) -> ImageSet:
    """Load `name` (a key of DATASETS), `split` in {train, test}.

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


# --------------------------------------------------------------------------- labels


def _check_labels(y: torch.Tensor) -> None:
    if y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got {y.dtype} {tuple(y.shape)}")


def per_class_subset(y: torch.Tensor, n_per_class: int | None, generator: torch.Generator) -> torch.Tensor:
    """Indices of `n_per_class` random samples of every class in `y`, sorted ascending.

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


def class_subset(y: torch.Tensor, classes: Iterable[int] | torch.Tensor) -> torch.Tensor:
    """Indices (ascending) of the samples whose label is in `classes`."""
    _check_labels(y)
    wanted = torch.as_tensor(list(classes) if not torch.is_tensor(classes) else classes, dtype=y.dtype)
    return torch.isin(y, wanted.to(y.device)).nonzero().flatten()


def one_hot(
    y: torch.Tensor, num_classes: int, off_value: float = 0.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Targets [N, num_classes]: 1 at the label, `off_value` elsewhere (-1 gives +-1 targets)."""
    _check_labels(y)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    out = torch.full((y.shape[0], num_classes), float(off_value), dtype=dtype, device=y.device)
    out.scatter_(1, y.long().unsqueeze(1), 1.0)
    return out


def random_label_permutation(num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of 0..num_classes-1 (on the generator's device)."""
    return torch.randperm(num_classes, generator=generator, device=generator.device)


def relabel(y: torch.Tensor, mapping: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """New labels mapping[y] (e.g. with a permutation from random_label_permutation)."""
    _check_labels(y)
    mapping = torch.as_tensor(mapping, dtype=torch.long).to(y.device)
    if mapping.ndim != 1:
        raise ValueError("mapping must be 1-D")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= mapping.numel()):
        raise ValueError(f"labels must lie in 0..{mapping.numel() - 1} to be relabelled")
    return mapping[y.long()]
