"""A launch's runs on Ray Tune: each step of the plan (launch_plan.py) fitted into a results run, in
order, with the homes locked, recording where the launch's wall time went (Timings).

A run is written through its results.Run handle: created (or reopened to resume), started, then
recorded as stopped by Ray or Tune, or finished with its rows, failed, unfinished and retried trials
and timings; it becomes its home's current run when every trial completed.
"""
import contextlib
import json
import logging
import os
from pathlib import Path
import sys
import time

import progress
import ray_session
import results
from terminal import last_line, printable
from utils import trial_packs


class RunError(Exception):
    """A run that Ray or Tune stopped as a whole (recorded as failed in its run.json); one line for the user."""


class Timings:
    """Where a run's share of the launch's wall time went: run.json's `timings`, in seconds.

    A launch's wall time (from the start of main.py, before its imports, to the end of its last record)
    is split between its runs: a run's share (`wall`) begins where the previous run's ended (the first
    at the start) and ends with its record (the last, after Ray shut down). A share adds up exactly:
        setup       before Ray: imports, reading and checking configs, planning, the trainable's checks,
                    creating the run folder, members.parquet and the first run.json
        ray_start   starting the embedded local Ray or connecting to the cluster (import ray, ray.init);
                    0 where an earlier run of the launch started it
        scheduling  Tune's overhead: the wall time of building the Tuner and of Tuner.fit in which no trial
                    did its own work (starting trial workers, passing records, writing Tune's files)
        compute     the wall time of Tuner.fit in which at least one trial did its own work (the union
                    of the `compute` intervals in the trials' records: learning, rows, saved weights)
        collection  reading the trial records into rows.parquet, the trial states into the record
        shutdown    ray.shutdown at the end of the launch (the last run only)
        other       the rest (messages, the progress line, between runs)
    and, outside the sum, `compute_trials`: the trials' compute summed over trials (trial-seconds;
    above `compute` when trials ran side by side). Times are whole milliseconds, so the sum is exact.
    """
    PHASES = ("setup", "ray_start", "scheduling", "compute", "collection", "shutdown")

    def __init__(self, start=None):
        self.start = time.time() if start is None else start
        self.phases = dict.fromkeys(self.PHASES, 0.0)
        self.compute_trials = 0.0

    @contextlib.contextmanager
    def phase(self, name):
        """Count the block's wall time to the phase `name`."""
        begun = time.time()
        try:
            yield
        finally:
            self.phases[name] += time.time() - begun

    def setup_done(self):
        """The share's time so far that no phase counted is setup."""
        self.phases["setup"] += max(0.0, time.time() - self.start - sum(self.phases.values()))

    def record(self):
        """The share so far, as run.json's `timings`: each phase, other, wall, compute_trials."""
        ms = {name: int(seconds * 1000) for name, seconds in self.phases.items()}
        wall = int((time.time() - self.start) * 1000)
        ms.update(other=wall - sum(ms.values()), wall=wall, compute_trials=int(self.compute_trials * 1000))
        return {name: value / 1000 for name, value in ms.items()}


