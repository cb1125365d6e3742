"""Operating long sweeps: prerequisites run first and are reused, progress is shown as the run goes, a
dry run previews the cost without Ray, one launch at a time per run home, and a trial uses CUDA
exactly when Ray gave it a GPU. (Bad input of every kind: test_bad_inputs.py.)"""
import io
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import time

import pytest
import torch

import cost
import engine
import launch_plan
import launcher
import main
import progress
import results
import results_trials
from rules import Rule
import trainables
import utils
from data_utils import DATASETS
from loader import load_experiment
from test_results import FIG3A, TRIALS, outputs, write_run, write_trial
from utils import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DRIFT = ROOT / "experiments" / "concept_drift" / "drift.yaml"
PRETRAIN = ROOT / "experiments" / "concept_drift" / "pretrain.yaml"
PROGRESS_LINE = re.compile(r"^trials \d+/\d+ done, \d+ running, \d+ failed, \d+ pending \| runs \d+/\d+ done \| "
                           r"\S+ elapsed, (~\S+ left|time left unknown yet|all finished)$")


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


def tree(root):
    """Every file under `root` with its bytes, and every folder: what 'nothing changed' compares."""
    root = Path(root)
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
def test_a_run_name_leads_to_the_yaml_and_profile_that_produce_it():
    assert launch_plan.producer("concept_drift/pretrain-quick") == (PRETRAIN, "quick")
    assert launch_plan.producer("concept_drift/pretrain") == (PRETRAIN, None)
    assert launch_plan.producer("concept_drift/pretrain-nosuchprofile") is None
    assert launch_plan.producer("concept_drift/pretrain-quick+0123abcd") is None   # overrides: no YAML alone
    assert launch_plan.producer("nowhere/pretrain") is None


def test_a_missing_prerequisite_is_planned_first_and_a_complete_one_is_reused(results_root):
    first, last = launch_plan.plan("concept_drift/drift", "quick")
    assert (first.ref, first.action) == ("concept_drift/pretrain-quick", "run")
    assert first.needed_by == "concept_drift/drift-quick"
    assert first.experiment.path == PRETRAIN and first.experiment.profile == "quick"
    assert (last.ref, last.action, last.needed_by) == ("concept_drift/drift-quick", "run", None)
    complete = write_run(results.run_home(PRETRAIN, "quick"), TRIALS[:1], results.COMPLETE)
    reused, last = launch_plan.plan("concept_drift/drift", "quick")
    assert (reused.action, reused.run, reused.experiment) == ("reuse", complete, None)
    [alone] = launch_plan.plan("concept_drift/pretrain", "quick")                     # needs nothing
    assert alone.ref == "concept_drift/pretrain-quick"


def test_resume_continues_an_unfinished_prerequisite_and_then_starts_the_experiment(results_root):
    unfinished = write_run(results.run_home(PRETRAIN, "quick"), TRIALS[:1], results.RUNNING)
    first, last = launch_plan.plan("concept_drift/drift", "quick", resume=True)
    assert (first.action, first.run, last.action) == ("resume", unfinished, "run")
    with pytest.raises(ConfigError, match="^--resume: no run to resume under"):
        launch_plan.plan("concept_drift/pretrain", None, resume=True)


def test_configs_listed_under_requires_are_prerequisites_with_the_same_profile():
    experiment = load_experiment("interference/fig3a", "quick", ["requires=[concept_drift/pretrain]"])
    assert launch_plan.prerequisites(experiment) == {"concept_drift/pretrain-quick": (PRETRAIN, "quick")}
    experiment = load_experiment("interference/fig3a", "quick", ["requires=[concept_drift/nosuch]"])
    with pytest.raises(ConfigError, match=r"^requires\[0\]: concept_drift/nosuch: no such file"):
        launch_plan.prerequisites(experiment)
    experiment.doc["requires"], experiment.profile = ["concept_drift/pretrain"], "paper"
    with pytest.raises(ConfigError, match=r"^requires\[0\]: .*pretrain.yaml has no profile 'paper'"):
        launch_plan.prerequisites(experiment)
    with pytest.raises(ConfigError, match=r"requires\[0\]: must match .* got 'pretrain'$"):
        load_experiment("interference/fig3a", "quick", ["requires=[pretrain]"])


