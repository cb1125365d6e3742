"""What a launch runs: the experiment and its prerequisites, checked before Ray starts, and the dry
run's report of it (`main.py --dry-run`).

Prerequisites are the runs this one needs (those whose saved weights its members start from, and
those its YAML lists under `requires:`), named <experiment>/<run name>: runs of the project's own
configs under experiments/. A complete one is reused; a missing one is run first, with its own
profile.
"""
from dataclasses import dataclass
from pathlib import Path

import cost
from loader import load_experiment
import progress
import results
from utils import ConfigError, EXPERIMENTS_DIR, load_yaml, project_config, trial_packs


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


def preview(steps):
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