def make_tuner(experiment, path, resume):
    """The Tuner for an experiment: one Tune trial per packed trial of the grid."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback
    # The rows travel in the results: keep Tune's result.json only, not CSV/TensorBoard copies.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Tune's own console output (a table, per-trial tracebacks) gives way to our progress and
    # one line per failed trial; the full error stays in the trial's error.txt.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)
    doc = experiment.doc
    resources = doc["resources_per_trial"]
    # The member configs go to the trials once, through the object store: in the param space they
    # would be copied into every trial's params.json and Tune's experiment state.
    packs = [trial_packs(t) for t in experiment.trials]
    trainable = tune.with_resources(tune.with_parameters(experiment.trainable.function(), trials=packs),
                                    {"cpu": resources["cpu"], "gpu": resources["gpu"]})
    if resume and tune.Tuner.can_restore(str(path)):
        rerun_damaged(path)
        return tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
    param_space = {
        "trial": tune.grid_search(list(range(len(packs)))),
        "iterations": doc["stop"]["training_iteration"],
        "report_every": doc["report_every"],
        "checkpoint_every_s": doc["checkpoint_every_s"],
        "cpus": resources["cpu"],
    }
    return tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(reuse_actors=True,
                                    trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
                                    trial_name_creator=lambda trial: f"trial_{trial.trial_id}"),
        run_config=tune.RunConfig(storage_path=str(path.parent), name=path.name, verbose=0,
                                  callbacks=[JsonLoggerCallback()],
                                  # A trial's state is saved every checkpoint_every_s; only the last
                                  # is kept (and dropped when the run completes).
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                  # A trial whose node or worker process is lost is run again from its
                                  # last checkpoint; Tune cannot tell that from the trial's own error,
                                  # which is then retried too. run.json's retried_trials lists them.
                                  failure_config=tune.FailureConfig(max_failures=2)))


def rerun_damaged(path):
    """Before Tune resumes the run at `path`: each trial whose record is damaged
    (results_trials.damaged_trials) has it set aside and, where Tune's experiment state has the trial
    finished, is marked errored there, so that Tune runs it again from its last checkpoint (its start
    if it has none), as a failed trial."""
    damaged = results.set_aside_damaged(path)
    if not damaged:
        return
    state_file = max(Path(path).glob("experiment_state-*.json"))   # the newest, as Tune picks it
    state = json.loads(state_file.read_text())
    for entry in state["trial_data"]:   # [the trial's state (JSON text), its run metadata (JSON text)]
        trial = json.loads(entry[0])
        if trial["relative_logdir"] in damaged and trial["status"] == "TERMINATED":
            entry[0] = json.dumps(dict(trial, status="ERROR"), indent=2)
    temporary = state_file.with_name(f".{state_file.name}.tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, state_file)


def fit(experiment, run, address=None, shown=None, timings=None):
    """Fit the experiment's trials with Tune into `run` (a results.Run, new or reopened), showing the
    progress `shown` (a progress.Progress; None: quiet) if given, and record how it ended, with the
    `timings` of this run's share of the launch (a Timings; from now if None). A RunError if Ray or
    Tune gave up on the whole run (recorded, what ran kept)."""
    timings = timings or Timings()
    run.start()
    timings.setup_done()
    start = time.time()
    try:
        with timings.phase("ray_start"):
            ray_session.start_ray(address, quiet=shown is None)
        fitting = time.time()
        tuner = make_tuner(experiment, run.path, run.resumed)
        with progress.watching(run.path, shown) if shown else contextlib.nullcontext():
            grid = tuner.fit()
    except Exception as error:   # Ray or Tune gave up on the whole run, not on a trial: record it, keep what ran
        run.stopped(last_line(error), time.time() - start)
        raise RunError(f"{run.path}: the run stopped ({last_line(error)}); what ran is kept there") from None
    fitted = time.time()
    with timings.phase("collection"):
        run.collect([(r.config["trial"], r.path, last_line(r.error)) for r in grid if r.error])
    span, timings.compute_trials = run.compute_span(fitting, fitted)
    timings.phases.update(compute=span, scheduling=fitted - fitting - span)
    run.finish(time.time() - start, timings=timings.record())


def launch_step(step, args, say, timings=None):
    """Carry out one step of the launch (its home locked by the caller): a new run, or the resumed
    one, its share of the launch's wall time counted in `timings`; returns its results.Run."""
    experiment = step.experiment
    if step.action == "resume":
        say(f"resuming the unfinished run {step.run}")
        run = results.Run.reopen(step.run)
    else:
        current = results.current_run(step.home)
        if current:
            say(f"{current} stays the current run until this one completes")
        run = results.Run.create(step.home, experiment, data_read(experiment))
    members = [len(t["members"]) for t in experiment.trials]
    trials, networks = progress.count(len(members), "trial"), progress.count(sum(members), "run")
    say(f"{experiment.path.name}: {trials}, {networks} -> {run.path}")
    shown = None if args.quiet else progress.Progress(members, experiment.doc["stop"]["training_iteration"],
                                                      every=args.progress_every)
    fit(experiment, run, args.address, shown, timings)
    info = run.info
    say(f"done in {info['wall_time_s']} s: {info['rows']} rows; "
        f"{len(info['failed_trials'])} failed trials; status {info['status']}")
    for retry in info["retried_trials"]:
        say(f"retried: {retry['trial']}: {progress.count(retry['failures'], 'failure')} ({retry['error']}), "
            f"{'then finished' if retry['finished'] else 'not finished'}")
    for failure in info["failed_trials"]:
        print(printable(f"failed: {failure['trial']}: {failure['error']} (details: {failure['folder']}/error.txt)"),
              file=sys.stderr)
    report_current(run, say)
    return run