def pretrained_pair(folder):
    """Two configs in an experiment folder, each starting from the other's weights."""
    text = ("stop: {training_iteration: 1}\nconfig:\n  rule: bp\n  seed: 0\n"
            "  data: {name: fixed_pair, input: [[1.0]], target: [[0.0, 1.0]]}\n"
            "  model: {sizes: [1, 1, 2], init: {name: pretrained, run: loop/%s}}\n  optimizer: {lr: 0.1}\n")
    folder.mkdir()
    (folder / "a.yaml").write_text(text % "b")
    (folder / "b.yaml").write_text(text % "a")
    return folder / "a.yaml"


def test_prerequisites_that_need_each_other_are_a_cycle_named_in_one_line(tmp_path, results_root, monkeypatch):
    for module in (utils, launch_plan):   # the project's experiments are those in tmp_path: prerequisites too
        monkeypatch.setattr(module, "EXPERIMENTS_DIR", tmp_path.resolve())
    with pytest.raises(ConfigError, match=r"prerequisites form a cycle: loop/a -> loop/b -> loop/a$"):
        launch_plan.plan(str(pretrained_pair(tmp_path / "loop")))


def test_a_prerequisite_that_will_run_first_is_not_required_to_have_weights_yet(results_root):
    steps = launch_plan.plan("concept_drift/drift", "quick")
    pending = {step.ref for step in steps}
    launch_plan.prepare(steps[-1].experiment, pending, local=True)   # no ConfigError
    with pytest.raises(ConfigError, match="config.model.init.run: no complete run of concept_drift/pretrain-quick"):
        launch_plan.prepare(steps[-1].experiment, set(), local=True)


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_progress_lines_come_every_period_after_a_delay_and_count_each_state():
    clock, out = Clock(), io.StringIO()
    shown = progress.Progress([4, 4, 1, 1], iterations=10, out=out, live=False, every=30, delay=3, clock=clock)
    trials = [(0, "done", 10), (1, "running", 5), (2, "failed", 2)]       # trial 3 not started
    shown.begin([])
    for now, due in ((101.0, False), (103.0, True), (120.0, False), (133.0, True)):
        clock.now = now
        assert shown.due() is due
        if due:
            shown.update(trials)
    shown.update(trials, final=True)                                     # plain output: no repeat at the end
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(PROGRESS_LINE.match(line) for line in lines) and "\r" not in out.getvalue()
    assert lines[0].startswith("trials 1/4 done, 1 running, 1 failed, 1 pending | runs 4/10 done | 3s elapsed")
    # done 1 + half of one + failed 1 = 2.5 of 4 trials in 3 s: 1.5 left at that pace is 1.8 s
    assert lines[0].endswith("~1.8s left") and lines[1].endswith("33s elapsed, ~20s left")


def test_a_live_progress_line_is_rewritten_in_place_and_ended_once():
    clock, out = Clock(), io.StringIO()
    shown = progress.Progress([1, 1], iterations=4, out=out, live=True, delay=0, clock=clock)
    shown.begin([(0, "done", 4)])                                        # a resumed run: trial 0 was done
    clock.now += 1
    shown.update([(0, "done", 4)])
    clock.now += 1
    shown.update([(0, "done", 4), (1, "done", 4)], final=True)
    text = out.getvalue()
    assert text.count("\r\033[K") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "time left unknown yet" in text.split("\r")[1]                 # no progress since the start yet
    assert "trials 2/2 done" in text.split("\r")[-1] and text.endswith("all finished\n")


def test_a_short_or_quiet_run_prints_no_progress():
    out = io.StringIO()
    shown = progress.Progress([1], iterations=1, out=out, live=True, delay=3, clock=Clock())
    assert not shown.due()
    shown.update([(0, "done", 1)], final=True)
    assert out.getvalue() == ""


