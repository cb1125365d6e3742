"""Run an experiment YAML as Ray Tune trials.

    python main.py -c experiments/<exp>/<config>.yaml [--profile quick] [-o key.path=value ...]
                   [--address ADDR] [--resume]
    python main.py -c <exp>/<config>             # the original shorthand
    python main.py -c ... --show-config          # the resolved config, defaults filled in; no run

Without an address (or RAY_ADDRESS) an embedded local Ray on loopback is started; under
`ray job submit` the job's cluster is used. Each launch writes a new run (Ray's trial folders,
rows.parquet, run.json) into the home $RESULTS_DIR/<experiment>/<config>[-<profile>][+<overrides hash>]/
and becomes the home's current run when all its trials complete (see results.py); earlier runs are kept.
"""
import argparse
import os
import subprocess
import sys
import time
from importlib import metadata

import yaml

from data_utils import resolve_data_dir
import results
from schema import load_experiment, show_config
from utils import PROJECT_ROOT, ConfigError, import_attribute

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
                        help="continue the newest run of this config if it did not complete")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved config with every default filled in, and exit")
    return parser.parse_args(argv)


def start_ray(address):
    """Connect to the cluster at `address`/RAY_ADDRESS, or start an embedded local Ray."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:   # read by Ray at import time
        for key, value in LOCAL_RAY_ENV.items():
            os.environ.setdefault(key, value)
    import ray
    # Tune runs trials in their own working directories: hand them absolute paths.
    env_vars = {"RESULTS_DIR": str(results.results_dir()), "DATA_DIR": str(resolve_data_dir())}
    if address:
        runtime_env = None
        if "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:   # under `ray job submit` the job already ships us
            runtime_env = {"working_dir": str(PROJECT_ROOT), "env_vars": env_vars,
                           "excludes": [".venv", "results", "data", ".git", "**/figures",
                                        "__pycache__", ".pytest_cache"]}
        ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING")
    else:
        pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        ray.init(include_dashboard=False, logging_level="WARNING",
                 runtime_env={"env_vars": {**env_vars, "PYTHONPATH": pythonpath}})


def trainable_of(experiment):
    """The Ray trainable the experiment names (module:attribute)."""
    return import_attribute(experiment.trainable, "trainable")


def prepare(experiment):
    """The trainable's own checks (data present, saved weights found) before Ray starts."""
    check = getattr(trainable_of(experiment), "prepare", None)
    for trial in experiment.trials if check else []:
        try:
            check(trial["members"])
        except ConfigError as error:
            raise ConfigError(f"{experiment.path}: {error}") from None


def make_tuner(experiment, path, resume):
    """The Tuner for an experiment: one Tune trial per packed trial of the grid."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback
    # The rows travel in the results: keep Tune's result.json only, not CSV/TensorBoard copies.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    doc = experiment.doc
    resources = doc["resources_per_trial"]
    # The member configs go to the trials once, through the object store: in the param space they
    # would be copied into every trial's params.json and Tune's experiment state.
    members = [t["members"] for t in experiment.trials]
    trainable = tune.with_resources(tune.with_parameters(trainable_of(experiment), trials=members),
                                    {"cpu": resources["cpu"], "gpu": resources["gpu"]})
    if resume and tune.Tuner.can_restore(str(path)):
        return tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
    param_space = {
        "trial": tune.grid_search(list(range(len(members)))),
        "iterations": doc["stop"]["training_iteration"],
        "report_every": doc["report_every"],
        "cpus": resources["cpu"],
    }
    return tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(reuse_actors=True,
                                    trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
                                    trial_name_creator=lambda trial: f"trial_{trial.trial_id}"),
        run_config=tune.RunConfig(storage_path=str(path.parent), name=path.name, verbose=0,
                                  callbacks=[JsonLoggerCallback()],
                                  failure_config=tune.FailureConfig(max_failures=0)))


def last_line(error):
    """The exception line of a trial's error (Ray wraps the worker's whole traceback)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else repr(error)


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


