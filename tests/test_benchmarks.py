"""benchmarks/run.py: one command writes every benchmark's table and an index (run here on the
smallest settings, the longer benchmarks skipped)."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

import step_cost   # benchmarks/, importable through conftest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_one_command_writes_the_step_cost_table_and_the_op_overhead_with_an_index(tmp_path):
    subprocess.run([sys.executable, ROOT / "benchmarks" / "run.py", "--out", tmp_path, "--max-members", "1",
                    "--skip", "cnn_cost", "dqn", "figures"], cwd=ROOT, check=True, capture_output=True)
    rows = list(csv.DictReader(open(tmp_path / "step_cost.csv")))
    assert [r["shape"] for r in rows] == list(step_cost.SHAPES)
    assert all(float(r["pc_step_us"]) > 0 and float(r["bare_bp_us"]) > 0 for r in rows)
    assert "| 1-1-2 | 1 |" in (tmp_path / "op_overhead.md").read_text()
    index = (tmp_path / "README.md").read_text()
    assert "[step_cost](step_cost.md)" in index and "[op_overhead](op_overhead.md)" in index
    assert "failed" not in index and "- [dqn]" not in index
