"""A killed run resumes with --resume: finished trials are kept, the others rerun, nothing doubles.

The run is killed at a state that does not depend on the machine's speed: six fast trials have
finished and the one slow trial, last in the grid (PC with 30x the inference steps), has reported
its first of 16 iterations but not its last. One finished trial's record is then cut short, as a
full disk or a crash leaves it: --resume runs that trial again too.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import results
import results_trials

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
OVERRIDES = ["packs_per_trial=1",                                     # one pack a trial: seven trials
             "stop.training_iteration=16", "report_every=1", "config.model.num_layers={grid_search: [1, 2, 4]}",
             "variants=[{}, {rule: pc, model: {num_layers: 2}, pc: {T: 8000}}]"]   # the last: the slow trial
ARGS = ["-c", "target_alignment/fig3e", "--profile", "quick", *(f"-o{o}" for o in OVERRIDES)]
FAST, SLOW = 6, "rule=pc, model.num_layers=2, pc.T=8000"


def killed_part_way(run):
    """True once every fast trial has finished and the slow one has reported."""
    states = results.trial_states(run) if (run / "run.json").exists() else {}
    return SLOW in states and sum(done for label, (_, done, _) in states.items() if label != SLOW) == FAST


def cut_short(run, label):
    """Cut the end off the record (result.json) of the run's trial `label`; returns its folder."""
    labels = results.read_info(run)["trial_labels"]
    [trial_dir] = [d for d in run.glob("trial_*") if labels[results_trials._trial_index(d)] == label]
    record = trial_dir / "result.json"
    record.write_bytes(record.read_bytes()[:-40])
    return trial_dir


@pytest.mark.security
def test_a_killed_run_resumes_without_rerunning_or_duplicating_finished_trials(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    # Tune writes the trial records beside Ray's session and copies them into the run folder with its
    # experiment state, every 10 s by default: the whole first launch can take less than that.
    env = dict(os.environ, TUNE_GLOBAL_CHECKPOINT_S="1")
    home = results.run_home(ROOT / "experiments" / "target_alignment" / "fig3e.yaml", "quick", OVERRIDES)
    first = subprocess.Popen([sys.executable, "main.py", *ARGS], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (results.runs(home) and killed_part_way(results.runs(home)[0])) and time.time() < deadline:
        assert first.poll() is None, "the first launch ended by itself"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)   # the driver and the local Ray it started
    first.wait()
    [run] = results.runs(home)
    before = results.trial_states(run)
    assert not before[SLOW][1] and len(before) == FAST + 1, before
    damaged = next(label for label in before if label != SLOW)
    damaged_dir = cut_short(run, damaged)

    done = subprocess.run([sys.executable, "main.py", *ARGS, "--resume"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming the unfinished run {run}" in done.stdout
    assert f"{damaged_dir / 'result.json'}: damaged trial record" in done.stderr
    assert results.runs(home) == [run] and results.current_run(home) == run
    seconds, launches, unrecorded = results.wall_time(results.read_info(run))
    assert (launches, unrecorded) == (2, 1) and seconds == results.read_info(run)["wall_time_s"]   # killed: no end
    after = results.trial_states(run)
    assert {label: after[label] for label in before if label not in (SLOW, damaged)} == {
        label: state for label, state in before.items() if label not in (SLOW, damaged)}   # finished: untouched
    assert after[SLOW][0] != before[SLOW][0] and after[SLOW][1:] == (True, 16)   # rerun from the start
    assert after[damaged][0] != before[damaged][0] and after[damaged][1]         # the damaged one run again
    assert (damaged_dir / "result.json.damaged").exists()
    rows = results.load_rows(run)
    assert len(rows) == (FAST + 1) * 6 * 16
    assert rows.groupby(["rule", "model.num_layers", "pc.T", "seed", "iteration"]).size().max() == 1


MID_TRIAL = ["config.rule=pc", "config.seed={grid_search: [0, 1]}", "stop.training_iteration=8",
             "variants=[{data: {batch_size: 8}, optimizer: {lr: {grid_search: [0.025, 0.05]}}}]",
             "config.model.width={grid_search: [16, 24]}", "packs_per_trial=2",   # one trial, two packs of 4
             "checkpoint_every_s=0"]                                             # a checkpoint every iteration
MID_ARGS = ["-c", "batch_size/fig4bc", "--profile", "quick", *(f"-o{o}" for o in MID_TRIAL)]


def in_second_pack_with_a_checkpoint(run):
    """True once the trial has reported from its second pack (members 4-7), iteration 3 or later,
    and saved a state there."""
    trial_dirs = list(run.glob("trial_*")) if run else []
    last = results_trials._last_report(trial_dirs[0]) if trial_dirs else None
    return (last is not None and not last["done"] and min(last["rows"]["member"]) >= 4
            and last["iterations_done"] >= 3 and any(trial_dirs[0].glob(f"checkpoint_*/{results.STATE_FILE}")))


def test_a_trial_killed_mid_run_continues_from_its_checkpoint_and_equals_an_uninterrupted_run(tmp_path):
    whole = subprocess.run([sys.executable, "main.py", *MID_ARGS], cwd=ROOT, capture_output=True, text=True,
                           timeout=600, env=dict(os.environ, RESULTS_DIR=str(tmp_path / "whole")))
    assert whole.returncode == 0, whole.stderr[-3000:]
    env = dict(os.environ, RESULTS_DIR=str(tmp_path / "killed"))
    name = results.run_home(ROOT / "experiments" / "batch_size" / "fig4bc.yaml", "quick", MID_TRIAL).name
    home = tmp_path / "killed" / "batch_size" / name
    first = subprocess.Popen([sys.executable, "main.py", *MID_ARGS], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not in_second_pack_with_a_checkpoint(results.runs(home)[0] if results.runs(home) else None):
        assert first.poll() is None and time.time() < deadline, "the first launch ended by itself"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)   # the driver and the local Ray it started
    first.wait()

    done = subprocess.run([sys.executable, "main.py", *MID_ARGS, "--resume"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = results.runs(home)
    [trial_dir] = run.glob("trial_*")
    reports = results_trials._reports(trial_dir)
    resumed = [r for r in reports if r["attempt"] == reports[-1]["attempt"]]
    trained = [r for r in resumed if "compute" in r]   # what the resumed attempt computed itself
    assert all(min(r["rows"]["member"]) >= 4 for r in trained)   # the first pack is not trained again,
    assert min(trained[0]["rows"]["iteration"]) >= 3             # nor the second from its start
    assert not list(run.glob("*/checkpoint_*"))                  # states are dropped once complete

    def tidy(rows):
        return rows.drop(columns="trial_id").sort_values(["member", "iteration"]).reset_index(drop=True)
    expected = results.load_rows(results.current_run(tmp_path / "whole" / "batch_size" / name))
    assert tidy(results.load_rows(run)).equals(tidy(expected))   # bit for bit
