"""Tests for data_utils: file formats written to tmp_path, offline digits, label-stream helpers."""

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import data_files
import data_utils as du

LABELS7 = [3, 1, 4, 1, 5, 9, 2]


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x00000803 for 3-D, big-endian dims)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def mnist_images(n: int = 7, offset: int = 0) -> np.ndarray:
    i, h, w = np.meshgrid(np.arange(n), np.arange(28), np.arange(28), indexing="ij")
    return ((i * 31 + h * 7 + w * 3 + offset) % 256).astype(np.uint8)


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist_split(folder: Path, split: str, images: np.ndarray, labels, gz: bool = True) -> list:
    prefix = "train" if split == "train" else "t10k"
    return [
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz),
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.asarray(labels, dtype=np.uint8), gz),
    ]


def trust(monkeypatch, name: str, paths) -> None:
    """Make the md5 table accept our synthetic .gz files."""
    for p in paths:
        if p.suffix == ".gz":
            monkeypatch.setitem(du.DATASETS[name].md5s, p.name, hashlib.md5(p.read_bytes()).hexdigest())


@pytest.fixture(autouse=True)
def _fresh_cache():
    du.clear_dataset_cache()
    yield
    du.clear_dataset_cache()


# ----------------------------------------------------------------------------- paths


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert du.resolve_data_dir() == tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "env"))
    assert du.resolve_data_dir() == tmp_path / "env"
    assert du.resolve_data_dir("rel") == tmp_path / "rel"
    assert du.resolve_data_dir("rel").is_absolute()


def test_unknown_name_and_split_list_allowed_values(tmp_path):
    with pytest.raises(ValueError, match="fashion_mnist.*mnist.*cifar10.*digits"):
        du.load_dataset("svhn", "train", tmp_path)
    with pytest.raises(ValueError, match="train, test"):
        du.load_dataset("mnist", "val", tmp_path)


# ----------------------------------------------------------------------------- the table


def test_the_table_describes_the_bundled_digits_as_loaded():
    info = du.DATASETS["digits"]
    train, test = du.load_dataset("digits", "train"), du.load_dataset("digits", "test")
    assert (len(train), len(test)) == (info.train_size, info.test_size)
    assert info.dims == (train.x.shape[1], train.num_classes) == (64, 10)
    assert train.image_shape == info.image_shape


