"""Run homes and their runs: where a config's runs live, which run is current, and run.json.

A home is $RESULTS_DIR/<experiment>/<config>[-<profile>][+<hash of the -o overrides>]/; each launch
writes a run folder into it, named by its launch's UTC time, holding run.json (the run's record).
`current` names the last run that completed. The layout: results.py.

A run folder holds Ray's pickles, which `--resume` loads: results are read only from folders that are
the user's own and that no other user can write (`check_private`); homes are made private (0700), and
`current` must name a run folder of its home.
"""
from datetime import datetime, timezone
import hashlib
import json
import os
from pathlib import Path
import re
import stat

from terminal import last_line, printable
from utils import ConfigError, apply_override, config_names

RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
INFO_FILE, CURRENT_FILE = "run.json", "current"
INFO_KEYS = ("status", "config_file", "resolved", "trial_labels")   # what every reader of run.json needs
RUN_NAME = re.compile(r"\d{8}T\d{6}\.\d{6}Z")   # a run folder's name: its launch's UTC time
PROFILE_NAME = re.compile(r"\w[\w.-]*")         # a profile, as a home's name carries it
NAME_MAX = 255                                  # bytes in a folder's name (Linux, macOS)


def results_dir():
    """$RESULTS_DIR, default ./results (absolute); a ConfigError if it is set but empty."""
    folder = os.environ.get("RESULTS_DIR", "results")
    if not folder:
        raise ConfigError("RESULTS_DIR is set but empty; unset it for ./results, or set it to a folder")
    return Path(folder).expanduser().resolve()


def override_tag(overrides):
    """'' without overrides, else '+' and 8 hex digits of a hash of the overrides, each parsed as
    key path and YAML value (so `-o a.b=1.0` and `-o a.b= 1.0` agree), in their order."""
    if not overrides:
        return ""
    parsed = []
    for assignment in overrides:
        doc = {}
        apply_override(doc, assignment)
        parsed.append(doc)
    canonical = json.dumps(parsed, sort_keys=True, default=str)
    return "+" + hashlib.sha256(canonical.encode()).hexdigest()[:8]


def run_home(config_path, profile=None, overrides=()):
    """The home of the runs of a YAML with this profile and these overrides."""
    if profile is not None and not PROFILE_NAME.fullmatch(profile):
        raise ConfigError(f"--profile {printable(profile)!r}: not a profile name; a name is letters, digits, "
                          "_, - and . (not first)")
    experiment, config = config_names(config_path)
    name = config + (f"-{profile}" if profile else "") + override_tag(overrides)
    if len(name.encode()) > NAME_MAX:
        raise ConfigError(f"{config_path}: the name of its run home, {len(name.encode())} bytes, is longer than a "
                          f"folder name may be ({NAME_MAX}); give the file{' or the profile' if profile else ''} "
                          "a shorter name")
    return results_dir() / experiment / name


def check_home(home):
    """The checks of a home before it is used (also by a dry run): the home and its experiment folder,
    where they exist, are private (check_private), and so is the current run, which `current` must
    name. Returns the current run (current_run)."""
    for folder in (Path(home).parent, Path(home)):
        if os.path.lexists(folder):
            check_private(folder)
    return current_run(home)


def check_private(folder):
    """A results folder the user may trust, Ray's pickles in it included: a real folder (no symbolic
    link), the user's own, which no other user can write. A ConfigError naming it otherwise."""
    try:
        st = os.lstat(folder)
    except OSError as error:
        raise ConfigError(f"{folder}: cannot read it ({error.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{folder}: not a folder but a {'symbolic link' if stat.S_ISLNK(st.st_mode) else 'file'}; "
                          "results are read from real folders only: remove it")
    if st.st_uid != os.geteuid():
        raise ConfigError(f"{folder}: owned by user id {st.st_uid}, not by you ({os.geteuid()}); main.py and "
                          "analysis_v1.py use your own results only (set RESULTS_DIR to your own folder)")
    if st.st_mode & stat.S_IWOTH:
        raise ConfigError(f"{folder}: any user can write into it (mode {stat.S_IMODE(st.st_mode):o}), so its content "
                          "may not be what main.py wrote; check it, then `chmod o-w` it, or remove it")


