"""Run an experiment YAML as Ray Tune trials.

    python main.py -c experiments/<exp>/<config>.yaml [--profile quick] [-o key.path=value ...]
                   [--address ADDR] [--resume] [--quiet] [--progress-every SECONDS]
    python main.py -c <exp>/<config>             # the original shorthand
    python main.py -c ... --show-config          # the resolved config, defaults filled in; no run
    python main.py -c ... --dry-run              # check everything, show the trials and the packing,
                                                 # estimate time and memory here; no Ray, no run

Without an address (or RAY_ADDRESS) an embedded local Ray on loopback is started; under
`ray job submit` the job's cluster is used. Each launch writes a new run (Ray's trial folders,
rows.parquet, run.json with the resolved config) into the home
$RESULTS_DIR/<experiment>/<config>[-<profile>][+<overrides hash>]/ and becomes the home's current run
when all its trials complete (see results.py); earlier runs are kept. One launch at a time runs in a
home (a lock naming its pid).

Prerequisites: runs this one needs (the runs whose saved weights its members start from, and those
listed under `requires:`) are looked up first: a complete one is reused; a missing one is run first,
with its own profile, and said so. They are named <experiment>/<run name>: runs of the project's own
configs under experiments/.

Data files missing on this machine are fetched with --download (never in a dry run), before any run.
SIGTERM stops a launch as Ctrl-C does.

Each run.json records `timings`: where the launch's wall time went, in phases (see Timings).

Exit codes: 0 every trial of every run completed; 1 a trial failed or did not finish; 2 bad input or
environment, reported in one line before anything runs (nothing is changed).
"""
import time
STARTED = time.time()   # the launch's wall time counts from here, before the imports below

import argparse
import contextlib
from dataclasses import dataclass
import json
import logging
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
from importlib import metadata

try:
    import cost
    from data_utils import resolve_data_dir
    import progress
    import results
    from schema import load_experiment, show_config
    from utils import (PROJECT_ROOT, ConfigError, EXPERIMENTS_DIR, ReaderGone, last_line, load_yaml, printable,
                       project_config, trial_packs)
except ModuleNotFoundError as missing:   # e.g. the system's python instead of the project's venv
    import deps
    deps.exit_missing(missing, "main.py")

LOCAL_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",   # a local Ray binds 127.0.0.1, not the external address
    "RAY_DISABLE_USAGE_STATS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True, help="experiment YAML or <exp>/<config>")
    parser.add_argument("--profile", help="a profile of the YAML, e.g. quick")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                        help="override any entry, e.g. -o config.pc.T=64 (repeatable)")
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or local)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest run of this config (and of a missing prerequisite) "
                             "if it did not complete")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved config with every default filled in, and exit")
    parser.add_argument("--dry-run", action="store_true",
                        help="check everything, print the trials, members per trial and packing, and "
                             "estimate wall time and memory on this machine; starts no Ray, runs nothing")
    parser.add_argument("--download", action="store_true",
                        help="fetch data files missing on this machine from their official sources (checked "
                             "against their published MD5) before any run; not with --dry-run")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--progress-every", type=float, default=30.0, metavar="SECONDS",
                        help="when the output is not a terminal, a progress line this often (default 30)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# What a launch runs: the experiment and its prerequisites
# ---------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One run of a launch: `action` is run (a new run), resume (`run`) or reuse (`run`, complete)."""
    ref: str                 # <experiment>/<run name>, the name other configs use for it
    home: Path
    experiment: object = None
    action: str = "run"
    run: Path = None
    needed_by: str = None


def plan(config, profile=None, overrides=(), resume=False, needed_by=None, chain=()):
    """The steps of a launch, prerequisites first; a ConfigError for any bad input on the way."""
    experiment = load_experiment(config, profile, overrides)
    home = results.run_home(experiment.path, profile, overrides)
    results.check_home(home)
    ref = f"{home.parent.name}/{home.name}"
    if ref in chain:
        raise ConfigError(f"{experiment.path}: prerequisites form a cycle: {' -> '.join(chain + (ref,))}")
    steps = {}
    for needed, found in prerequisites(experiment).items():
        if found is None or needed in steps:
            continue   # none here produces it (the trainable's check says what is missing), or planned
        current = results.check_home(results.run_home(*found))
        if current is not None:
            steps[needed] = Step(needed, results.run_home(*found), action="reuse", run=current, needed_by=ref)
        else:
            for step in plan(*found, (), resume, ref, chain + (ref,)):
                steps.setdefault(step.ref, step)
    steps = list(steps.values())
    step = Step(ref, home, experiment, needed_by=needed_by)
    if resume:
        newest, info = results.newest_run(home)
        if newest is not None and info["status"] != results.COMPLETE:
            step.action, step.run = "resume", newest
        elif needed_by is None and not any(s.action == "resume" for s in steps):
            results.run_to_resume(home)   # the usual error: nothing to resume
    return steps + [step]