def launch_info(experiment):
    """run.json of a new launch: what runs, which trials to expect, and where it came from."""
    keys = results.trial_keys(experiment.trials)
    return {
        "status": results.RUNNING, "config_file": str(experiment.path), "profile": experiment.profile,
        "overrides": list(experiment.overrides), "resolved": experiment.doc, "trials": len(experiment.trials),
        "members": sum(len(t["members"]) for t in experiment.trials), "trial_keys": keys,
        "trial_labels": [results.trial_label(t["members"], keys) for t in experiment.trials],
    }


def run(experiment, path, address=None, resume=False):
    """Run (or resume) the experiment in the run folder `path`; write rows.parquet and run.json; make
    it the current run of its home if every trial completed. Returns the run.json dict."""
    info = results.read_info(path) if resume else launch_info(experiment)
    if not resume:
        results.write_members(path, experiment.trials)
    info.update(status=results.RUNNING, **provenance())
    results.write_info(path, info)
    start = time.time()
    start_ray(address)
    grid = make_tuner(experiment, path, resume).fit()
    errors = [{"trial": info["trial_labels"][r.config["trial"]],
               "folder": r.path, "error": last_line(r.error)} for r in grid if r.error]
    rows = results.collect_rows(path)
    results.write_rows(path, rows)
    unfinished = results.unfinished_trials(path)
    info.update(status=results.FAILED if errors or unfinished else results.COMPLETE, rows=len(rows),
                failed_trials=errors, unfinished_trials=unfinished,
                wall_time_s=round(time.time() - start, 2))
    results.write_info(path, info)
    if info["status"] == results.COMPLETE:
        results.set_current(path.parent, path)
    return info


def this_run(home, resumed):
    """The run folder of this launch: the run to resume, or a new one beside the current run."""
    if resumed:
        print(f"resuming the unfinished run {resumed}")
        return resumed
    current = results.current_run(home)
    if current:
        print(f"{current} stays the current run until this one completes")
    return results.new_run(home)


def report_current(home, path, summary):
    """Say which run is current now and where the earlier complete runs are kept."""
    if summary["status"] != results.COMPLETE:
        current = results.current_run(home)
        print(f"{path} did not complete ({len(summary['unfinished_trials'])} unfinished trials; "
              f"--resume continues it); current run: {current or 'none'}", file=sys.stderr)
        return
    earlier = [run for run in results.complete_runs(home) if run != path]
    print(f"current run: {path}")
    if earlier:
        print("earlier complete runs, kept until you remove them: " + ", ".join(map(str, earlier)))


def main(argv=None):
    args = parse_args(argv)
    try:
        experiment = load_experiment(args.config, args.profile, args.override)
        if args.show_config:
            print(show_config(experiment), end="")
            return 0
        prepare(experiment)
        home = results.run_home(experiment.path, experiment.profile, experiment.overrides)
        resumed = results.run_to_resume(home) if args.resume else None
    except (ConfigError, OSError, ValueError) as error:   # bad config, missing or corrupt data
        print(f"error: {error}", file=sys.stderr)
        return 2
    members = sum(len(t["members"]) for t in experiment.trials)
    shown = {k: v for k, v in experiment.doc.items() if k not in ("profiles", "description")}
    print(yaml.safe_dump(shown, sort_keys=False, width=100).rstrip())
    path = this_run(home, resumed)
    print(f"{experiment.path.name}: {len(experiment.trials)} trials, {members} runs -> {path}", flush=True)
    summary = run(experiment, path, args.address, args.resume)
    print(f"done in {summary['wall_time_s']} s: {summary['rows']} rows; "
          f"{len(summary['failed_trials'])} failed trials; status {summary['status']}", flush=True)
    for failure in summary["failed_trials"]:
        print(f"failed: {failure['trial']}: {failure['error']}", file=sys.stderr)
    report_current(home, path, summary)
    return 0 if summary["status"] == results.COMPLETE else 1


if __name__ == "__main__":
    sys.exit(main())