def test_trial_progress_reads_each_trials_last_complete_report(tmp_path):
    done = write_trial(tmp_path, "trial_a", 0, [(outputs(2), "a", False), (outputs(2, start=2), "a", True)])
    running = write_trial(tmp_path, "trial_b", 1, [(outputs(3), "a", False)])
    with open(running / "result.json", "a") as f:
        f.write('{"rows": {"iteration": [3, 4')                            # a report still being written
    failed = write_trial(tmp_path, "trial_c", 2, [(outputs(1), "a", False)])
    time.sleep(0.01)
    (failed / "error.txt").write_text("boom")
    states = sorted(results.trial_progress(tmp_path))
    assert states == [(0, "done", 4), (1, "running", 3), (2, "failed", 1)]
    assert [s for _, s, _ in sorted(results.trial_progress(tmp_path))] == ["done", "running", "failed"]
    assert results_trials._last_report(running, block=16)["iterations_done"] == 3   # read back in small blocks


def test_a_runs_timings_are_whole_milliseconds_that_add_up_to_its_wall_time(monkeypatch):
    clock = iter([100.0, 100.5, 101.2504, 103.0, 107.9999, 108.25])
    monkeypatch.setattr(launcher.time, "time", lambda: next(clock))
    timings = launcher.Timings(start=99.0)
    with timings.phase("ray_start"):              # 100.0 .. 100.5
        pass
    timings.setup_done()                          # 101.2504: what no phase counted, 1.7504 s, is setup
    with timings.phase("compute"):                # 103.0 .. 107.9999
        pass
    # recorded at 108.25: floored to milliseconds; other is the rest, 2.001 s (101.2504 .. 103.0 and the end)
    assert timings.record() == {"setup": 1.75, "ray_start": 0.5, "scheduling": 0.0, "compute": 4.999,
                                "collection": 0.0, "shutdown": 0.0, "other": 2.001, "wall": 9.25,
                                "compute_trials": 0.0}


# ---------------------------------------------------------------------------------------------
# Cost preview
# ---------------------------------------------------------------------------------------------
def test_trials_fill_the_free_slots_in_grid_order():
    assert cost.makespan([4, 1, 1, 1, 1], 2) == 4 and cost.makespan([1, 1, 4], 2) == 5
    assert cost.makespan([2, 2, 2], 1) == 6
    resources = {"cpu": 1.0, "gpu": 0.0}
    assert cost.slots(resources, trials=5, cpus=2, gpus=0) == 2 and cost.slots(resources, 1, 16, 0) == 1
    assert cost.slots({"cpu": 0.5, "gpu": 0.25}, trials=20, cpus=16, gpus=1) == 4


def test_a_timed_step_runs_until_its_budget_then_is_only_counted():
    calls = []

    def step(params, optimizer, s, t, *rest):
        calls.append(1)
        time.sleep(0.01)
        return "loss"

    class Params:
        weights = [__import__("torch").zeros(3, 2, 2)]

    timer = cost.StepTimer(step, budget=0.025, sync=lambda: None)
    losses = [timer(Params, None, None, None) for _ in range(10)]
    assert len(calls) == 4 and timer.count == 10 and timer.skipped == 6        # warm-up + 3 timed steps
    assert losses[:4] == ["loss"] * 4 and all(loss.shape == (3,) for loss in losses[4:])
    assert 0.009 < timer.per_step < 0.05


def test_the_first_step_of_each_batch_shape_warms_up_apart_from_the_steps():
    """A compilation for a new shape (an epoch's last, smaller batch) is paid once, not per step."""
    torch = __import__("torch")

    def step(params, optimizer, s, t, *rest):
        time.sleep(0.3 if s.shape not in seen else 0.01)   # compiles a shape on its first step
        seen.add(s.shape)

    seen = set()

    class Params:
        weights = [torch.zeros(3, 2, 2)]

    timer = cost.StepTimer(step, budget=0.025, sync=lambda: None)
    for shape in [(3, 32, 4)] * 3 + [(3, 16, 4)] + [(3, 32, 4)] * 6:
        timer(Params, None, torch.zeros(shape), None)
    assert len(timer.warmups) == 2 and timer.count == 10
    assert 0.009 < timer.per_step < 0.05                       # the second shape's compilation left out
    assert 0.5 < timer.warmup_extra < 0.7                      # both compilations, once each


