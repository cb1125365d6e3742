"""A killed run resumes with --resume: finished trials are kept, the others rerun, nothing doubles."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
ARGS = ["-c", "target_alignment/fig3e", "--profile", "quick", "-o", "config.pc.T=20000"]  # slow PC trials


def finished_attempts(run_path):
    """{trial: attempt id} of the trials whose last report says done."""
    done = {}
    for result in run_path.glob("trial_*/result.json"):
        lines = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if lines and lines[-1]["done"]:
            done[result.parent.name] = lines[-1]["attempt"]
    return done


def test_a_killed_run_resumes_without_rerunning_or_duplicating_finished_trials(tmp_path):
    env = {**os.environ, "RESULTS_DIR": str(tmp_path)}
    run_path = tmp_path / "target_alignment" / "fig3e-quick"
    first = subprocess.Popen([sys.executable, "main.py", *ARGS], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while len(finished_attempts(run_path)) < 3 and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)   # the driver and the local Ray it started
    first.wait()
    before = finished_attempts(run_path)
    assert 3 <= len(before) < 16, f"the run must be killed part-way ({len(before)} of 16 done)"
    done = subprocess.run([sys.executable, "main.py", *ARGS, "--resume"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    after = finished_attempts(run_path)
    assert len(after) == 16
    assert {trial: after[trial] for trial in before} == before         # finished trials kept as they were
    rows = pd.read_parquet(run_path / "rows.parquet")
    assert len(rows) == 16 * 6
    assert rows.groupby(["rule", "model.num_layers", "seed"]).size().max() == 1