def data_read(experiment):
    """{data set: {file: published MD5}} of the data sets the experiment's members read (each file is
    checked against its MD5 as it is read; a set bundled with a library has none): run.json's `data`."""
    from data_utils import DATASETS   # torch: only once a launch runs
    names = {member.get("data", {}).get("dataset") for trial in experiment.trials for member in trial["members"]}
    return {name: DATASETS[name].md5s for name in sorted(names - {None})}


def report_current(run, say):
    """Say which run of the home of `run` (a results.Run, just recorded) is current now and where the
    earlier complete runs are kept."""
    home = run.path.parent
    if not run.complete:
        current = results.current_run(home)
        print(f"{run.path} did not complete ({len(run.info['unfinished_trials'])} unfinished trials; "
              f"--resume continues it); current run: {current or 'none'}", file=sys.stderr)
        return
    earlier = [path for path in results.complete_runs(home, warn=lambda problem: say(f"note: {problem}"))
               if path != run.path]
    say(f"current run: {run.path}")
    if earlier:
        say("earlier complete runs, kept until you remove them: " + ", ".join(map(str, earlier)))


def launch(steps, args, say, timings=None, had_ray=None):
    """Carry out the steps in order, each home locked from the start; stop at the first that fails.
    Each run's share of the launch's wall time is counted from the end of the previous one (the
    first's from `timings`); the last run's record also counts shutting down the Ray this launch
    started or joined (not one the caller had before: `had_ray`, by default whether one is up now).
    Returns the exit code: 0, or 1 when a run did not complete."""
    timings, code, last = timings or Timings(), 0, None
    had_ray = ray_session.ray_is_up() if had_ray is None else had_ray
    with contextlib.ExitStack() as locks:
        for step in steps:
            if step.action != "reuse":
                locks.enter_context(results.locked(step.home))
        for step in steps:
            if step.action == "reuse":
                say(f"prerequisite {step.ref} (needed by {step.needed_by}): reusing its complete run {step.run}")
                continue
            if step.needed_by:
                say(f"prerequisite {step.ref} (needed by {step.needed_by}) has no complete run: running it first")
            last = launch_step(step, args, say, timings)
            timings = Timings(start=timings.start + last.info["timings"]["wall"])
            if not last.complete:
                if step is not steps[-1]:
                    print(f"error: prerequisite {step.ref} did not complete, so {steps[-1].ref} was not "
                          "started", file=sys.stderr)
                code = 1
                break
        if last is not None and not had_ray:
            shut_down(last, timings)
    return code


def shut_down(last, timings):
    """Shut down the Ray this launch started (or its connection), and count it, with the time since
    `last` (the launch's last results.Run) was recorded, in that run's timings."""
    with timings.phase("shutdown"):
        ray_session.stop_ray()
    share = timings.record()
    last.record(timings={name: round(value + share[name], 3) if name in ("shutdown", "other", "wall") else value
                         for name, value in last.info["timings"].items()})