def make_home(home):
    """Create the home (and its experiment folder) private to the user, 0700, if it does not exist."""
    home = Path(home)
    try:
        home.parent.parent.mkdir(parents=True, exist_ok=True)
        for folder in (home.parent, home):
            folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as error:
        raise unwritable(home, error) from None
    check_home(home)


def runs(home):
    """The runs in a home, oldest first: the folders named by their launch time that hold a run.json."""
    home = Path(home)
    found = home.iterdir() if home.is_dir() and not home.is_symlink() else []
    return sorted(path for path in found if RUN_NAME.fullmatch(path.name) and not path.is_symlink()
                  and (path / INFO_FILE).is_file())


def new_run(home):
    """Create the folder of a new run (private to the user), named by the current UTC time."""
    path = Path(home) / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    try:
        make_home(home)
        path.mkdir(mode=0o700)
    except OSError as error:
        raise unwritable(path, error) from None
    return path


def newest_run(home):
    """The newest run of a home and its run.json, or (None, None) if it has none; the run must be
    private (check_private)."""
    found = runs(home)
    if not found:
        return None, None
    check_private(found[-1])
    return found[-1], read_info(found[-1])


def run_to_resume(home):
    """The newest run if it did not complete; a ConfigError otherwise."""
    run, info = newest_run(home)
    if run is None:
        raise ConfigError(f"--resume: no run to resume under {home}")
    if info["status"] == COMPLETE:
        raise ConfigError(f"--resume: nothing to resume: the newest run {run} is complete")
    return run


def complete_runs(home, warn=None):
    """The runs in a home that completed, oldest first. A run whose run.json cannot be read is left
    out, and `warn` (a function, if given) is told why."""
    complete = []
    for run in runs(home):
        try:
            if read_info(run)["status"] == COMPLETE:
                complete.append(run)
        except ConfigError as error:
            if warn:
                warn(str(error))
    return complete


def current_run(home):
    """The home's current run (the last that completed), or None when no run completed yet. A
    ConfigError naming `current` when it does not name a private run folder of this home."""
    pointer = Path(home) / CURRENT_FILE
    name = _read_pointer(pointer)
    if name is None:
        return None
    run = Path(home) / name
    if not (RUN_NAME.fullmatch(name) and run in runs(home)):
        complete = ", ".join(run.name for run in complete_runs(home)) or "none"
        raise ConfigError(f"{pointer}: names {printable(name[:40])!r}, not a run folder of this home; its complete "
                          f"runs: {complete}; write the name of one into it, or remove it")
    check_private(run)
    return run


def _read_pointer(path, size=64):
    """The stripped text of `current` (None if there is none), read without following a symbolic link
    and only from a small regular file; a ConfigError naming it otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:   # ELOOP: a symbolic link
        raise ConfigError(f"{path}: cannot read it ({error.strerror}); it should be a file naming the "
                          "current run: remove it") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: not a file; it should be a file naming the current run: remove it")
        return os.read(fd, size).decode("ascii", errors="replace").strip()
    finally:
        os.close(fd)


def set_current(home, run):
    """Make `run` the home's current run (an atomic replace of the pointer file)."""
    _write_atomic(Path(home) / CURRENT_FILE, Path(run).name + "\n")


def write_info(run, info):
    """Write run.json (atomically: a reader sees the old or the new file, never half of one)."""
    _write_atomic(Path(run) / INFO_FILE, json.dumps(info, indent=1, default=str))


def read_info(run):
    """run.json as a dict; a ConfigError naming the file if it is not a run record."""
    path = Path(run) / INFO_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path}: unreadable run record ({last_line(error)}); expected the JSON "
                          "file main.py writes") from None
    missing = [key for key in INFO_KEYS if not isinstance(info, dict) or key not in info]
    if missing or info["status"] not in (RUNNING, COMPLETE, FAILED):
        problem = f"lacks {', '.join(missing)}" if missing else f"has status {info['status']!r}"
        raise ConfigError(f"{path}: not a run record: it {problem}; expected a mapping with "
                          f"{', '.join(INFO_KEYS)} and status {RUNNING}, {COMPLETE} or {FAILED}")
    return info


def _write_atomic(path, text):
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def unwritable(path, error):
    """The ConfigError for a results path that cannot be written."""
    return ConfigError(f"RESULTS_DIR={results_dir()}: cannot write {path} ({error.strerror or error}); "
                       "set RESULTS_DIR to a folder you can write")