def test_a_dry_run_previews_trials_packing_and_cost_without_ray_and_writes_nothing(tmp_path):
    check = ("import sys, main\n"
             "codes = [main.main(['-c', 'interference/fig3a', '--profile', 'quick', '--dry-run']),\n"
             "         main.main(['-c', 'concept_drift/drift', '--profile', 'quick', '--dry-run',\n"
             "                    '-o', 'config.optimizer.lr={grid_search: [0.05]}'])]\n"
             "assert codes == [0, 0] and 'ray' not in sys.modules, (codes, 'ray' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RESULTS_DIR": str(tmp_path / "results")})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert "interference/fig3a-quick: " in out and "2 trials, 2 runs; members per trial: 1 each; pack: seed" in out
    assert re.search(r"rule=pc +1 +\S+ +\S+", out) and "nothing was run or written" in out
    assert re.search(r"estimate on this machine \(\d+ CPUs, \d+ GPUs; 1 CPU a trial, so 2 at a time, on cpu\): "
                     r"~\S+ wall \(\S+ of trials in all\), plus Ray's start-up; ~[\d.]+ [kMG]?B memory", out)
    assert ("prerequisite concept_drift/pretrain-quick (needed by concept_drift/drift-quick+"
            in out and "no complete run, so it runs first" in out)
    assert "2 trials, 6 runs; members per trial: 3 each; pack: seed, optimizer.lr, at most 8" in out
    assert "all runs: ~" in out and not (tmp_path / "results").exists()


def test_a_compiling_first_step_is_counted_once_even_with_one_step_an_iteration(monkeypatch):
    """A first step that compiles outlasts the measuring budget: the measurement goes on to a second
    step, so that the compilation is paid once a trial and not taken for every step's cost."""
    class Training:   # one step per iteration; the first step takes 0.3 s (a compilation), the others 0.01 s
        def __init__(self):
            self.learner = type("Learner", (), {})()
            self.learner.rule = Rule("x", lambda *args: time.sleep(0.01 if calls else 0.3) or calls.append(1), None)

        def iterate(self, iteration, costliest=False):
            assert costliest   # the estimate times the task's costliest iterations (tasks.Task.play_costliest)
            self.learner.rule.step(Params, None, None, None)

    class Params:
        weights = [torch.zeros(1, 1, 1)]

    calls = []
    monkeypatch.setattr(cost.engine.PackedTraining, "build", staticmethod(lambda members: Training()))
    monkeypatch.setattr(cost, "stand_in", lambda member, device: member)
    trial = cost.measure_trial([{"rule": "x"}], iterations=100, threads=1, device="cpu", budget=0.05)
    assert len(calls) == 2 and 0.2 < trial.compile < 1.0
    assert trial.seconds - trial.compile < 10   # 100 steps of ~0.01 s, not 100 of 0.3 s (30 s)


def test_a_dry_run_of_a_fused_run_measures_it_unfused_too_and_says_whether_compiling_repays(monkeypatch):
    asked = []

    def measure(members, iterations, threads, device, budget):   # 5 s unfused; fused: 3 s, 2 s of it compiling
        fused = cost.fused(members[0])
        asked.append(fused)
        return cost.TrialCost(3.0 if fused else 5.0, None, 2.0 if fused else 0.0)

    monkeypatch.setattr(cost, "measure_trial", measure)
    experiment = load_experiment("interference/fig3a", "quick", ["config.rule=pc", "config.pc.fused=true"])
    estimate = cost.estimate(experiment)
    assert asked == [True, False] and estimate.unfused.unfused is None   # one kind of trial, once each way
    assert estimate.trials[0].compile == 2.0 and estimate.unfused.trials[0].compile == 0.0
    assert estimate.wall == 3.0 and estimate.unfused.wall == 5.0
    assert cost.fused_verdict(estimate) == ("  pc.fused: ~2s of the trials' time is compiling (or loading "
                                            "compiled code from the cache); unfused ~5s wall, so the fused "
                                            "step repays its compilation")
    assert "does not repay its compilation here (-o config.pc.fused=false)" in cost.fused_verdict(
        cost.Estimate([cost.TrialCost(6.0, None, 4.0)], 1, 2, 0, "cpu", None, 6.0, None, 0.1, estimate.unfused))
    asked.clear()
    assert cost.estimate(load_experiment("interference/fig3a", "quick", ["config.rule=pc"])).unfused is None
    assert asked == [False]   # not asked for: measured once


