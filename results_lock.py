"""One launch at a time in a run home: the home's `lock` file, held (flock) by the launch running
there and naming its pid.

The system drops an flock when its process ends, however it ends, so a lock is never left held by a
launch that is gone. The file is opened without following a symbolic link.
"""
import contextlib
from datetime import datetime, timezone
import errno
import fcntl
import json
import os
from pathlib import Path
import socket
import stat
import sys

from results_homes import make_home, unwritable
from utils import ConfigError

LOCK_FILE = "lock"


@contextlib.contextmanager
def locked(home):
    """Hold the home's lock for the block: a second launch on the same home gets a ConfigError naming
    the owner (pid, host, since, command). The lock is an flock, so the system drops it when its
    process ends, even by kill -9; a lock file left with an owner but no flock is stale and taken
    over. The file stays (empty when free): removing it could let two launches lock two files. It is
    opened without following a symbolic link: a link planted there never has its target truncated."""
    make_home(home)
    fd = _open_lock(Path(home) / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(_in_use(home, _owner(fd))) from None
        if os.pread(fd, 1, 0):
            print(f"note: taking over the stale lock of a launch that ended without releasing it "
                  f"({_owner(fd)})", file=sys.stderr)
        _rewrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        try:
            yield
        finally:
            _rewrite(fd, "")
    finally:
        os.close(fd)   # drops the flock


def _open_lock(path, flags):
    """A file descriptor of the lock file, opened without following a symbolic link; a ConfigError
    naming it if it cannot be, or is not a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ConfigError(f"{path}: a symbolic link, not the lock file main.py makes; remove it") from None
        raise unwritable(path, error) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{path}: not a file, so not the lock file main.py makes; remove it")
    return fd


def ensure_free(home):
    """A ConfigError naming the launch that holds the home's lock, if one does: checked before a
    launch's own checks (which can take minutes), which `locked` then repeats when it takes the lock."""
    owner = lock_owner(home)
    if owner:
        raise ConfigError(_in_use(home, owner))


def _in_use(home, owner):
    return f"{home} is in use by another launch ({owner}); wait for it to finish or stop it, then launch again"


def lock_owner(home):
    """Who holds the home's lock ('pid ... on ...'), or None when it is free."""
    path = Path(home) / LOCK_FILE
    if not os.path.lexists(path):
        return None
    fd = _open_lock(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _owner(fd)
    finally:
        os.close(fd)


def _owner(fd):
    """The owner a lock file names, for people."""
    try:
        owner = json.loads(os.pread(fd, 4096, 0))
        return f"pid {owner['pid']} on {owner['host']}, since {owner['since']}: {owner['command']}"
    except (ValueError, KeyError, TypeError):
        return "owner unknown"


def _rewrite(fd, text):
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