def test_every_downloadable_set_names_its_source_and_the_md5_of_each_official_file():
    idx_files = {f"{prefix}-{kind}.gz" for prefix in ("train", "t10k")
                 for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")}
    assert set(du.DATASETS["mnist"].md5s) == set(du.DATASETS["fashion_mnist"].md5s) == idx_files
    assert set(du.DATASETS["cifar10"].md5s) == {"cifar-10-python.tar.gz"}
    for name, info in du.DATASETS.items():
        assert (info.download is None) == (info.url == "") == (not info.md5s), name
        assert all(len(md5) == 32 for md5 in info.md5s.values())


# ----------------------------------------------------------------------------- MNIST-like


def test_mnist_gzip_idx_read_back_exactly(tmp_path, monkeypatch):
    images = mnist_images()
    test_images = mnist_images(3, offset=100)
    paths = write_mnist_split(tmp_path / "mnist", "train", images, LABELS7)
    paths += write_mnist_split(tmp_path / "mnist", "test", test_images, [0, 8, 7])
    trust(monkeypatch, "mnist", paths)

    ds = du.load_dataset("mnist", "train", data_dir=tmp_path)
    assert ds.image_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
    expected = torch.from_numpy(images.reshape(7, 784).astype(np.float32)) / 255.0
    assert torch.equal(ds.x, expected)
    assert ds.y.tolist() == LABELS7
    assert ds.x[2, 28 * 5 + 4].item() == pytest.approx(((2 * 31 + 5 * 7 + 4 * 3) % 256) / 255.0)

    test = du.load_dataset("mnist", "test", data_dir=tmp_path)
    assert test.y.tolist() == [0, 8, 7]
    assert torch.equal(test.x, torch.from_numpy(test_images.reshape(3, 784).astype(np.float32)) / 255.0)


def test_load_is_cached_per_path(tmp_path, monkeypatch):
    trust(monkeypatch, "mnist", write_mnist_split(tmp_path / "a" / "mnist", "train", mnist_images(), LABELS7))
    write_mnist_split(tmp_path / "b" / "mnist", "train", mnist_images(2), [7, 7], gz=False)
    first = du.load_dataset("mnist", "train", data_dir=tmp_path / "a")
    assert du.load_dataset("mnist", "train", data_dir=tmp_path / "a") is first
    assert du.load_dataset("mnist", "train", data_dir=tmp_path / "b").y.tolist() == [7, 7]


def test_an_image_set_moved_to_a_device_holds_the_same_images_there():
    digits = du.load_dataset("digits", "test")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    moved = digits.to(device)
    assert moved.x.device.type == device.type and moved.y.device.type == device.type
    assert torch.equal(moved.x.cpu(), digits.x) and torch.equal(moved.y.cpu(), digits.y)
    assert (moved.image_shape, moved.num_classes) == (digits.image_shape, digits.num_classes)


def test_torchvision_fashion_layout_found(tmp_path, monkeypatch):
    paths = write_mnist_split(tmp_path / "FashionMNIST" / "raw", "test", mnist_images(), LABELS7)
    trust(monkeypatch, "fashion_mnist", paths)
    ds = du.load_dataset("fashion_mnist", "test", data_dir=tmp_path)
    assert ds.y.tolist() == LABELS7
    assert ds.x[6, 0].item() == pytest.approx((6 * 31 % 256) / 255.0)


def test_uncompressed_idx_in_torchvision_layout(tmp_path, monkeypatch):
    write_mnist_split(tmp_path / "MNIST" / "raw", "train", mnist_images(), LABELS7, gz=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    ds = du.load_dataset("mnist", "train")
    assert ds.y.tolist() == LABELS7
    assert torch.equal(ds.x[0].reshape(28, 28)[1], torch.from_numpy(mnist_images()[0, 1].astype(np.float32)) / 255)


def test_own_folder_searched_before_torchvision_layout(tmp_path):
    write_mnist_split(tmp_path / "mnist", "train", mnist_images(2), [7, 7], gz=False)
    write_mnist_split(tmp_path / "MNIST" / "raw", "train", mnist_images(), LABELS7, gz=False)
    assert du.load_dataset("mnist", "train", data_dir=tmp_path).y.tolist() == [7, 7]


def test_gzip_preferred_over_uncompressed_and_extra_bytes_rejected(tmp_path, monkeypatch):
    folder = tmp_path / "MNIST" / "raw"
    trust(monkeypatch, "mnist", write_mnist_split(folder, "train", mnist_images(), LABELS7))
    raw = write_mnist_split(folder, "train", mnist_images(2), [7, 7], gz=False)
    assert du.load_dataset("mnist", "train", data_dir=tmp_path).y.tolist() == LABELS7
    raw[1].write_bytes(raw[1].read_bytes() + b"\x00")
    with pytest.raises(du.DataFileError, match="train-labels-idx1-ubyte"):
        du.read_idx(raw[1])


def test_truncated_idx_names_the_file(tmp_path):
    path = write_mnist_split(tmp_path / "mnist", "train", mnist_images(), LABELS7, gz=False)[0]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(du.DataFileError, match="train-images-idx3-ubyte.*truncated"):
        du.load_dataset("mnist", "train", data_dir=tmp_path)


def test_truncated_gzip_and_bad_magic(tmp_path):
    gz = write_idx(tmp_path / "x-idx3-ubyte", mnist_images())
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(du.DataFileError, match="x-idx3-ubyte.gz"):
        du.read_idx(gz)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(du.DataFileError, match="magic"):
        du.read_idx(bad)


def test_an_idx_file_cut_inside_its_header_names_the_file(tmp_path):
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">I", 7))   # 3 dimensions, 1 size given
    with pytest.raises(du.DataFileError, match="cut-idx3-ubyte is truncated inside its header"):
        du.read_idx(path)


