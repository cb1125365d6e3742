"""The quick profiles through real Ray (main.py) and the analysis (analysis_v1.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_cli(script, config, results, out=None):
    args = [sys.executable, script, "-c", config, "--profile", "quick"]
    args += ["--out", str(out)] if out else []
    env = {**os.environ, "RESULTS_DIR": str(results)}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def run_and_analyse(config, tmp_path, panels):
    """Run a config's quick profile and its analysis; check every file; return the rows and summary."""
    results, out = tmp_path / "results", tmp_path / "figures"
    run_cli("main.py", config, results)
    run_path = results / Path(config).parent.name / f"{Path(config).name}-quick"
    assert (run_path / "run.json").exists()
    summary = run_cli("analysis_v1.py", config, results, out)
    for panel in panels:
        for suffix in (".png", ".pdf", "-summary.txt"):
            assert (out / f"{panel}-quick{suffix}").stat().st_size > 0
        assert (out / "source_data" / f"{panel}-quick.csv").exists()
    return pd.read_parquet(run_path / "rows.parquet"), summary, out


def test_interference_quick_shows_a_smaller_dip_for_pc_than_for_bp(tmp_path):
    rows, summary, out = run_and_analyse("interference/fig3a", tmp_path, ["fig3a"])
    assert len(rows) == 2 * 24 and "paper ≈0.93" in summary
    dip = rows.groupby("rule")["output_1"].min()
    assert dip["pc"] > 0.9 > 0.8 > dip["bp"]
    source = pd.read_csv(out / "source_data" / "fig3a-quick.csv")
    assert list(source.columns) == ["rule", "lr", "iteration", "output_0", "output_1"]


def test_target_alignment_quick_keeps_pc_above_bp_at_depth(tmp_path):
    rows, _, out = run_and_analyse("target_alignment/fig3e", tmp_path, ["fig3e"])
    median = rows.groupby(["rule", "model.num_layers"])["target_alignment"].median()
    assert median["pc", 1] == pytest.approx(median["bp", 1], abs=1e-5)   # one layer: PC = BP
    for depth in (8, 16, 25):
        assert median["pc", depth] > median["bp", depth] + 0.2
    source = pd.read_csv(out / "source_data" / "fig3e-quick.csv")
    assert list(source.columns) == ["rule", "num_layers", "seed", "target_alignment"]