def prerequisites(experiment):
    """{run name (<experiment>/<run name>): (YAML, profile) that produces it, or None} of the runs this
    experiment needs: the trainable's own (e.g. the runs whose saved weights members start from) and
    the configs its YAML lists under `requires`, run with the same profile."""
    needs = getattr(experiment.trainable.function(), "needs", None)
    found = {ref: producer(ref)
             for trial in (experiment.trials if needs else []) for ref in needs(trial["members"])}
    for i, entry in enumerate(experiment.doc.get("requires") or []):
        try:
            path = project_config(entry)
        except ConfigError as error:
            raise ConfigError(f"requires[{i}]: {error}") from None
        profile = experiment.profile
        if profile and profile not in (load_yaml(path).get("profiles") or {}):
            raise ConfigError(f"requires[{i}]: {path} has no profile {profile!r}, the profile of this run")
        home = results.run_home(path, profile)
        found[f"{home.parent.name}/{home.name}"] = (path, profile)
    return found


def producer(ref):
    """(YAML, profile) whose runs are called `ref` (<experiment>/<config>[-<profile>]): a config of
    the project, experiments/<experiment>/<config>.yaml, with one of its profiles; None if there is
    none (a run with overrides, +<hash>, has no YAML that produces it alone; a YAML elsewhere, even
    beside the one that needs it, has a home of its own: utils.config_names)."""
    folder, name = ref.split("/", 1)
    if "+" in name:
        return None
    for path in sorted((EXPERIMENTS_DIR / folder).glob("*.yaml")):
        if name == path.stem:
            return path, None
        profile = name[len(path.stem) + 1:] if name.startswith(path.stem + "-") else None
        if profile and profile in (load_yaml(path).get("profiles") or {}):
            return path, profile
    return None


def prepare(experiment, pending, local, download=False):
    """Checks before Ray starts: the trials fit this machine (a local Ray), and the trainable's own
    checks (data present, fetched first with `download`; saved weights found except those of the
    `pending` runs)."""
    resources = experiment.doc["resources_per_trial"]
    try:
        if local:
            fits_here(resources)
        check = getattr(experiment.trainable.function(), "prepare", None)
        for pack in [p for trial in experiment.trials for p in trial_packs(trial)] if check else []:
            check(pack, resources, pending, download)
    except ConfigError as error:
        raise ConfigError(f"{experiment.path}: {error}") from None


def fits_here(resources):
    """A local Ray offers this machine's CPUs and GPUs: a trial asking for more would never start."""
    cpus, gpus = cost.machine()
    if resources["cpu"] > cpus:
        raise ConfigError(f"resources_per_trial.cpu: {resources['cpu']:g} per trial, but this machine has "
                          f"{cpus} CPUs; at most {cpus}, or use a cluster (--address)")
    if resources["gpu"] > gpus:
        raise ConfigError(f"resources_per_trial.gpu: {resources['gpu']:g} per trial, but this machine has "
                          f"{gpus} GPUs; 0 here, or use a cluster with GPUs (--address)")


def dry_run(steps):
    """The dry run's report: each step's trials and estimate, and the total; nothing runs."""
    lines, total = [], 0.0
    for step in steps:
        if step.action == "reuse":
            lines.append(f"prerequisite {step.ref}: its complete run {step.run} is reused")
            continue
        experiment = step.experiment
        doing = f"would resume {step.run}" if step.action == "resume" else f"a new run in {step.home}"
        first = (f"prerequisite {step.ref} (needed by {step.needed_by}): no complete run, so it runs first; "
                 if step.needed_by else f"{step.ref}: ")
        lines.append(f"{first}{experiment.path}: valid; {doing}")
        owner = results.lock_owner(step.home)
        if owner:
            lines.append(f"  note: in use now by another launch ({owner}); a launch now would be refused")
        estimate = cost.estimate(experiment)
        lines += cost.preview(experiment, estimate)
        total += estimate.wall
    if sum(step.action != "reuse" for step in steps) > 1:
        lines.append(f"all runs: ~{progress.duration(total)} wall")
    lines.append("nothing was run or written")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Running one step on Ray
