"""A run's trial records: what each trial reports to Tune and saves, read back as tidy rows.

    <run>/members.parquet    every member's flattened config, by trial and member index
    <run>/rows.parquet       one row per member and iteration, the member's flattened config as columns
    <run>/trial_<id>/        params.json (the trial's index), result.json (the trial's reports),
                             checkpoint_*/state.pt: the last saved state of an unfinished trial
                             checkpoint_*/weights.pt: the final weights, if the config keeps them

A record that cannot be read is a ConfigError (a DamagedRecord for a trial's own) naming the file.
"""
import json
import os
from pathlib import Path
import shutil
import sys

import pandas as pd

from results_homes import check_home, read_info, results_dir
from terminal import last_line, printable
from utils import ConfigError, flatten, trial_packs

ROWS_FILE, MEMBERS_FILE, STATE_FILE, WEIGHTS_FILE = "rows.parquet", "members.parquet", "state.pt", "weights.pt"


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
