"""The quick profiles through real Ray (main.py) and the analysis (analysis_v1.py)."""
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import analysis_v1
from quick import assert_quick_claims
import results
from quick import reported
from utils import resolve_config_path

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def results_dir(tmp_path, monkeypatch):
    """Each test's RESULTS_DIR, for the launched scripts and for results.py here."""
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


def run_cli(script, config, *options):
    done = subprocess.run([sys.executable, script, "-c", config, "--profile", "quick", *options], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def analyse(config, out, *options):
    """analysis_v1.py's main in this process (it starts no Ray and trains nothing); its output."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert analysis_v1.main(["-c", config, "--profile", "quick", "--out", str(out), *options]) == 0
    return printed.getvalue()


def current_rows(config, profile="quick", overrides=()):
    """The rows of the current (complete) run of a config."""
    run = results.current_run(results.run_home(resolve_config_path(config), profile, overrides))
    assert run is not None and results.read_info(run)["status"] == results.COMPLETE
    return results.load_rows(run)


def run_and_analyse(config, tmp_path, panels, *options):
    """Run a config's quick profile (with -o `options`) and its analysis; check every file and, without
    options, the claims expected on the quick profile; return the rows and summary."""
    out, tag = tmp_path / "figures", "-quick" + results.override_tag(options[1::2])
    run_cli("main.py", config, *options)
    summary = analyse(config, out, *options)
    for panel in panels:
        for suffix in (".png", ".pdf", "-summary.txt"):
            assert (out / f"{panel}{tag}{suffix}").stat().st_size > 0
        assert (out / "source_data" / f"{panel}{tag}.csv").exists()
    rows = current_rows(config, overrides=options[1::2])
    if not options:   # the claims expected on the quick profile, as it stands
        assert_quick_claims(config, rows)
    return rows, summary, out


def test_interference_quick_shows_a_smaller_dip_for_pc_than_for_bp(tmp_path):
    rows, summary, out = run_and_analyse("interference/fig3a", tmp_path, ["fig3a"])
    assert len(rows) == 2 * 24
    dip = rows.groupby("rule")["output_1"].min()
    assert dip["pc"] > 0.9 > 0.8 > dip["bp"]
    source = pd.read_csv(out / "source_data" / "fig3a-quick.csv")
    assert list(source.columns) == ["rule", "lr", "iteration", "output_0", "output_1"]
    for rule in ("pc", "bp"):   # the summary's dips are the rows' minima
        assert reported(summary, "fig3a", f"{rule.upper()} min output 1") == pytest.approx(dip[rule], abs=5e-4)


def test_target_alignment_quick_keeps_pc_above_bp_at_depth(tmp_path):
    rows, _, out = run_and_analyse("target_alignment/fig3e", tmp_path, ["fig3e"])
    median = rows.groupby(["rule", "model.num_layers"])["target_alignment"].median()
    assert median["pc", 1] == pytest.approx(median["bp", 1], abs=1e-5)   # one layer: PC = BP
    for depth in (8, 16, 25):
        assert median["pc", depth] > median["bp", depth] + 0.2
    source = pd.read_csv(out / "source_data" / "fig3e-quick.csv")
    assert list(source.columns) == ["rule", "num_layers", "seed", "target_alignment"]


def best_mean(rows, metric, by, how="mean"):
    """Best (over lrs) seed-mean of the per-run `how` of `metric`, per rule and `by`."""
    runs = rows.groupby(["rule", *by, "optimizer.lr", "seed"])[metric].agg(how)
    return runs.groupby(["rule", *by, "optimizer.lr"]).mean().groupby(["rule", *by]).min()


def test_search_depth_quick_favours_pc_in_the_deepest_network(tmp_path):
    rows, _, _ = run_and_analyse("search_depth/fig3fgh", tmp_path, ["fig3f", "fig3g", "fig3h"])
    best = best_mean(rows, "test_error", ["model.num_layers"])
    assert best["pc", 1] == pytest.approx(best["bp", 1], abs=1e-6)    # one layer: PC = BP
    assert best["pc", 8] < best["bp", 8] - 0.1


def test_batch_size_quick_favours_pc_at_the_smallest_batch_size(tmp_path):
    rows, _, _ = run_and_analyse("batch_size/fig4bc", tmp_path, ["fig4b", "fig4c"])
    best = best_mean(rows, "test_error", ["data.batch_size"])
    assert set(best.index) == {(r, b) for r in ("pc", "bp") for b in (1, 8, 32)}
    assert (best < 0.75).all()                                         # every size learns (chance: 0.9)
    for rule in ("pc", "bp"):                                          # more images per iteration help
        assert best[rule, 32] < best[rule, 8] < best[rule, 1]
    assert best["pc", 1] < best["bp", 1]                               # the figure's claim


def test_forgetting_quick_shows_less_forgetting_for_pc(tmp_path):
    rows, _, _ = run_and_analyse("forgetting/fig4de", tmp_path, ["fig4d", "fig4e"])
    pooled = rows.assign(error=(rows["test_error_task_0"] + rows["test_error_task_1"]) / 2)
    best = best_mean(pooled, "error", [])
    assert best["pc"] < best["bp"]


def test_small_data_quick_favours_pc_with_the_fewest_images(tmp_path):
    rows, _, _ = run_and_analyse("small_data/fig4h", tmp_path, ["fig4h"])
    best = best_mean(rows, "test_error", ["data.train_per_class"], how="min")
    assert set(best.index) == {(r, n) for r in ("pc", "bp") for n in (3, 10, 40, 130)}
    for rule in ("pc", "bp"):                                          # more data, lower error
        assert best[rule, 130] < best[rule, 40] < best[rule, 10] and best[rule, 40] < 0.5
    assert best["pc", 3] < best["bp", 3]                               # the figure's claim, scarce data


def test_concept_drift_quick_starts_both_rules_from_the_pretrained_weights(tmp_path):
    # main.py runs the missing prerequisite concept_drift/pretrain-quick first
    rows, _, _ = run_and_analyse("concept_drift/drift", tmp_path, ["fig4f", "fig4g"])
    first = rows[rows["iteration"] == 0].groupby(["rule", "optimizer.lr"])["test_error"].mean()
    assert len(first) == 6 and first.max() < 0.9                      # pretrained, not random


# The YAMLs no other test runs, made small by overrides where they are not already: (options, panels,
# rows the grid gives).
SMALL = {
    "interference/fig3d": ([], ["fig3d"], 2 * 5 * 1024),   # as it stands (~40 s): its claims need every lr's dip
    "reversal/grid": (["-o", "config.seed={grid_search: {range: [0, 2]}}", "-o", "config.pc.T=16"],
                      ["fig6c_grid"], 2 * 2 * 3 * 3),
    "reversal/mechanism": (["-o", "config.seed={grid_search: [0, 1]}", "-o", "config.pc.T=16",
                            "-o", "config.data.trace_steps=[0, 4, 15]"], ["fig6c_weights", "fig6c_inference"],
                           2 * 2 * 128),
}


@pytest.mark.parametrize("config", SMALL)
def test_a_yaml_no_other_test_runs_runs_small_and_plots_every_panel(tmp_path, config):
    options, panels, expected = SMALL[config]
    rows, _, _ = run_and_analyse(config, tmp_path, panels, *options)
    assert len(rows) == expected and not rows["diverged"].any()


TINY_DEPTH_RUN = ["-c", str(ROOT / "experiments/search_depth/fig3fgh.yaml"), "--profile", "quick",
                  "-o", "config.data.dataset=fashion_mnist", "-o", "config.data.train_per_class=10",
                  "-o", "stop.training_iteration=2", "-o", "config.model.num_layers={grid_search: [2]}",
                  "-o", "config.optimizer.lr={grid_search: [0.1]}"]


def test_trials_read_the_default_data_dir_of_the_launch_directory(tmp_path):
    from test_data_utils import mnist_images, write_mnist_split
    for split, n in (("train", 250), ("test", 100)):   # uncompressed IDX: no official checksum
        write_mnist_split(tmp_path / "data" / "fashion_mnist", split, mnist_images(n),
                          [i % 10 for i in range(n)], gz=False)
    env = {k: v for k, v in os.environ.items() if k != "DATA_DIR"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *TINY_DEPTH_RUN], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = current_rows(TINY_DEPTH_RUN[1], overrides=TINY_DEPTH_RUN[5::2])
    assert len(rows) == 2 * 2 * 2 and rows["test_error"].between(0, 1).all()   # rules x seeds x epochs


def test_a_missing_data_set_stops_the_run_before_ray_with_where_to_put_it(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *TINY_DEPTH_RUN], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "train-images-idx3-ubyte" in done.stderr and str(tmp_path / "empty") in done.stderr
    assert not (tmp_path / "results").exists()


def test_packs_chained_into_fewer_trials_give_the_same_rows():
    """Fig. 3e quick, its 16 packs as 16 trials and as 3 trials of up to 6 packs: the same rows."""
    single, chained = ["-o", "packs_per_trial=1"], ["-o", "packs_per_trial=6"]
    run_cli("main.py", "target_alignment/fig3e", *single)
    run_cli("main.py", "target_alignment/fig3e", *chained)
    config = resolve_config_path("target_alignment/fig3e")
    for options, trials in ((single, 16), (chained, 3)):
        assert results.read_info(results.current_run(results.run_home(config, "quick", options[1:])))["trials"] == trials
    keys = ["rule", "model.num_layers", "seed"]
    plain = current_rows("target_alignment/fig3e", overrides=single[1:])
    fewer = current_rows("target_alignment/fig3e", overrides=chained[1:])
    columns = keys + ["target_alignment", "target_alignment_angle"]
    pd.testing.assert_frame_equal(plain[columns].sort_values(keys).reset_index(drop=True),
                                  fewer[columns].sort_values(keys).reset_index(drop=True), check_exact=True)
