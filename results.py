"""The results folder: run homes, runs and their records. Everything else imports `results` only.

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
Only these modules read or write these files; a file they cannot read is a ConfigError naming it.
Homes are private to the user, who alone may write them (results_homes.check_private).

The parts, whose public names this module gathers: results_homes.py (homes, runs, `current`,
run.json), results_lock.py (the lock), results_trials.py (trial records, rows, saved states and
weights). Here: `Run`, the handle a launch writes one run through, from its start to its finish.
"""
from importlib import metadata
import os
from pathlib import Path
import subprocess
import sys
import time

# The parts' public names, which the rest of the project uses as results.<name>:
from results_homes import (COMPLETE, CURRENT_FILE, FAILED, INFO_FILE, RUNNING, check_home, complete_runs,
                           current_run, make_home, new_run, newest_run, override_tag, read_info, results_dir,
                           run_home, run_to_resume, runs, set_current, write_info)
from results_lock import LOCK_FILE, ensure_free, lock_owner, locked
from results_trials import (MEMBERS_FILE, ROWS_FILE, STATE_FILE, WEIGHTS_FILE, append_rows, collect_rows,
                            compute_span, drop_trial_states, load_rows, load_trial_state, load_weights,
                            read_trial_rows, retried_trials, save_trial_state, save_weights, set_aside_damaged,
                            trial_keys, trial_label, trial_nodes, trial_progress, trial_report, trial_states,
                            unfinished_trials, weights_file, write_members, write_rows)
from utils import EXPERIMENTS_DIR, PROJECT_ROOT


class Run:
    """One run of a home as a launch writes it: its folder (`path`) and its record (`info`, what
    run.json holds). A launch makes a new run (`create`) or reopens an unfinished one (`reopen`),
    `start`s it, then records how Tune's fit ended: `stopped` (Ray or Tune gave up on the whole run),
    or `collect` and `finish`, which makes it the home's current run if every trial completed."""

    def __init__(self, path, info, resumed=False):
        self.path, self.info, self.resumed = Path(path), info, resumed

    @classmethod
    def create(cls, home, experiment, data):
        """A new run of the experiment (loader.Experiment) in `home`: its folder and members.parquet;
        `data` ({data set: {file: published MD5}}) is what its members read."""
        path = new_run(home)
        write_members(path, experiment.trials)
        return cls(path, {**first_record(experiment), "data": data})

    @classmethod
    def reopen(cls, path):
        """The unfinished run at `path`, to be resumed, with its record as it stands."""
        return cls(path, read_info(path), resumed=True)

    @property
    def complete(self):
        return self.info["status"] == COMPLETE

    def record(self, **entries):
        """Update the record with `entries` and write run.json."""
        self.info.update(entries)
        write_info(self.path, self.info)

    def start(self):
        """Record the run as running, with this launch's provenance (an earlier attempt's error dropped)
        and its start among the run's `launches` (one per launch that worked on it, `--resume`s too)."""
        self.info.pop("error", None)
        launches = [*self.info.get("launches", []), {"started": round(time.time(), 3)}]
        self.record(status=RUNNING, launches=launches, **provenance())

    def stopped(self, error, wall):
        """Record that Ray or Tune stopped the whole run with `error` (one line) after `wall` seconds."""
        self.record(status=FAILED, error=error, **self.launch_ended(wall))

    def collect(self, failed):
        """Write rows.parquet from the trial records, and note (not yet written) the trials that failed
        (`failed`: (index in the grid, Tune's trial folder, error line) of each), did not finish, or
        were tried again."""
        labels, rows = self.info["trial_labels"], collect_rows(self.path)
        write_rows(self.path, rows)
        self.info.update(rows=len(rows), failed_trials=[{"trial": labels[index], "folder": folder, "error": error}
                                                        for index, folder, error in failed],
                         unfinished_trials=unfinished_trials(self.path), retried_trials=retried_trials(self.path))

    def launch_ended(self, wall):
        """The record's entries for this launch's end after `wall` seconds: `wall_time_s` (this launch's)
        and the wall time in its entry of `launches`. A launch killed outright records no end."""
        wall = round(wall, 2)
        self.info["launches"][-1]["wall_time_s"] = wall
        return {"wall_time_s": wall, "launches": self.info["launches"]}

    def compute_span(self, since, until):
        """results_trials.compute_span of this run: its trials' compute as wall time and as trial-seconds."""
        return compute_span(self.path, since, until)

    def finish(self, wall, **entries):
        """Record the collected outcome after `wall` seconds of this launch, with `entries`: complete if
        no trial failed or is unfinished, failed otherwise. A complete run drops its trials' saved
        states and becomes current."""
        failed = self.info["failed_trials"] or self.info["unfinished_trials"]
        self.record(status=FAILED if failed else COMPLETE, **self.launch_ended(wall), **entries)
        if self.complete:
            drop_trial_states(self.path)
            set_current(self.path.parent, self.path)


def wall_time(info):
    """(seconds, launches, unrecorded) of a run's record: the wall time of all the launches that worked
    on it, their number and how many ended without recording theirs (killed outright); launches is
    None for a record from before they were kept, whose wall time is its last launch's."""
    if "launches" not in info:
        return info.get("wall_time_s"), None, 0
    walls = [launch["wall_time_s"] for launch in info["launches"] if "wall_time_s" in launch]
    return sum(walls), len(info["launches"]), len(info["launches"]) - len(walls)


def first_record(experiment):
    """run.json of a new run: what runs, which trials to expect, and where it came from."""
    keys = trial_keys(experiment.trials)
    return {
        "status": RUNNING, "config_file": config_file(experiment.path), "profile": experiment.profile,
        "overrides": list(experiment.overrides), "resolved": experiment.doc, "trials": len(experiment.trials),
        "members": sum(len(t["members"]) for t in experiment.trials), "trial_keys": keys,
        "trial_labels": [trial_label(t, keys) for t in experiment.trials],
    }


def config_file(path):
    """How run.json names the YAML: a project config by its path in the project (the same wherever the
    project is, e.g. in a Ray job's copy of it), any other file by its absolute path."""
    path = Path(path)
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(EXPERIMENTS_DIR) else str(path)


def provenance():
    """Git revision (or $GIT_REVISION where there is no .git) and the versions results depend on."""
    try:
        revision = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):   # e.g. a job's copy of the tree has no .git
        revision = os.environ.get("GIT_REVISION")
    versions = {}
    for package in ("torch", "ray", "numpy", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"git_revision": revision, "versions": versions, "python": sys.version.split()[0]}
