"""The results folder: run homes, runs and the current pointer, the trial record, saved weights; and,
through real Ray, that no finished result is lost to an override run or a killed re-run."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import results
from utils import ConfigError

ROOT = Path(__file__).resolve().parents[1]
FIG3A = ROOT / "experiments" / "interference" / "fig3a.yaml"


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


def member(rule, lr=0.2):
    return {"rule": rule, "seed": 0, "optimizer": {"lr": lr}}


def write_trial(run, name, index, reports):
    """A trial folder as Tune leaves it: params.json (the trial's index in the grid) and one
    result.json line per report, each a (rows, attempt, done) trial record."""
    folder = Path(run) / name
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps({"trial": index}))
    (folder / "result.json").write_text(
        "".join(json.dumps(results.trial_report(*report)) + "\n" for report in reports))
    return folder


def outputs(iterations, members=1, start=0):
    """Columnar rows of a fig3a-like trial."""
    its = [i for i in range(start, start + iterations) for _ in range(members)]
    return {"iteration": its, "member": list(range(members)) * iterations, "diverged": [False] * len(its),
            "output_0": [1.0 - 0.01 * i for i in its], "output_1": [1.0 - 0.001 * i for i in its]}


def write_run(home, trials, status, finished=None, figure="experiments.interference.figures:fig3a"):
    """A run as main.py leaves it: run.json and a folder for each trial that started, finished
    unless excluded from `finished` (a list of trial indices)."""
    run = results.new_run(home)
    keys = results.trial_keys(trials)
    results.write_info(run, {"status": status, "config_file": str(FIG3A), "trial_keys": keys,
                             "trial_labels": [results.trial_label(t, keys) for t in trials],
                             "resolved": {"analysis": figure and {"figure": figure}}})
    results.write_members(run, trials)
    for i, trial in enumerate(trials):
        if finished is None or i in finished:
            write_trial(run, f"trial_{i}", i, [(outputs(2), "a", False), (outputs(2, start=2), "a", True)])
    if status == results.COMPLETE:
        results.set_current(home, run)
    return run


TRIALS = [{"members": [member("pc")]}, {"members": [member("bp")]}]


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------
def test_a_run_with_overrides_has_its_own_home_named_by_a_hash_of_the_parsed_overrides(results_root):
    plain = results.run_home(FIG3A, "quick")
    assert plain == results_root / "interference" / "fig3a-quick"
    home = results.run_home(FIG3A, "quick", ["stop.training_iteration=3"])
    assert re.fullmatch(r"fig3a-quick\+[0-9a-f]{8}", home.name) and home.parent == plain.parent
    same = ["stop.training_iteration= 3", " stop.training_iteration=3"]     # the same key and value
    assert all(results.override_tag([o]) == results.override_tag(["stop.training_iteration=3"]) for o in same)
    others = [["stop.training_iteration=4"], ["stop.training_iteration=3.0"],
              ["stop.training_iteration='3'"], ["stop.training_iteration=3", "config.pc.T=8"]]
    tags = {results.override_tag(o) for o in others} | {results.override_tag(["stop.training_iteration=3"])}
    assert len(tags) == len(others) + 1
    assert results.override_tag(["a=1", "b=2"]) != results.override_tag(["b=2", "a=1"])   # order kept
    assert results.override_tag([]) == "" and results.run_home(FIG3A).name == "fig3a"


def test_an_override_without_a_value_is_a_config_error():
    with pytest.raises(ConfigError, match="stop.training_iteration: expected key.path=value"):
        results.override_tag(["stop.training_iteration"])


def test_trials_are_named_by_the_fewest_short_values_that_tell_them_apart():
    def trial(rule, depth):
        return {"members": [{"rule": rule, "seed": 0, "model": {"sizes": [4] * (depth + 1), "num_layers": depth}}]}
    trials = [trial(rule, depth) for rule in ("pc", "bp") for depth in (1, 2)]
    keys = results.trial_keys(trials)
    assert keys == ["rule", "model.num_layers"]                     # not the longer, redundant sizes
    assert results.trial_label(trials[1], keys) == "rule=pc, model.num_layers=2"
    assert results.trial_label(trials[0], results.trial_keys(trials[:1])) == "the only trial"
    chained = {"members": trials[0]["members"] + trials[1]["members"], "packs": [1, 1]}
    assert results.trial_label(chained, keys) == "rule=pc, model.num_layers=1/2"


# ---------------------------------------------------------------------------------------------
# Runs and the current pointer
# ---------------------------------------------------------------------------------------------
def test_runs_are_kept_in_launch_order_and_the_pointer_names_the_current_one(results_root):
    home = results.run_home(FIG3A)
    first = write_run(home, TRIALS, results.COMPLETE)
    second = write_run(home, TRIALS, results.RUNNING)
    assert results.runs(home) == [first, second] and first.name < second.name
    assert results.current_run(home) == first and results.complete_runs(home) == [first]
    results.set_current(home, second)
    assert (home / "current").read_text() == second.name + "\n" and results.current_run(home) == second
    assert sorted(p.name for p in home.iterdir()) == sorted(["current", first.name, second.name])  # no temp file


def test_a_current_pointer_to_a_removed_run_is_an_error_naming_it_and_the_complete_runs(results_root):
    home = results.run_home(FIG3A)
    kept = write_run(home, TRIALS, results.COMPLETE)
    removed = write_run(home, TRIALS, results.COMPLETE)
    shutil.rmtree(removed)
    with pytest.raises(ConfigError, match=rf"^{home / 'current'}: names '{removed.name}', not a run folder of this "
                                          rf"home; its complete runs: {kept.name}; write the name"):
        results.current_run(home)


@pytest.mark.parametrize("statuses, resumed", [
    ([results.RUNNING], 0), ([results.COMPLETE, results.FAILED], 1), ([results.COMPLETE], None),
    ([results.RUNNING, results.COMPLETE], None), ([], None)])
def test_resume_takes_the_newest_run_only_if_it_did_not_complete(results_root, statuses, resumed):
    home = results.run_home(FIG3A)
    made = [write_run(home, TRIALS, status) for status in statuses]
    if resumed is None:
        with pytest.raises(ConfigError, match="^--resume: no"):
            results.run_to_resume(home)
    else:
        assert results.run_to_resume(home) == made[resumed]


# ---------------------------------------------------------------------------------------------
# The trial record
# ---------------------------------------------------------------------------------------------
def test_trial_rows_are_the_last_attempts_reports_with_each_members_flattened_config(tmp_path):
    trials = [{"members": [member("bp", 0.3)]}, {"members": [member("pc", 0.1), member("pc", 0.2)]}]
    results.write_members(tmp_path, trials)
    folder = write_trial(tmp_path, "trial_x", 1, [
        (outputs(1, members=2), "killed", False),                              # an attempt that died
        (outputs(1, members=2), "rerun", False), (outputs(1, members=2, start=1), "rerun", True)])
    rows = results.read_trial_rows(folder, pd.read_parquet(tmp_path / results.MEMBERS_FILE))
    assert len(rows) == 4 and set(rows["trial_id"]) == {"trial_x"}
    assert list(zip(rows["iteration"], rows["member"], rows["optimizer.lr"])) == [
        (0, 0, 0.1), (0, 1, 0.2), (1, 0, 0.1), (1, 1, 0.2)]
    assert results.trial_report(outputs(3), "a", True)["iterations_done"] == 3


def test_the_trials_compute_is_the_union_of_their_intervals_within_the_window_and_their_sum(tmp_path):
    def report(start, end):
        return dict(results.trial_report(outputs(1), "a", False, compute=(start, end)))

    for name, intervals in {"trial_a": [(10, 12), (13, 15)], "trial_b": [(11, 14)], "trial_c": [(2, 3), (19, 30)]}.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "params.json").write_text(json.dumps({"trial": 0}))
        (folder / "result.json").write_text("".join(json.dumps(report(*i)) + "\n" for i in intervals))
    # window [9, 20]: (10, 12) u (11, 14) u (13, 15) u (19, 20) = 5 + 1 wall seconds; 2 + 2 + 3 + 1 trial-seconds
    assert results.compute_span(tmp_path, 9, 20) == (6, 8)
    assert results.compute_span(tmp_path, 40, 50) == (0, 0)


def test_a_runs_wall_time_sums_its_launches_and_counts_those_that_recorded_none(tmp_path):
    run = results.Run(tmp_path, {"config_file": "x.yaml", "resolved": {}, "trial_labels": ["a"],
                                 "failed_trials": [], "unfinished_trials": ["a"]})
    for wall in (5.0, None, 7.5):   # a launch stopped by Tune, one killed outright, one that finished
        run.start()
        if wall == 5.0:
            run.stopped("lost the node", wall)
        elif wall:
            run.finish(wall)
    info = results.read_info(tmp_path)
    assert results.wall_time(info) == (12.5, 3, 1) and info["wall_time_s"] == 7.5
    assert results.wall_time({"wall_time_s": 3.0}) == (3.0, None, 0)   # a record from before launches were kept


def test_unfinished_trials_are_the_expected_ones_without_a_finished_record(results_root):
    trials = [{"members": [member(rule, lr)]} for rule in ("pc", "bp") for lr in (0.1, 0.2)]
    run = write_run(results.run_home(FIG3A), trials, results.RUNNING, finished=[0, 3])
    write_trial(run, "trial_1", 1, [(outputs(1), "a", False)])    # killed part-way
    assert results.unfinished_trials(run) == ["rule=pc, optimizer.lr=0.2", "rule=bp, optimizer.lr=0.1"]
    assert len(results.load_rows(run)) == 4 + 4 + 1    # no rows.parquet yet: the trial records


def test_retried_trials_are_those_with_a_failure_in_tunes_error_file_with_the_count_and_last_error(results_root):
    trials = [{"members": [member(rule, lr)]} for rule in ("pc", "bp") for lr in (0.1, 0.2)]
    run = write_run(results.run_home(FIG3A), trials, results.RUNNING, finished=[0, 1])
    # As Tune appends them: a header per failure, then the error (a lost node's is several lines).
    failure = "Failure # {} (occurred at 2026-01-01_00-00-00)\n{}\n"
    (run / "trial_1" / "error.txt").write_text(failure.format(1, "ray.exceptions.ActorDiedError: lost\nmore"))
    write_trial(run, "trial_2", 2, [(outputs(1), "a", False)])
    (run / "trial_2" / "error.txt").write_text(failure.format(1, "\nValueError: one") + failure.format(2, "ValueError: two"))
    assert results.retried_trials(run) == [
        {"trial": "rule=pc, optimizer.lr=0.2", "failures": 1, "error": "ray.exceptions.ActorDiedError: lost",
         "finished": True},
        {"trial": "rule=bp, optimizer.lr=0.1", "failures": 2, "error": "ValueError: two", "finished": False}]


# ---------------------------------------------------------------------------------------------
# Saved weights
# ---------------------------------------------------------------------------------------------
def saved_weights(run, value):
    import torch
    checkpoint = run / "trial_0" / "checkpoint_000000"
    checkpoint.mkdir(parents=True, exist_ok=True)
    results.save_weights(checkpoint, {"weights": [torch.full((2, 3, 4), value)], "biases": [None]})


def test_weights_come_from_the_current_complete_run_of_the_named_config(results_root):
    home = results.run_home(FIG3A, "quick")
    with pytest.raises(ConfigError, match="no complete run of interference/fig3a-quick.*run the config"):
        results.weights_file("interference/fig3a-quick")
    current = write_run(home, TRIALS[:1], results.COMPLETE)
    saved_weights(current, 1.0)
    saved_weights(write_run(home, TRIALS[:1], results.RUNNING), 2.0)         # newer, never completed
    assert results.weights_file("interference/fig3a-quick").is_relative_to(current)
    weights, biases = results.load_weights("interference/fig3a-quick", member=1)
    assert biases == [None] and weights[0].shape == (3, 4) and weights[0].eq(1.0).all()


def test_a_run_with_several_weight_files_is_an_error_naming_the_run(results_root):
    run = write_run(results.run_home(FIG3A), TRIALS, results.COMPLETE)
    saved_weights(run, 1.0)
    (run / "trial_1" / "checkpoint_000000").mkdir()
    results.save_weights(run / "trial_1" / "checkpoint_000000", {"weights": [], "biases": []})
    with pytest.raises(ConfigError, match=f"2 saved weight files in {run}"):
        results.weights_file("interference/fig3a")


# ---------------------------------------------------------------------------------------------
# Through main.py and real Ray: nothing finished is lost
# ---------------------------------------------------------------------------------------------
QUICK = ["-c", "interference/fig3a", "--profile", "quick"]


def test_resume_with_nothing_to_resume_is_one_line_and_exit_code_2(results_root, capsys):
    import main
    assert main.main([*QUICK, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume: no run to resume under" in err and not results_root.exists()


def launch(results_dir, *args, **kwargs):
    return subprocess.Popen([sys.executable, "main.py", *QUICK, *args], cwd=ROOT,
                            env={**os.environ, "RESULTS_DIR": str(results_dir)}, **kwargs)


def finish(results_dir, *args, script="main.py"):
    done = subprocess.run([sys.executable, script, *QUICK, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "RESULTS_DIR": str(results_dir)}, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def snapshot(home):
    """Every file of the home's current run, and the pointer, as bytes."""
    files = [home / "current", *(p for p in results.current_run(home).rglob("*") if p.is_file())]
    return {path: path.read_bytes() for path in files}


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """A complete plain run of fig3a's quick profile: (results dir, its home, the home's files)."""
    results_dir = tmp_path_factory.mktemp("results")
    finish(results_dir)
    home = results_dir / "interference" / "fig3a-quick"
    return results_dir, home, snapshot(home)


@pytest.mark.slow
def test_an_override_run_leaves_the_plain_run_intact_and_each_is_analysed_from_its_own_home(plain_run, tmp_path):
    results_dir, home, before = plain_run
    finish(results_dir, "-o", "stop.training_iteration=3")
    assert snapshot(home) == before
    for overrides, iterations in ((["stop.training_iteration=3"], 3), ([], 24)):
        finish(results_dir, *(f"-o{o}" for o in overrides), "--out", str(tmp_path), script="analysis_v1.py")
        stem = "fig3a-quick" + results.override_tag(overrides)
        source = (tmp_path / "source_data" / f"{stem}.csv").read_text().splitlines()
        assert len(source) == 1 + 2 * iterations   # header, then both rules' iterations


@pytest.mark.slow
def test_a_killed_rerun_leaves_the_previous_complete_results_current_and_readable(plain_run, tmp_path):
    results_dir, home, before = plain_run
    rerun = launch(results_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(results.runs(home)) < 2 and rerun.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(rerun.pid, signal.SIGKILL)   # the driver and the local Ray it started
    rerun.wait()
    killed = results.runs(home)[-1]
    assert killed != results.current_run(home) and results.read_info(killed)["status"] == results.RUNNING
    assert snapshot(home) == before
    done = finish(results_dir, "--out", str(tmp_path), script="analysis_v1.py")
    assert f"results: {results.current_run(home)}" in done.stdout and str(killed) in done.stderr
    assert (tmp_path / "source_data" / "fig3a-quick.csv").exists()