def test_mnist_labels_must_be_one_per_image(tmp_path):
    folder = tmp_path / "mnist"
    write_idx(folder / "train-images-idx3-ubyte", mnist_images(), gz=False)
    write_idx(folder / "train-labels-idx1-ubyte", np.asarray(LABELS7[:5], dtype=np.uint8), gz=False)
    with pytest.raises(du.DataFileError, match="train-labels-idx1-ubyte: expected 7 labels, got shape"):
        du.load_dataset("mnist", "train", data_dir=tmp_path)


def test_read_idx_multibyte_big_endian(tmp_path):
    arr = np.array([[1, -2], [300, 70000]], dtype=">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 2) + arr.tobytes())
    out = du.read_idx(path)
    assert out.dtype == torch.int32 and out.tolist() == [[1, -2], [300, 70000]]


def test_checksum_mismatch_reports_expected_and_actual(tmp_path):
    paths = write_mnist_split(tmp_path / "mnist", "train", mnist_images(), LABELS7)
    actual = hashlib.md5(paths[0].read_bytes()).hexdigest()
    expected = du.DATASETS["mnist"].md5s["train-images-idx3-ubyte.gz"]
    with pytest.raises(du.ChecksumError) as info:
        du.load_dataset("mnist", "train", data_dir=tmp_path)
    msg = str(info.value)
    assert expected in msg and actual in msg and "train-images-idx3-ubyte.gz" in msg and "delete" in msg


def test_missing_dataset_lists_searched_folders(tmp_path):
    with pytest.raises(du.DatasetNotFoundError) as info:
        du.load_dataset("fashion_mnist", "train", data_dir=tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    for needle in (str(tmp_path / "fashion_mnist"), str(tmp_path / "FashionMNIST" / "raw"),
                   "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "main.py --download"):
        assert needle in msg
    with pytest.raises(du.DatasetNotFoundError) as info:
        du.load_dataset("cifar10", "test", data_dir=tmp_path)
    assert str(tmp_path / "cifar10" / "cifar-10-batches-py") in str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)


def test_no_download_without_flag_and_download_with_flag(tmp_path, monkeypatch):
    images, labels = mnist_images(), np.asarray(LABELS7, dtype=np.uint8)
    served = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels)),
    }
    requested = []

    def fake_urlopen(request, timeout=None):
        url = request.full_url
        requested.append(url)
        return io.BytesIO(served[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data_files.urllib.request, "urlopen", fake_urlopen)
    for fname, blob in served.items():
        monkeypatch.setitem(du.DATASETS["mnist"].md5s, fname, hashlib.md5(blob).hexdigest())
    with pytest.raises(du.DatasetNotFoundError):
        du.load_dataset("mnist", "train", data_dir=tmp_path)
    assert requested == []
    ds = du.load_dataset("mnist", "train", data_dir=tmp_path, download=True)
    assert all(u.startswith(du.DATASETS["mnist"].url) for u in requested) and len(requested) == 2
    assert ds.y.tolist() == LABELS7
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(served)


def test_download_with_bad_checksum_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data_files.urllib.request, "urlopen", lambda request, timeout=None: io.BytesIO(b"not mnist"))
    with pytest.raises(du.ChecksumError, match=f"checksum mismatch for {du.DATASETS['mnist'].url}t10k-images"):
        du.load_dataset("mnist", "test", data_dir=tmp_path, download=True)
    assert not (tmp_path / "mnist").exists()   # neither the file nor the folder made for it


def test_a_failed_download_names_the_url_and_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    def unreachable(request, timeout=None):
        raise data_files.urllib.error.URLError("no route to host")
    monkeypatch.setattr(data_files.urllib.request, "urlopen", unreachable)
    url = du.DATASETS["mnist"].url + "t10k-images-idx3-ubyte.gz"
    dest = tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(du.DownloadError, match=f"cannot download {url} to {dest}: no route to host"):
        du.load_dataset("mnist", "test", data_dir=tmp_path / "data", download=True)
    assert list(tmp_path.iterdir()) == []   # no file, no partial file, no folder made for them


