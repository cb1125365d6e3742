"""The results folder: run homes, runs, the trial record, tidy rows and saved weights.

    $RESULTS_DIR/<experiment>/<config>[-<profile>][+<hash of the -o overrides>]/   a run home
        current                  the name of the current run: the last one that completed
        lock                     held (flock) by the launch running in this home; names its pid
        <UTC time>/              one run per launch (Tune's experiment folder)
            run.json             status (running, complete, failed), resolved config, trials, provenance
            members.parquet      every member's flattened config, by trial and member index
            rows.parquet         one row per member and iteration, the member's flattened config as columns
            trial_<id>/          params.json (the trial's index), result.json (the trial records),
                                 checkpoint_*/state.pt: the last saved state of an unfinished trial
                                 checkpoint_*/weights.pt: the final weights, if the config keeps them

<config> is the YAML's name for a file experiments/<experiment>/<config>.yaml, and its name with `@`
and a hash of its content for a file elsewhere (utils.config_names), so that no other file shares a
home with a project config.

A launch never touches earlier runs; `current` moves (atomically) only when a run completes, so a
killed or failed launch leaves the previous complete results in place. One launch at a time runs in
a home: it holds the home's lock, which the system drops when its process ends, however it ends.
Only this module reads or writes these files; a file it cannot read is a ConfigError naming it.

A run folder holds Ray's pickles, which `--resume` loads: results are read only from folders that are
the user's own and that no other user can write (`check_private`); homes are made private (0700), the
lock is opened without following a symbolic link, and `current` must name a run folder of its home.
"""
import contextlib
from datetime import datetime, timezone
import errno
import fcntl
import hashlib
import json
import os
from pathlib import Path
import re
import shutil
import socket
import stat
import sys

import pandas as pd

from utils import ConfigError, apply_override, config_names, flatten, last_line, printable, trial_packs

RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
INFO_FILE, ROWS_FILE, CURRENT_FILE, WEIGHTS_FILE = "run.json", "rows.parquet", "current", "weights.pt"
STATE_FILE = "state.pt"
MEMBERS_FILE, LOCK_FILE = "members.parquet", "lock"
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


# ---------------------------------------------------------------------------------------------
# Homes and runs
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# One launch at a time in a home
# ---------------------------------------------------------------------------------------------
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


def unwritable(path, error):
    """The ConfigError for a results path that cannot be written."""
    return ConfigError(f"RESULTS_DIR={results_dir()}: cannot write {path} ({error.strerror or error}); "
                       "set RESULTS_DIR to a folder you can write")


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


# ---------------------------------------------------------------------------------------------
# Trials and their records
# ---------------------------------------------------------------------------------------------
def trial_keys(trials):
    """The fewest config keys (those with the shortest values first) whose values, in the trials'
    first members, tell the trials apart."""
    flats = [flatten(trial["members"][0]) for trial in trials]
    ordered = list(dict.fromkeys(key for flat in flats for key in flat))
    keys = []
    for key in sorted(ordered, key=lambda k: max(len(str(flat.get(k))) for flat in flats)):
        values = {}
        for flat in flats:
            values.setdefault(tuple(flat.get(k) for k in keys), set()).add(str(flat.get(key)))
        if any(len(seen) > 1 for seen in values.values()):
            keys.append(key)
    return sorted(keys, key=ordered.index)


def trial_label(trial, keys):
    """A trial's name for people, e.g. 'rule=pc, model.num_layers=8', from its packs' first members:
    'model.num_layers=1/2/3', or '=1..7' for more values, where a trial chains several packs."""
    flats = [flatten(pack[0]) for pack in trial_packs(trial)]

    def values(key):
        seen = list(dict.fromkeys(str(flat.get(key)) for flat in flats))
        return "/".join(seen) if len(seen) <= 3 else f"{seen[0]}..{seen[-1]}"
    return ", ".join(f"{key}={values(key)}" for key in keys) or "the only trial"


def trial_report(rows, attempt, done, compute=None):
    """What a trial reports to Tune: columnar `rows` {"iteration": [...], "member": [...], ...},
    the id of this attempt of the trial (a rerun gets a new one), whether the trial is done, and
    `compute`: [start, end] (Unix seconds) of the trial's own work since its previous report."""
    record = {"rows": rows, "done": done, "attempt": attempt, "iterations_done": rows["iteration"][-1] + 1}
    if compute is not None:
        record["compute"] = list(compute)
    return record


