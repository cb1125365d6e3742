"""A config's quick profile through main.py (real Ray, a subprocess) and analysis_v1.py (in this
process: it starts no Ray and trains nothing). RESULTS_DIR is the caller's."""
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import analysis_v1
import claims
import report
import results
from utils import resolve_config_path

ROOT = Path(__file__).resolve().parents[1]


def reported(summary, panel, quantity):
    """The `ours` number of the summary line `panel: quantity...: ours X, paper Y` (printed to 3 places)."""
    [line] = [line for line in summary.splitlines() if line.startswith(f"{panel}: {quantity}")]
    return float(line.rsplit(": ours ", 1)[1].split(",")[0])


def run_quick(config, out):
    """Run and analyse `config --profile quick` (figures into `out`); returns the current run folder."""
    done = subprocess.run([sys.executable, "main.py", "-c", config, "--profile", "quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with contextlib.redirect_stdout(io.StringIO()):
        assert analysis_v1.main(["-c", config, "--profile", "quick", "--out", str(out)]) == 0
    return results.current_run(results.run_home(resolve_config_path(config), "quick"))


def assert_quick_claims(config, rows):
    """Every claim of `config` (its experiment's claims.py) expected on the quick profile holds on
    these quick rows, on all their seeds; returns the number of claims checked."""
    declared = [claim for claim in report.experiment_claims(config.split("/")[0]) if claim.config.partition("@")[0] == config]
    failing = {claim.id: value for claim in declared if claim.quick
               and not claim.holds(value := claims.value(claim, rows))}
    assert not failing, f"quick-profile claims that do not hold: {failing}"
    return sum(claim.quick for claim in declared)