# ----------------------------------------------------------------------------- CIFAR-10


def cifar_batch(n: int, seed: int):
    """Rows in the official layout: R plane (32x32 row-major), then G, then B."""
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    rows = np.stack([np.concatenate([planes[i, 0].ravel(), planes[i, 1].ravel(), planes[i, 2].ravel()])
                     for i in range(n)])
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return {b"batch_label": b"x", b"data": rows, b"labels": labels}, planes, labels


def write_cifar(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        batch, planes, labels = cifar_batch(3, seed=k)
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        batches[name] = (planes, labels)
    return batches


def test_cifar10_batches_read_in_chw_order(tmp_path):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    train = du.load_dataset("cifar10", "train", data_dir=tmp_path)
    assert train.image_shape == (3, 32, 32) and train.x.shape == (15, 3072) and train.num_classes == 10
    planes = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert train.y.tolist() == labels
    imgs = train.x.view(15, 3, 32, 32)
    assert torch.equal(imgs, torch.from_numpy(planes.astype(np.float32)) / 255.0)
    assert imgs[4, 1, 2, 5].item() == pytest.approx(planes[4, 1, 2, 5] / 255.0)  # green, row 2, col 5
    test = du.load_dataset("cifar10", "test", data_dir=tmp_path)
    assert test.y.tolist() == batches["test_batch"][1]


def test_cifar10_bad_shape_is_rejected(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 1024), dtype=np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(du.DataFileError, match="3072"):
        du.load_dataset("cifar10", "test", data_dir=tmp_path)


def test_cifar10_tarball_is_verified_and_extracted(tmp_path, monkeypatch):
    src = tmp_path / "src"
    batches = write_cifar(src / "cifar-10-batches-py")
    tarball = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    with pytest.raises(du.ChecksumError, match="c58f30108f718f92721af3b95e74349a"):
        du.load_dataset("cifar10", "test", data_dir=tmp_path)
    monkeypatch.setitem(du.DATASETS["cifar10"].md5s, tarball.name, hashlib.md5(tarball.read_bytes()).hexdigest())
    test = du.load_dataset("cifar10", "test", data_dir=tmp_path)
    assert test.y.tolist() == batches["test_batch"][1]
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_5").is_file()


@pytest.mark.parametrize("kind", ["symlink", "parent"])
def test_a_cifar10_tarball_with_a_link_or_a_path_out_of_its_folder_is_refused_before_extracting(
        tmp_path, monkeypatch, kind):
    src = tmp_path / "src"
    write_cifar(src / "cifar-10-batches-py")
    tarball = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        member = tarfile.TarInfo("cifar-10-batches-py/link" if kind == "symlink" else "cifar-10-batches-py/../x")
        if kind == "symlink":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(member)
        else:
            tar.addfile(member, io.BytesIO(b""))
    monkeypatch.setitem(du.DATASETS["cifar10"].md5s, tarball.name, hashlib.md5(tarball.read_bytes()).hexdigest())
    with pytest.raises(du.DataFileError, match="unexpected member 'cifar-10-batches-py/"):
        du.load_dataset("cifar10", "test", data_dir=tmp_path)
    assert sorted(p.name for p in tarball.parent.iterdir()) == [tarball.name]   # nothing extracted


@pytest.mark.parametrize("labels,message", [([0, 10], "labels outside 0..9"), ([0], "expected 2 labels")])
def test_a_cifar10_batch_needs_one_label_of_the_ten_classes_per_image(tmp_path, labels, message):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": labels}, f)
    with pytest.raises(du.DataFileError, match=f"test_batch: {message}"):
        du.load_dataset("cifar10", "test", data_dir=tmp_path)


# ----------------------------------------------------------------------------- digits


def test_digits_offline_stratified_deterministic_split(tmp_path):
    from sklearn.datasets import load_digits

    train = du.load_dataset("digits", "train", data_dir=tmp_path / "does-not-exist")
    test = du.load_dataset("digits", "test")
    assert train.image_shape == (1, 8, 8) and train.num_classes == 10
    assert len(train) + len(test) == 1797
    for ds in (train, test):
        assert ds.x.min().item() == 0.0 and ds.x.max().item() == 1.0
        assert sorted(ds.y.unique().tolist()) == list(range(10))
    ref = load_digits()
    train_rows, test_rows = [], []
    for c in range(10):
        idx = np.flatnonzero(ref.target == c)
        k = (4 * len(idx)) // 5
        assert int((train.y == c).sum()) == k
        train_rows += idx[:k].tolist()
        test_rows += idx[k:].tolist()
    assert not set(train_rows) & set(test_rows)
    expected_train = torch.tensor(ref.data[sorted(train_rows)], dtype=torch.float32) / 16
    expected_test = torch.tensor(ref.data[sorted(test_rows)], dtype=torch.float32) / 16
    assert torch.equal(train.x, expected_train) and torch.equal(test.x, expected_test)
    assert train.y.tolist() == ref.target[sorted(train_rows)].tolist()
    du.clear_dataset_cache()
    assert torch.equal(du.load_dataset("digits", "test").x, test.x)


# ----------------------------------------------------------------------------- label streams


def make_labels():
    counts = {0: 10, 1: 12, 2: 6, 3: 11}
    y = torch.cat([torch.full((n,), c) for c, n in counts.items()])
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(123))]


