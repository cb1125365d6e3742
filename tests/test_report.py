"""The reproduction report (report.py, analysis_v1.py --report): every experiment's claims, decided
from a results folder alone, written as markdown and as one self-contained HTML page."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import analysis_v1
import claims
import report
import results
from utils import resolve_config_path

ROOT = Path(__file__).resolve().parents[1]


def every_claim():
    return [claim for experiment in report.experiments() for claim in report.experiment_claims(experiment)]


def test_every_experiment_declares_claims_of_its_own_configs_panels_with_unique_ids():
    for experiment in report.experiments():
        declared = report.experiment_claims(experiment)
        assert declared, f"{experiment}: no claims.py with CLAIMS"
        for claim in declared:
            config, _, profile = claim.config.partition("@")   # <config>@<paper-scale profile>
            assert config.split("/")[0] == experiment
            document = yaml.safe_load(resolve_config_path(config).read_text())
            assert claim.panel in document["figures"], (claim.id, document["figures"])
            assert not profile or profile in document["profiles"], (claim.id, profile)
            assert claim.text and claim.quantity and claim.band != (None, None) and claim.seeds >= 1
            assert claim.quick or claim.note, f"{claim.id}: not expected on quick data, but no note says why"
    ids = [claim.id for claim in every_claim()]
    assert len(ids) == len(set(ids))


MD5 = "bb300cfdad3c16e7a12a480ee83cd310"


def write_run(config, rows, profile=None):
    """A complete run of `config` holding `rows`, as main.py leaves one."""
    home = results.run_home(resolve_config_path(config), profile)
    run = results.new_run(home)
    results.write_rows(run, rows)
    results.write_info(run, {"status": results.COMPLETE, "config_file": str(resolve_config_path(config)),
                             "resolved": "{}", "trial_labels": [], "git_revision": "0123456789abcdef",
                             "wall_time_s": 8.4, "data": {"fashion_mnist": {"t10k-labels-idx1-ubyte.gz": MD5}},
                             "launches": [{"started": 0, "wall_time_s": 4.0}, {"started": 9}, {"started": 99, "wall_time_s": 8.4}]})
    results.set_current(home, run)
    return run


def dip_rows(pc_dip, bp_dip):
    """Fig. 3a rows whose lowest output 1 is `pc_dip` for PC and `bp_dip` for BP."""
    return pd.DataFrame([{"rule": rule, "optimizer.lr": 0.2, "seed": 0, "iteration": i,
                          "output_0": 1 - i / 24, "output_1": dip if i == 3 else 1.0}
                         for rule, dip in (("pc", pc_dip), ("bp", bp_dip)) for i in range(24)])


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


def test_the_report_decides_the_claims_of_the_runs_there_and_lists_the_others_with_their_commands(results_dir, tmp_path):
    run = write_run("interference/fig3a", dip_rows(0.93, 0.76))
    write_run("interference/fig3d", dip_rows(0.5, 0.76).assign(**{"optimizer.lr": 0.1}), profile="quick")
    md, page, panels = report.write(out=tmp_path / "report")
    by_panel = {panel.name: panel for panel in panels}
    assert {claim.panel for claim in every_claim()} == set(by_panel)
    fig3a = {v.claim.id: v for v in by_panel["fig3a"].verdicts}
    assert fig3a["fig3a.less_interference"].value == pytest.approx(0.17)
    assert {v.state for v in fig3a.values()} == {claims.HOLDS} and by_panel["fig3a"].run.scale == report.PAPER
    fig3d = by_panel["fig3d"]
    assert fig3d.run.scale == report.QUICK_SCALE and fig3d.run.folder is not None
    assert {v.claim.id: v.state for v in fig3d.verdicts}["fig3d.every_lr"] == claims.FAILS    # PC dips deeper here
    assert all(v.state == claims.NOT_RUN for v in by_panel["fig4b"].verdicts)
    text = md.read_text()
    assert run.name in text and "0123456789ab" in text and report.checksum(run) in text
    assert "12 s over 3 launches, 1 killed before recording theirs" in text       # 4.0 + 8.4, one unrecorded
    assert f"fashion_mnist: t10k-labels-idx1-ubyte.gz {MD5}" in text and "| fashion_mnist |" in text
    assert "| batch_size/fig4bc | python main.py -c batch_size/fig4bc |" in text      # not run: its command
    assert "| dqn/fig4k@cartpole | python main.py -c dqn/fig4k --profile cartpole |" in text   # a paper-scale profile
    assert "quick profile" in text and "![fig3a](" in text
    html = page.read_text()
    assert "data:image/png;base64," in html and "src='http" not in html and run.name in html


def test_a_claim_of_a_paper_scale_profile_is_decided_on_that_profiles_run(results_dir):
    run = write_run("dqn/fig4k", dip_rows(0.9, 0.8), profile="cartpole")
    found = report.find_run("dqn/fig4k@cartpole", None)
    assert found.folder == run and found.scale == report.PAPER and found.label == "dqn/fig4k@cartpole"
    assert found.command() == "python main.py -c dqn/fig4k --profile cartpole"
    assert report.find_run("dqn/fig4k", None).folder is None      # the whole grid: not run
    assert report.find_run("dqn/fig4k@cartpole", "quick").folder is None


def test_an_unfinished_run_is_reported_with_how_far_it_got(results_dir, tmp_path):
    home = results.run_home(resolve_config_path("interference/fig3a"))
    run = results.new_run(home)
    results.write_info(run, {"status": "running", "config_file": str(resolve_config_path("interference/fig3a")),
                             "resolved": "{}", "trial_labels": ["rule=pc", "rule=bp"]})
    found = report.find_run("interference/fig3a", None)
    assert found.folder is None
    assert f"paper scale: run {run.name} unfinished, 0 of 2 trials done (--resume continues it)" in found.problem
    md, _, _ = report.write(out=tmp_path / "report")
    assert f"run {run.name} unfinished, 0 of 2 trials done" in md.read_text()


def test_with_profile_quick_only_quick_runs_count(results_dir, tmp_path):
    write_run("interference/fig3a", dip_rows(0.93, 0.76))
    md, page, panels = report.write("quick", out=tmp_path / "report")
    assert md.name == "REPORT-quick.md" and page.name == "index-quick.html"
    fig3a = next(panel for panel in panels if panel.name == "fig3a")
    assert fig3a.run.folder is None and "python main.py -c interference/fig3a --profile quick" in md.read_text()


def test_a_damaged_run_record_is_reported_not_raised(results_dir, tmp_path):
    run = write_run("interference/fig3a", dip_rows(0.93, 0.76))
    (run / results.INFO_FILE).write_text("{not json")
    md, _, panels = report.write(out=tmp_path / "report")
    fig3a = next(panel for panel in panels if panel.name == "fig3a")
    assert fig3a.run.folder is None and "unreadable run record" in md.read_text()


def test_analysis_v1_report_runs_from_results_alone_without_the_training_code(results_dir, tmp_path):
    write_run("interference/fig3a", dip_rows(0.93, 0.76))
    code = ("import sys, analysis_v1; code = analysis_v1.main(['--report', '--out', sys.argv[1]]); "
            "loaded = {'engine', 'pc_trainable', 'bp_trainable', 'tp_trainable', 'trainables', 'torch', 'ray'} "
            "& set(sys.modules); print(sorted(loaded)); sys.exit(code or len(loaded))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "REPORT.md").exists() and (tmp_path / "out" / "index.html").exists()
    with pytest.raises(SystemExit):
        analysis_v1.parse_args(["--report", "-c", "interference/fig3a"])


def test_a_claim_the_rows_cannot_decide_and_a_damaged_rows_file_are_reported_as_such(results_dir, tmp_path):
    write_run("interference/fig3a", dip_rows(0.93, 0.76).assign(**{"optimizer.lr": 0.1}))   # no lr 0.2 there
    (write_run("interference/fig3d", dip_rows(0.9, 0.8)) / results.ROWS_FILE).write_text("damaged")
    _, _, panels = report.write(out=tmp_path / "report")
    for name in ("fig3a", "fig3d"):
        states = [v.state for v in next(panel for panel in panels if panel.name == name).verdicts]
        assert states and all(state.startswith(report.UNDECIDABLE) for state in states)