def test_a_pretrained_init_is_measured_with_drawn_weights_of_the_same_shapes():
    member = {"model": {"init": {"name": "pretrained", "run": "x/y", "member": 0}, "sizes": [2, 3]}, "device": "auto"}
    shaped = cost.stand_in(member, "cpu")
    assert shaped["model"]["init"]["name"] == "xavier_normal" and shaped["model"]["sizes"] == [2, 3]
    assert shaped["device"] == "cpu" and member["model"]["init"]["name"] == "pretrained"   # not changed


# ---------------------------------------------------------------------------------------------
# One launch at a time
# ---------------------------------------------------------------------------------------------
def test_a_second_launch_on_a_home_in_use_is_refused_naming_the_owner_and_changes_nothing(results_root, capsys,
                                                                                           monkeypatch):
    home = results.run_home(FIG3A, "quick")
    write_run(home, TRIALS, results.COMPLETE)
    prepared = []
    monkeypatch.setattr(launch_plan, "prepare", lambda *args: prepared.append(args))
    with results.locked(home):
        before = tree(results_root)
        assert main.main(["-c", "interference/fig3a", "--profile", "quick"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{home} is in use by another launch (pid {os.getpid()} on " in err
        assert tree(results_root) == before
        assert results.lock_owner(home).startswith(f"pid {os.getpid()} on ")
        assert prepared == []   # refused before the launch's own checks, which can take minutes
    assert results.lock_owner(home) is None and (home / "lock").read_text() == ""


def test_a_lock_left_by_a_killed_launch_is_stale_and_taken_over(results_root, capsys):
    home = results.run_home(FIG3A)
    home.mkdir(parents=True)
    (home / "lock").write_text(json.dumps({"pid": 999999, "host": "h", "since": "then", "command": "main.py"}))
    assert results.lock_owner(home) is None                               # no process holds it
    with results.locked(home):
        assert json.loads((home / "lock").read_text())["pid"] == os.getpid()
    assert "taking over the stale lock" in capsys.readouterr().err and "pid 999999" not in (home / "lock").read_text()


# ---------------------------------------------------------------------------------------------
# The GPU a trial gets
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("requested, gpus, cuda, device", [
    ("auto", [], False, "cpu"), ("auto", [], True, "cpu"), ("auto", [0], True, "cuda"),
    ("cpu", [0], True, "cpu"), ("cuda", ["1"], True, "cuda")])
def test_a_trial_uses_cuda_exactly_when_ray_gave_it_a_gpu_unless_it_asks_for_the_cpu(requested, gpus, cuda, device):
    assert engine.trial_device(requested, gpus, cuda) == device


def test_cuda_without_a_gpu_is_a_clear_error_naming_config_device():
    with pytest.raises(ConfigError, match="^config.device: cuda, but this trial was given no GPU; set resources"):
        engine.trial_device("cuda", [], True)
    with pytest.raises(ConfigError, match=r"^config.device: auto: this trial was given GPU \[0\], but torch .*CUDA"):
        engine.trial_device("auto", [0], False)
    members = [{"device": "cuda"}]
    with pytest.raises(ConfigError, match="^config.device: cuda, but resources_per_trial.gpu is 0"):
        trainables.prepare(members, {"cpu": 1, "gpu": 0})


@pytest.mark.parametrize("gpus, device", [([], "cpu"), ([0], "cuda")])
def test_the_trainable_hands_the_device_ray_assigned_to_every_member(monkeypatch, gpus, device):
    import ray
    import torch
    seen = []

    class Stop(Exception):
        pass

    def train(members, iterations, report, *settings):
        seen.extend(m["device"] for m in members)
        raise Stop

    monkeypatch.setattr(ray, "get_gpu_ids", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(trainables.engine, "train", train)
    with pytest.raises(Stop):
        trainables.supervised({"trial": 0, "iterations": 1}, [[[{"device": "auto"}, {"device": "auto"}]]])
    assert seen == [device, device]


# ---------------------------------------------------------------------------------------------
# Through real Ray
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_run_json_splits_the_launchs_wall_time_into_phases_that_add_up(tmp_path):
    began = time.time()
    done = subprocess.run([sys.executable, "main.py", "-c", "interference/fig3a", "--profile", "quick", "--quiet"],
                          cwd=ROOT, env={**os.environ, "RESULTS_DIR": str(tmp_path)}, capture_output=True,
                          text=True, timeout=300)
    measured = time.time() - began
    assert done.returncode == 0, done.stderr[-3000:]
    timings = results.read_info(results.current_run(tmp_path / "interference" / "fig3a-quick"))["timings"]
    phases = ["setup", "ray_start", "scheduling", "compute", "collection", "shutdown", "other"]
    assert set(timings) == {*phases, "wall", "compute_trials"}
    assert all(value >= 0 for value in timings.values()), timings
    assert sum(timings[p] for p in phases) == pytest.approx(timings["wall"], abs=1e-6) and timings["wall"] <= measured
    for phase in ("setup", "ray_start", "scheduling", "compute", "shutdown"):   # each of these takes time
        assert timings[phase] > 0, timings
    assert timings["compute_trials"] >= timings["compute"]


def test_a_run_records_the_data_sets_its_members_read_with_their_files_published_md5s():
    depth = load_experiment("search_depth/fig3fgh", "mnist_deepest")
    assert launcher.data_read(depth) == {"mnist": DATASETS["mnist"].md5s} and len(DATASETS["mnist"].md5s) == 4
    assert launcher.data_read(load_experiment("interference/fig3a")) == {}


DRIFT_ARGS = ["-c", "concept_drift/drift", "--profile", "quick", "-o", "stop.training_iteration=48",
              "-o", "config.optimizer.lr={grid_search: [0.05]}"]
DRIFT_TAG = results.override_tag(DRIFT_ARGS[-3::2])


@pytest.mark.slow
def test_a_launch_runs_its_missing_prerequisite_first_shows_progress_refuses_a_second_launch_and_reuses_it(tmp_path):
    env = {**os.environ, "RESULTS_DIR": str(tmp_path)}
    first = subprocess.Popen([sys.executable, "main.py", *DRIFT_ARGS, "--progress-every", "1"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock, deadline = tmp_path / "concept_drift" / "pretrain-quick" / "lock", time.time() + 120
    while first.poll() is None and time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "main.py", *DRIFT_ARGS], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, out[-2000:] + err[-3000:]
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert f"is in use by another launch (pid {first.pid} on " in second.stderr

    lines = out.splitlines()
    assert lines[0] == (f"prerequisite concept_drift/pretrain-quick (needed by concept_drift/drift-quick{DRIFT_TAG}) "
                        "has no complete run: running it first")
    progress_lines = [line for line in lines if line.startswith("trials ")]
    assert len(progress_lines) >= 2 and all(PROGRESS_LINE.match(line) for line in progress_lines), out
    assert "\r" not in out and "grid_search" not in out and "Traceback" not in err   # no config dump, no noise
    [pretrained] = results.runs(tmp_path / "concept_drift" / "pretrain-quick")
    drift_home = tmp_path / "concept_drift" / f"drift-quick{DRIFT_TAG}"
    info = results.read_info(results.current_run(drift_home))
    assert info["status"] == results.COMPLETE and info["resolved"]["config"]["model"]["init"]["run"] == (
        "concept_drift/pretrain-quick")
    assert info["data"] == {"digits": {}} and info["launches"][0]["wall_time_s"] == info["wall_time_s"]

    quiet = subprocess.run([sys.executable, "main.py", *DRIFT_ARGS, "-o", "stop.training_iteration=2", "--quiet"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout + quiet.stderr[-3000:]
    assert results.runs(tmp_path / "concept_drift" / "pretrain-quick") == [pretrained]   # reused, not rerun