# ---------------------------------------------------------------------------------------------
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


def stop_on_sigterm():
    """Take SIGTERM (`kill`, a batch system's stop) as Ctrl-C: it raises SIGINT, whose handler in force
    then runs (during a run Tune's, which stops the trials and saves their state; before,
    KeyboardInterrupt). Ray's start replaces the handler, so start_ray installs it again."""
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))


@contextlib.contextmanager
def stderr_held():
    """Hold what is written to the standard error's file (by Ray's C++ core too) during the block:
    written out after it if it ends normally, dropped if it raises (which then says what went wrong
    in one line, e.g. a cluster refusing this driver after a screenful of retries)."""
    sys.stderr.flush()
    saved, held, ended = os.dup(2), tempfile.TemporaryFile(), False
    os.dup2(held.fileno(), 2)
    try:
        yield
        ended = True
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if ended:
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
        held.close()


def start_ray(address, quiet=False):
    """Connect to the cluster at `address`/RAY_ADDRESS, or start an embedded local Ray (once). Quiet:
    the workers' output is not forwarded (a trial's error still is, by its trial's record)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:   # read by Ray at import time
        for key, value in LOCAL_RAY_ENV.items():
            os.environ.setdefault(key, value)
    import ray
    if ray.is_initialized():
        return
    # Tune runs trials in their own working directories: hand them absolute paths.
    env_vars = {"RESULTS_DIR": str(results.results_dir()), "DATA_DIR": str(resolve_data_dir())}
    if address:
        runtime_env = None
        if "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:   # under `ray job submit` the job already ships us
            runtime_env = {"working_dir": str(PROJECT_ROOT), "env_vars": env_vars,
                           "excludes": [".venv", "results", "data", ".git", "**/figures",
                                        "__pycache__", ".pytest_cache"]}
        try:
            with stderr_held():
                ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING", log_to_driver=not quiet)
        except (ConnectionError, ray.exceptions.AuthenticationError) as error:
            causes = [error, error.__cause__]   # Ray gives up with the token error or its traceback text
            if any(isinstance(cause, ray.exceptions.AuthenticationError) or "InvalidAuthToken" in str(cause)
                   for cause in causes):
                raise ConfigError(f"Ray cluster {address}: refused this driver: it needs the cluster's token "
                                  "and has none or a wrong one; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH "
                                  "(a file holding the token) or RAY_AUTH_TOKEN (see runtime_envs/README.md)") from None
            raise ConfigError(f"Ray cluster {address}: cannot connect ({last_line(error)}); check --address or "
                              "RAY_ADDRESS") from None
    else:
        pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        # Tune starts a worker process for each trial actor of its own; the idle workers Ray would
        # prestart are never used and only compete with the start for the CPUs.
        ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=not quiet,
                 runtime_env={"env_vars": {**env_vars, "PYTHONPATH": pythonpath}},
                 _system_config={"prestart_worker_first_driver": False, "enable_worker_prestart": False})
    stop_on_sigterm()


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


def rerun_damaged(run):
    """Before Tune resumes a run: each trial whose record is damaged (results.damaged_trials) has it
    set aside and, where Tune's experiment state has the trial finished, is marked errored there, so
    that Tune runs it again from its last checkpoint (its start if it has none), as a failed trial."""
    damaged = results.set_aside_damaged(run)
    if not damaged:
        return
    state_file = max(Path(run).glob("experiment_state-*.json"))   # the newest, as Tune picks it
    state = json.loads(state_file.read_text())
    for entry in state["trial_data"]:   # [the trial's state (JSON text), its run metadata (JSON text)]
        trial = json.loads(entry[0])
        if trial["relative_logdir"] in damaged and trial["status"] == "TERMINATED":
            entry[0] = json.dumps(dict(trial, status="ERROR"), indent=2)
    temporary = state_file.with_name(f".{state_file.name}.tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, state_file)


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


def config_file(path):
    """How run.json names the YAML: a project config by its path in the project (the same wherever the
    project is, e.g. in a Ray job's copy of it), any other file by its absolute path."""
    path = Path(path)
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(EXPERIMENTS_DIR) else str(path)


def launch_info(experiment):
    """run.json of a new launch: what runs, which trials to expect, and where it came from."""
    keys = results.trial_keys(experiment.trials)
    return {
        "status": results.RUNNING, "config_file": config_file(experiment.path), "profile": experiment.profile,
        "overrides": list(experiment.overrides), "resolved": experiment.doc, "trials": len(experiment.trials),
        "members": sum(len(t["members"]) for t in experiment.trials), "trial_keys": keys,
        "trial_labels": [results.trial_label(t, keys) for t in experiment.trials],
    }


def run(experiment, path, address=None, resume=False, shown=None, timings=None):
    """Run (or resume) the experiment in the run folder `path`, showing the progress `shown` (a
    progress.Progress; None: quiet) if given; write rows.parquet and run.json, with the `timings` of
    this run's share of the launch (a Timings; from now if None); make it the current run of its home
    if every trial completed. Returns the run.json dict."""
    timings = timings or Timings()
    info = results.read_info(path) if resume else launch_info(experiment)
    if not resume:
        results.write_members(path, experiment.trials)
    info.pop("error", None)   # of an earlier attempt that Ray or Tune stopped
    info.update(status=results.RUNNING, **provenance())
    results.write_info(path, info)
    timings.setup_done()
    start = time.time()
    try:
        with timings.phase("ray_start"):
            start_ray(address, quiet=shown is None)
        fit = time.time()
        tuner = make_tuner(experiment, path, resume)
        with progress.watching(path, shown) if shown else contextlib.nullcontext():
            grid = tuner.fit()
    except Exception as error:   # Ray or Tune gave up on the whole run, not on a trial: record it, keep what ran
        info.update(status=results.FAILED, error=last_line(error), wall_time_s=round(time.time() - start, 2))
        results.write_info(path, info)
        raise RunError(f"{path}: the run stopped ({last_line(error)}); what ran is kept there") from None
    fitted = time.time()
    with timings.phase("collection"):
        errors = [{"trial": info["trial_labels"][r.config["trial"]],
                   "folder": r.path, "error": last_line(r.error)} for r in grid if r.error]
        rows = results.collect_rows(path)
        results.write_rows(path, rows)
        unfinished = results.unfinished_trials(path)
        retried = results.retried_trials(path)
    span, timings.compute_trials = results.compute_span(path, fit, fitted)
    timings.phases.update(compute=span, scheduling=fitted - fit - span)
    info.update(status=results.FAILED if errors or unfinished else results.COMPLETE, rows=len(rows),
                failed_trials=errors, unfinished_trials=unfinished, retried_trials=retried,
                wall_time_s=round(time.time() - start, 2), timings=timings.record())
    results.write_info(path, info)
    if info["status"] == results.COMPLETE:
        results.drop_trial_states(path)
        results.set_current(path.parent, path)
    return info


def run_step(step, args, say, timings=None):
    """Run one step of the launch (its home locked by the caller), its share of the launch's wall time
    counted in `timings`; returns its run.json dict."""
    experiment = step.experiment
    if step.action == "resume":
        say(f"resuming the unfinished run {step.run}")
        path = step.run
    else:
        current = results.current_run(step.home)
        if current:
            say(f"{current} stays the current run until this one completes")
        path = results.new_run(step.home)
    members = [len(t["members"]) for t in experiment.trials]
    trials, runs = progress.count(len(members), "trial"), progress.count(sum(members), "run")
    say(f"{experiment.path.name}: {trials}, {runs} -> {path}")
    shown = None if args.quiet else progress.Progress(members, experiment.doc["stop"]["training_iteration"],
                                                      every=args.progress_every)
    summary = run(experiment, path, args.address, step.action == "resume", shown, timings)
    say(f"done in {summary['wall_time_s']} s: {summary['rows']} rows; "
        f"{len(summary['failed_trials'])} failed trials; status {summary['status']}")
    for retry in summary["retried_trials"]:
        say(f"retried: {retry['trial']}: {progress.count(retry['failures'], 'failure')} ({retry['error']}), "
            f"{'then finished' if retry['finished'] else 'not finished'}")
    for failure in summary["failed_trials"]:
        print(printable(f"failed: {failure['trial']}: {failure['error']} (details: {failure['folder']}/error.txt)"),
              file=sys.stderr)
    report_current(step.home, path, summary, say)
    return dict(summary, path=path)


def report_current(home, path, summary, say):
    """Say which run is current now and where the earlier complete runs are kept."""
    if summary["status"] != results.COMPLETE:
        current = results.current_run(home)
        print(f"{path} did not complete ({len(summary['unfinished_trials'])} unfinished trials; "
              f"--resume continues it); current run: {current or 'none'}", file=sys.stderr)
        return
    earlier = [run for run in results.complete_runs(home, warn=lambda problem: say(f"note: {problem}"))
               if run != path]
    say(f"current run: {path}")
    if earlier:
        say("earlier complete runs, kept until you remove them: " + ", ".join(map(str, earlier)))


def ray_is_up():
    """Whether this process is connected to a Ray (started or joined)."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def launch(steps, args, say, timings=None, had_ray=None):
    """Run the steps in order, each home locked from the start; stop at the first that fails. Each
    run's share of the launch's wall time is counted from the end of the previous one (the first's
    from `timings`); the last run's record also counts shutting down the Ray this launch started or
    joined (not one the caller had before: `had_ray`, by default whether one is up now)."""
    timings, code, last = timings or Timings(), 0, None
    had_ray = ray_is_up() if had_ray is None else had_ray
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
            last = run_step(step, args, say, timings)
            timings = Timings(start=timings.start + last["timings"]["wall"])
            if last["status"] != results.COMPLETE:
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
    `last` (the last run's run.json dict, with its path) was recorded, in that run's timings."""
    import ray
    with timings.phase("shutdown"):
        # Ray stops its processes one after another, and the autoscaler monitor of a local Ray, asked
        # to stop after the GCS is gone, takes a second to give up: stop it first (it keeps no state).
        node = getattr(ray._private.worker, "_global_node", None)
        if node is not None and node.head and hasattr(node, "kill_monitor"):
            node.kill_monitor(check_alive=False)
        ray.shutdown()
    info, path = dict(last), last["path"]
    del info["path"]
    share = timings.record()
    info["timings"] = {name: round(value + share[name], 3) if name in ("shutdown", "other", "wall") else value
                       for name, value in info["timings"].items()}
    results.write_info(path, info)


def main(argv=None, started=None):
    """The command line; `started` is when the launch began (default: now), for its timings."""
    timings, had_ray = Timings(start=started), ray_is_up()
    args = parse_args(argv)
    say = (lambda line: None) if args.quiet else (lambda line: print(printable(line), flush=True))
    try:
        if args.download and args.dry_run:
            raise ConfigError("--download: not with --dry-run, which fetches and changes nothing (without the data, "
                              "it names the missing files)")
        steps = plan(args.config, args.profile, args.override, args.resume)
        if args.show_config:
            print(show_config(steps[-1].experiment), end="")
            return 0
        pending = {step.ref for step in steps if step.action != "reuse"}
        local = not (args.address or os.environ.get("RAY_ADDRESS"))
        for step in steps:
            if step.action != "reuse":
                if not args.dry_run:
                    results.ensure_free(step.home)
                prepare(step.experiment, pending, local, args.download)
        if args.dry_run:
            print(dry_run(steps))
            return 0
        if not local:   # a cluster that refuses this driver (e.g. no token) is reported before a run starts
            timings.setup_done()
            with timings.phase("ray_start"):
                start_ray(args.address, quiet=args.quiet)
        return launch(steps, args, say, timings, had_ray)
    except ConfigError as error:   # bad config, data, results or environment: before anything ran
        print(f"error: {printable(error)}", file=sys.stderr)
        return 2
    except RunError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:   # Ctrl-C before Tune took over, or a second one (the first stops Tune cleanly)
        print("interrupted: a run that started is left unfinished; --resume continues it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.stdout = ReaderGone(sys.stdout)
    stop_on_sigterm()
    code = main(started=STARTED)
    if not ray_is_up():
        # Everything is written and Ray is shut down: skip the interpreter's teardown of torch and
        # Ray's modules (about a second on 2 cores).
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)
