"""The results folder: run homes, runs, the trial record, tidy rows and saved weights.

    $RESULTS_DIR/<experiment>/<config>[-<profile>][+<hash of the -o overrides>]/   a run home
        current                  the name of the current run: the last one that completed
        <UTC time>/              one run per launch (Tune's experiment folder)
            run.json             status (running, complete, failed), resolved config, trials, provenance
            members.parquet      every member's flattened config, by trial and member index
            rows.parquet         one row per member and iteration, the member's flattened config as columns
            trial_<id>/          params.json (the trial's index), result.json (the trial records),
                                 checkpoint_*/weights.pt

A launch never touches earlier runs; `current` moves (atomically) only when a run completes, so a
killed or failed launch leaves the previous complete results in place. Only this module reads or
writes these files.
"""
from datetime import datetime, timezone
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from utils import ConfigError, apply_override, flatten, run_names

RUNNING, COMPLETE, FAILED = "running", "complete", "failed"
INFO_FILE, ROWS_FILE, CURRENT_FILE, WEIGHTS_FILE = "run.json", "rows.parquet", "current", "weights.pt"
MEMBERS_FILE = "members.parquet"


def results_dir():
    """$RESULTS_DIR, default ./results (absolute)."""
    return Path(os.environ.get("RESULTS_DIR", "results")).resolve()


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
    experiment, name = run_names(config_path, profile)
    return results_dir() / experiment / (name + override_tag(overrides))


def runs(home):
    """The runs in a home, oldest first (a run is a folder holding run.json)."""
    return sorted(path.parent for path in Path(home).glob(f"*/{INFO_FILE}"))


def new_run(home):
    """Create the folder of a new run, named by the current UTC time."""
    path = Path(home) / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path.mkdir(parents=True)
    return path


def run_to_resume(home):
    """The newest run if it did not complete; a ConfigError otherwise."""
    found = runs(home)
    if not found:
        raise ConfigError(f"--resume: no run to resume under {home}")
    if read_info(found[-1])["status"] == COMPLETE:
        raise ConfigError(f"--resume: nothing to resume: the newest run {found[-1]} is complete")
    return found[-1]


def complete_runs(home):
    """The runs in a home that completed, oldest first."""
    return [run for run in runs(home) if read_info(run)["status"] == COMPLETE]


def current_run(home):
    """The home's current run (the last that completed), or None."""
    pointer = Path(home) / CURRENT_FILE
    if not pointer.exists():
        return None
    run = Path(home) / pointer.read_text().strip()
    return run if (run / INFO_FILE).exists() else None


def set_current(home, run):
    """Make `run` the home's current run (an atomic replace of the pointer file)."""
    _write_atomic(Path(home) / CURRENT_FILE, Path(run).name + "\n")


def write_info(run, info):
    """Write run.json (atomically: a reader sees the old or the new file, never half of one)."""
    _write_atomic(Path(run) / INFO_FILE, json.dumps(info, indent=1, default=str))


def read_info(run):
    return json.loads((Path(run) / INFO_FILE).read_text())


def _write_atomic(path, text):
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


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


def trial_label(members, keys):
    """A trial's name for people, e.g. 'rule=pc, model.num_layers=8'."""
    flat = flatten(members[0])
    return ", ".join(f"{key}={flat.get(key)}" for key in keys) or "the only trial"


def trial_report(rows, attempt, done):
    """What a trial reports to Tune: columnar `rows` {"iteration": [...], "member": [...], ...},
    the id of this attempt of the trial (a rerun gets a new one) and whether the trial is done."""
    return {"rows": rows, "done": done, "attempt": attempt, "iterations_done": rows["iteration"][-1] + 1}


def _reports(trial_dir):
    result = Path(trial_dir) / "result.json"
    lines = result.read_text().splitlines() if result.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def _trial_index(trial_dir):
    """Which trial of the run's grid a trial folder ran (Tune's params.json holds its index)."""
    return json.loads((Path(trial_dir) / "params.json").read_text())["trial"]


def _finished(trial_dir):
    reports = _reports(trial_dir)
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
    """All trials of a run as one DataFrame."""
    members = pd.read_parquet(Path(run) / MEMBERS_FILE)
    frames = [read_trial_rows(trial_dir, members) for trial_dir in _trial_dirs(run)]
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_rows(run, rows):
    rows.to_parquet(Path(run) / ROWS_FILE)


def load_rows(run):
    """The run's tidy table: rows.parquet, or (for a run that never finished) the trial records."""
    table = Path(run) / ROWS_FILE
    return pd.read_parquet(table) if table.exists() else collect_rows(run)


def trial_nodes(run):
    """{trial folder name: the addresses of the nodes its reports came from} (Tune stamps each
    report with its actor's node_ip)."""
    return {trial_dir.name: {report["node_ip"] for report in _reports(trial_dir)}
            for trial_dir in _trial_dirs(run)}


def trial_states(run):
    """{trial label: (attempt id of its last report, done, number of reports)} of the trials that
    reported."""
    labels = read_info(run)["trial_labels"]
    states = {}
    for trial_dir in _trial_dirs(run):
        reports = _reports(trial_dir)
        if reports:
            states[labels[_trial_index(trial_dir)]] = (reports[-1]["attempt"], reports[-1]["done"], len(reports))
    return states


def unfinished_trials(run):
    """Labels of the run's trials (run.json's `trial_labels`) without a finished record: never
    started, killed or failed."""
    finished = {_trial_index(trial_dir) for trial_dir in _trial_dirs(run) if _finished(trial_dir)}
    return [label for i, label in enumerate(read_info(run)["trial_labels"]) if i not in finished]


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
    run = current_run(results_dir() / run_ref)
    if run is None:
        raise ConfigError(f"no complete run of {run_ref} under {results_dir()}; {hint}")
    found = sorted(run.glob(f"*/checkpoint_*/{WEIGHTS_FILE}"))
    if len(found) != 1:
        raise ConfigError(f"{len(found)} saved weight files in {run} (expected one); {hint}")
    return found[0]


def load_weights(run_ref, member):
    """(weights, biases) of one member of the current run of '<experiment>/<run name>': lists over
    layers of [out, in] / [1, out] tensors (None for a layer without bias)."""
    import torch
    saved = torch.load(weights_file(run_ref), map_location="cpu")
    return ([w[member] for w in saved["weights"]], [None if b is None else b[member] for b in saved["biases"]])