def test_per_class_subset_counts_and_seeding():
    y = make_labels()
    idx = du.per_class_subset(y, 5, torch.Generator().manual_seed(0))
    assert idx.dtype == torch.long and idx.numel() == 20
    assert torch.equal(idx, torch.sort(idx).values) and idx.unique().numel() == 20
    assert torch.bincount(y[idx]).tolist() == [5, 5, 5, 5]
    again = du.per_class_subset(y, 5, torch.Generator().manual_seed(0))
    other = du.per_class_subset(y, 5, torch.Generator().manual_seed(1))
    assert torch.equal(idx, again)
    assert not torch.equal(idx, other)
    assert torch.equal(du.per_class_subset(y, None, torch.Generator()), torch.arange(len(y)))
    with pytest.raises(ValueError, match="class 2"):
        du.per_class_subset(y, 7, torch.Generator().manual_seed(0))


def test_class_subset():
    y = torch.tensor([0, 3, 1, 3, 2, 0])
    assert du.class_subset(y, [0, 3]).tolist() == [0, 1, 3, 5]
    assert du.class_subset(y, torch.tensor([2])).tolist() == [4]
    assert du.class_subset(y, []).tolist() == []


def test_one_hot_with_minus_one_off_value():
    out = du.one_hot(torch.tensor([2, 0]), 3, off_value=-1.0)
    assert out.dtype == torch.float32
    assert out.tolist() == [[-1.0, -1.0, 1.0], [1.0, -1.0, -1.0]]
    assert du.one_hot(torch.tensor([1]), 3).tolist() == [[0.0, 1.0, 0.0]]
    with pytest.raises(ValueError):
        du.one_hot(torch.tensor([3]), 3)


def test_random_label_permutation_and_relabel():
    perm = du.random_label_permutation(10, torch.Generator().manual_seed(5))
    assert sorted(perm.tolist()) == list(range(10))
    assert torch.equal(perm, du.random_label_permutation(10, torch.Generator().manual_seed(5)))
    assert not torch.equal(perm, torch.arange(10))
    y = torch.tensor([0, 1, 2, 1])
    assert du.relabel(y, [2, 0, 1]).tolist() == [2, 0, 1, 0]
    assert du.relabel(y, torch.tensor([2, 0, 1])).dtype == torch.long
    assert torch.equal(du.relabel(torch.arange(10), perm), perm)
