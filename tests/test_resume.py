"""A killed run resumes with --resume: finished trials are kept, the others rerun, nothing doubles.

The run is killed at a state that does not depend on the machine's speed: six fast trials have
finished and the one slow trial, last in the grid (PC with 30x the inference steps), has reported
its first of 16 iterations but not its last.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import results

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

    done = subprocess.run([sys.executable, "main.py", *ARGS, "--resume"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming the unfinished run {run}" in done.stdout
    assert results.runs(home) == [run] and results.current_run(home) == run
    after = results.trial_states(run)
    assert {label: after[label] for label in before if label != SLOW} == {
        label: state for label, state in before.items() if label != SLOW}   # finished trials untouched
    assert after[SLOW][0] != before[SLOW][0] and after[SLOW][1:] == (True, 16)   # rerun from the start
    rows = results.load_rows(run)
    assert len(rows) == (FAST + 1) * 6 * 16
    assert rows.groupby(["rule", "model.num_layers", "pc.T", "seed", "iteration"]).size().max() == 1
