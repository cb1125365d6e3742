"""analysis_v1.py on runs written by hand: it reads run.json and the rows only, refuses unfinished runs
unless --partial, and turns a bad `analysis.figure` of the YAML into one line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import analysis_v1
import results
from test_results import FIG3A, TRIALS, write_run

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["-c", "interference/fig3a"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    return results.run_home(FIG3A)


def analyse(capsys, *args):
    """analysis_v1.main's exit code and its stdout and stderr."""
    code = analysis_v1.main([*ARGS, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_analysis_imports_neither_torch_nor_the_training_code(home, tmp_path):
    write_run(home, TRIALS, results.COMPLETE)
    check = ("import sys, analysis_v1\n"
             f"code = analysis_v1.main({ARGS + ['--out', str(tmp_path / 'out')]!r})\n"
             "loaded = [m for m in ('torch', 'ray', 'schema', 'engine', 'trainables') if m in sys.modules]\n"
             "assert code == 0 and not loaded, (code, loaded)\n")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "RESULTS_DIR": os.environ["RESULTS_DIR"]}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("fig3a.png", "fig3a.pdf", "fig3a-summary.txt", "source_data/fig3a.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_a_run_with_unfinished_trials_is_refused_naming_them_unless_partial(home, tmp_path, capsys):
    write_run(home, TRIALS, results.RUNNING, finished=[0])
    out = tmp_path / "figures"
    code, _, err = analyse(capsys, "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out.exists()
    assert "1 unfinished trials: rule=bp" in err and "--partial" in err and "--resume" in err
    code, _, err = analyse(capsys, "--out", str(out), "--partial")
    assert code == 0 and "rule=bp" in err
    source = (out / "source_data" / "fig3a.csv").read_text().splitlines()
    assert len(source) == 1 + 4 and all(line.startswith("pc,") for line in source[1:])


def test_the_current_complete_run_is_plotted_even_when_a_newer_run_did_not_finish(home, tmp_path, capsys):
    current = write_run(home, TRIALS, results.COMPLETE)
    newer = write_run(home, TRIALS, results.FAILED, finished=[1])
    code, out, err = analyse(capsys, "--out", str(tmp_path))
    assert code == 0 and f"results: {current}" in out and f"{newer} is failed" in err


def test_no_results_is_one_line_saying_to_run_main_first(home, capsys):
    code, _, err = analyse(capsys)
    assert code == 2 and err.count("\n") == 1 and f"no results at {home}" in err


def yaml_with_figure(tmp_path, figure):
    """fig3a.yaml, copied elsewhere with `analysis` naming `figure` (None: no analysis section)."""
    doc = yaml.safe_load(FIG3A.read_text())
    doc["analysis"] = figure and {"figure": figure}
    config = tmp_path / "interference" / "fig3a.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(doc))
    return config


@pytest.mark.parametrize("figure, problem", [
    (None, "analysis.figure: missing; name the figure function, experiments.<experiment>.<module>:<function>"),
    ("subprocess:check_call", "analysis.figure: 'subprocess:check_call' is not allowed; expected experiments."),
    ("experiments.interference.figures:no_such_figure", "figures.py defines no function 'no_such_figure'; its "
                                                        "functions: source_data, output_space, dips, fig3a, fig3d"),
    ("experiments.interference.figures:PAPER_DIP", "defines no function 'PAPER_DIP'"),
    ("experiments.interference.figures:source_data", "analysis.figure: experiments.interference.figures:source_data "
                                                     "returned DataFrame, not a list of analysis_utils.Panel"),
])
def test_a_bad_analysis_figure_in_the_yaml_is_one_line_naming_the_file_and_key(home, tmp_path, capsys, figure,
                                                                                problem):
    config = yaml_with_figure(tmp_path, figure)
    write_run(results.run_home(config), TRIALS, results.COMPLETE)
    code = analysis_v1.main(["-c", str(config), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {config}: ") and problem in err
