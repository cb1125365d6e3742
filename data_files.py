"""The files of the data sets: the data root, MD5 checksums, downloads, and the errors about files.

A file with a published MD5 is checked before it is decoded (verify_md5); a download is written
beside its destination under a temporary name and renamed only once its MD5 matches. Every error
names the file it is about and what to do. What the files hold is data_formats.py's business.
"""
import contextlib
import functools
import hashlib
import os
from pathlib import Path
import shutil
import tempfile
import urllib.request

CHUNK = 1 << 20                      # bytes read or copied at a time when hashing or downloading
MD5_CACHE = 256                      # files whose MD5 is remembered (keyed by path, mtime and size)
DOWNLOAD_TIMEOUT_S = 120
USER_AGENT = "data_utils/1.0"
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
# Paths and checksums
# ---------------------------------------------------------------------------------------------
def resolve_data_dir(data_dir=None):
    """The data root: `data_dir`, else the environment's DATA_DIR, else ./data; made absolute."""
    if data_dir is None:
        data_dir = os.environ.get("DATA_DIR") or "data"
    return Path(data_dir).expanduser().absolute()


def missing_message(name, split, missing, searched, put_in):
    """What is missing, where it was looked for, and how to get it."""
    folders = ", ".join(str(p) for p in dict.fromkeys(searched))
    return (f"data set '{name}' ({split} split) not found: missing {', '.join(missing)}; searched {folders}; "
            f"put the official files into {put_in} (or set DATA_DIR to the folder that holds them), "
            f"or fetch them with {FETCH_HINT}")


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



# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------
def download(url, dest, expected_md5):
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