def append_rows(chunks, rows):
    """Add a report's columnar rows to `chunks` (a list of columnar row sets): joined to the last
    chunk when they have the same columns, else as a new chunk. Never changes a chunk in place (one
    may be on its way to the driver)."""
    if chunks and chunks[-1].keys() == rows.keys():
        chunks[-1] = {key: chunks[-1][key] + list(values) for key, values in rows.items()}
    else:
        chunks.append({key: list(values) for key, values in rows.items()})


def save_trial_state(folder, state):
    """Write a running trial's state (tensors, numbers and containers of them) into `folder`."""
    import torch
    torch.save(state, Path(folder) / STATE_FILE)


def load_trial_state(checkpoint):
    """The trial state saved in a Tune checkpoint, or None (no checkpoint, or one holding no state
    or an unreadable one: the trial then starts over, saying why on its log). Loaded with
    weights_only, so a planted file can hold data but never run code."""
    import torch
    if checkpoint is None:
        return None
    try:
        with checkpoint.as_directory() as folder:
            path = Path(folder) / STATE_FILE
            return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
    except Exception as error:   # missing, truncated, corrupt or not ours: pickle's, torch's, OS errors
        print(f"{checkpoint.path}: unreadable trial state ({last_line(error)}); the trial starts over",
              file=sys.stderr)
        return None


def drop_trial_states(run):
    """Remove the run's checkpoints that hold a trial's state rather than kept weights (once the run
    is complete, nothing resumes from them)."""
    for folder in Path(run).glob("*/checkpoint_*"):
        if folder.is_dir() and not folder.is_symlink() and not (folder / WEIGHTS_FILE).exists():
            shutil.rmtree(folder)


def compute_span(run, since, until):
    """Seconds within [since, until] in which at least one trial of the run was doing its own work
    (the union of its records' `compute` intervals), and the sum of those intervals: the trials'
    compute as wall time, and as trial-seconds."""
    intervals = sorted((max(start, since), min(end, until)) for _, _, reports in _readable_trials(run)
                       for start, end in (r["compute"] for r in reports if "compute" in r)
                       if end > since and start < until)
    span, total, reach = 0.0, 0.0, since
    for start, end in intervals:
        total += end - start
        span += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return span, total


class DamagedRecord(ConfigError):
    """A trial's record (Tune's result.json or params.json) that cannot be read, e.g. cut short by a
    full disk or a crash: its trial counts as unfinished, and --resume runs it again."""


def _reports(trial_dir):
    """A trial's reports, oldest first (trial_report's records, one JSON line each)."""
    result = Path(trial_dir) / "result.json"
    try:
        lines = result.read_text().splitlines() if result.exists() else []
    except (OSError, UnicodeDecodeError) as error:
        raise DamagedRecord(f"{result}: damaged trial record ({last_line(error)})") from None
    reports = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            report = json.loads(line)
        except ValueError as error:
            raise DamagedRecord(f"{result}: damaged trial record (line {number}: {last_line(error)})") from None
        if not (isinstance(report, dict) and {"rows", "done", "attempt"} <= report.keys()):
            raise DamagedRecord(f"{result}: damaged trial record (line {number} is not a trial report)")
        reports.append(report)
    return reports


def _trial_index(trial_dir):
    """Which trial of the run's grid a trial folder ran (Tune's params.json holds its index)."""
    params = Path(trial_dir) / "params.json"
    try:
        index = json.loads(params.read_text())["trial"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DamagedRecord(f"{params}: damaged trial record ({last_line(error)})") from None
    if not (isinstance(index, int) and index >= 0):
        raise DamagedRecord(f"{params}: damaged trial record (no trial index)")
    return index


def _record(trial_dir):
    """(index in the grid, reports) of a trial folder; a DamagedRecord if either cannot be read."""
    return _trial_index(trial_dir), _reports(trial_dir)


def _readable_trials(run):
    """(folder, index in the grid, reports) of each trial of the run whose record can be read."""
    for trial_dir in _trial_dirs(run):
        try:
            index, reports = _record(trial_dir)
        except DamagedRecord:
            continue
        yield trial_dir, index, reports


def damaged_trials(run):
    """The DamagedRecord of each trial of the run whose record cannot be read, by trial folder."""
    damaged = {}
    for trial_dir in _trial_dirs(run):
        try:
            _record(trial_dir)
        except DamagedRecord as error:
            damaged[trial_dir] = error
    return damaged


def set_aside_damaged(run):
    """Rename the record (result.json) of each trial of the run whose record is damaged to
    result.json.damaged, saying so on stderr, so that its next attempt starts a record of its own;
    returns the names of those trials' folders."""
    damaged = damaged_trials(run)
    for trial_dir, error in damaged.items():
        print(f"note: {printable(error)}; it is set aside and the trial runs again", file=sys.stderr)
        record = trial_dir / "result.json"
        if record.exists():
            record.replace(record.with_name("result.json.damaged"))
    return {trial_dir.name for trial_dir in damaged}


def _finished(reports):
    return bool(reports) and reports[-1]["done"]


def _trial_dirs(run):
    return sorted(path.parent for path in Path(run).glob("*/params.json"))


def write_members(run, trials):
    """members.parquet: every member's flattened config with its trial and member index. The configs
    travel to the trials once, through Ray's object store, and are stored once, here (not in every
    trial's params.json and Tune's experiment state)."""
    table = pd.DataFrame([{"trial": i, "member": m, **flatten(config)}
                          for i, trial in enumerate(trials) for m, config in enumerate(trial["members"])])
    table.to_parquet(Path(run) / MEMBERS_FILE)


def read_trial_rows(trial_dir, members):
    """One trial's tidy rows: its last attempt's reports, one row per member and iteration, with the
    member's flattened config (from `members`, the run's members table) as columns. Empty if the
    trial reported nothing."""
    reports = _reports(trial_dir)
    if not reports:
        return pd.DataFrame()
    last_attempt = reports[-1]["attempt"]
    rows = pd.concat([pd.DataFrame(r["rows"]) for r in reports if r["attempt"] == last_attempt],
                     ignore_index=True)
    configs = members[members["trial"] == _trial_index(trial_dir)].drop(columns="trial")
    rows = rows.merge(configs, on="member", how="left")
    rows.insert(0, "trial_id", Path(trial_dir).name)
    return rows


def collect_rows(run):
    """All trials of a run as one DataFrame; a trial whose record is damaged is left out, saying so
    on stderr (it counts as unfinished, and --resume runs it again)."""
    members = _read_table(Path(run) / MEMBERS_FILE, "it is the run's record of its members: run the config again")
    frames = []
    for trial_dir in _trial_dirs(run):
        try:
            frames.append(read_trial_rows(trial_dir, members))
        except DamagedRecord as error:
            print(f"warning: {printable(error)}; its rows are left out and the trial counts as unfinished "
                  "(--resume runs it again)", file=sys.stderr)
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_rows(run, rows):
    rows.to_parquet(Path(run) / ROWS_FILE)


def load_rows(run):
    """The run's tidy table: rows.parquet, or (for a run that never finished) the trial records."""
    table = Path(run) / ROWS_FILE
    return _read_table(table, "main.py writes it from the trial records, which are read instead once it "
                              "is removed") if table.exists() else collect_rows(run)


def _read_table(path, remedy):
    """A parquet table; a ConfigError naming the file if it cannot be read."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:   # pyarrow's ArrowInvalid is a ValueError
        raise ConfigError(f"{path}: not a readable parquet table ({last_line(error)}); {remedy}") from None


def trial_nodes(run):
    """{trial folder name: the addresses of the nodes its reports came from} (Tune stamps each
    report with its actor's node_ip)."""
    return {trial_dir.name: {report["node_ip"] for report in reports}
            for trial_dir, _, reports in _readable_trials(run)}


def trial_states(run):
    """{trial label: (attempt id of its last report, done, number of reports)} of the trials that
    reported."""
    labels = read_info(run)["trial_labels"]
    return {labels[index]: (reports[-1]["attempt"], reports[-1]["done"], len(reports))
            for _, index, reports in _readable_trials(run) if reports and index < len(labels)}


def trial_progress(run):
    """(trial index, state, iterations done) of each trial of the run that started: state is done (a
    finished record), failed (Tune's error.txt, newer than the last report) or running. Reads only
    the end of each trial's records, so it may be called often while a run goes on."""
    found = []
    for trial_dir in _trial_dirs(run):
        try:
            index = _trial_index(trial_dir)
        except DamagedRecord:
            continue
        last, error, records = _last_report(trial_dir), trial_dir / "error.txt", trial_dir / "result.json"
        if last and last["done"]:
            state = "done"
        elif error.exists() and (last is None or error.stat().st_mtime >= records.stat().st_mtime):
            state = "failed"
        else:
            state = "running"
        found.append((index, state, last["iterations_done"] if last else 0))
    return found


def _last_report(trial_dir, block=1 << 16):
    """The last complete report of a trial (its result.json read from the end), or None."""
    path = Path(trial_dir) / "result.json"
    try:
        with open(path, "rb") as f:
            data, position = b"", f.seek(0, os.SEEK_END)
            while position > 0:
                step = min(block, position)
                position -= step
                f.seek(position)
                data = f.read(step) + data
                complete = data[:data.rfind(b"\n") + 1]   # without a line still being written
                if complete.count(b"\n") >= 2 or (position == 0 and complete.strip()):
                    last = json.loads(complete.rstrip(b"\n").rsplit(b"\n", 1)[-1])
                    return last if isinstance(last, dict) and {"done", "iterations_done"} <= last.keys() else None
    except (OSError, ValueError):
        return None
    return None


def unfinished_trials(run):
    """Labels of the run's trials (run.json's `trial_labels`) without a finished record: never
    started, killed, failed, or with a damaged record."""
    finished = {index for _, index, reports in _readable_trials(run) if _finished(reports)}
    return [label for i, label in enumerate(read_info(run)["trial_labels"]) if i not in finished]


def retried_trials(run):
    """[{"trial": label, "failures": n, "error": first line of the last failure, "finished": bool}]
    for each trial of the run that failed at least once, e.g. on a lost node, and was tried again (or
    given up). Tune appends a "Failure # n (occurred at ...)" header and the error to error.txt."""
    labels, found = read_info(run)["trial_labels"], []
    for trial_dir, index, reports in _readable_trials(run):
        error = trial_dir / "error.txt"
        lines = error.read_text(errors="replace").splitlines() if error.exists() else []
        headers = [i for i, line in enumerate(lines) if line.startswith("Failure # ")]
        if headers and index < len(labels):
            last = next((line.strip() for line in lines[headers[-1] + 1:] if line.strip()), "")
            found.append({"trial": labels[index], "failures": len(headers), "error": last,
                          "finished": _finished(reports)})
    return found


# ---------------------------------------------------------------------------------------------
# Saved weights
# ---------------------------------------------------------------------------------------------
def save_weights(folder, state):
    """Write a trial's packed weights into `folder`: state = {"weights": [...], "biases": [...]},
    per layer a CPU tensor [members, out, in] / [members, 1, out] (a bias may be None)."""
    import torch
    torch.save(state, Path(folder) / WEIGHTS_FILE)


def weights_file(run_ref):
    """The weights file saved by the current (complete) run of '<experiment>/<run name>'."""
    hint = f"run the config that produces {run_ref} (with save_weights: true, one trial) first"
    run = check_home(results_dir() / run_ref)
    if run is None:
        raise ConfigError(f"no complete run of {run_ref} under {results_dir()}; {hint}")
    found = sorted(run.glob(f"*/checkpoint_*/{WEIGHTS_FILE}"))
    if len(found) != 1:
        raise ConfigError(f"{len(found)} saved weight files in {run} (expected one); {hint}")
    return found[0]


def load_weights(run_ref, member):
    """(weights, biases) of one member of the current run of '<experiment>/<run name>': lists over
    layers of [out, in] / [1, out] tensors (None for a layer without bias). Loaded with weights_only,
    so a planted file can hold data but never run code."""
    import torch
    path = weights_file(run_ref)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        weights, biases = saved["weights"], saved["biases"]
    except Exception as error:   # truncated, corrupt or not ours: pickle's, torch's, OS errors
        raise ConfigError(f"{path}: unreadable saved weights ({last_line(error)}); run the config that produces "
                          f"{run_ref} again") from None
    return [w[member] for w in weights], [None if b is None else b[member] for b in biases]
