"""Hostile input (issue 17): configs and results folders written by someone else never run code, and
no input ends in a traceback. Each case is what an adversary (or an accident) would try: a name in a
config or run.json that points at any module, a `current` or lock file pointing out of its home, a
planted pickle, a tiny YAML that expands without end, a file elsewhere posing as a project config, a
damaged record, an empty RESULTS_DIR, a download that fails. A refused input is one printable line
naming the file or option, exit code 2, and nothing changed (test_bad_inputs.assert_refused); where
work already ran, it is kept.

    .venv/bin/python -m pytest -m security
"""
import contextlib
import importlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock
import urllib.error

import pandas as pd
import pytest
import yaml

import analysis_v1
import data_files
import data_formats
from loader import load_experiment
import launch_plan
import launcher
import ray_session
import results
from test_bad_inputs import GOOD, IMAGES, assert_refused, case_ids, then, world  # noqa: F401 (world: a fixture)
from test_results import FIG3A, TRIALS, write_run
from terminal import ReaderGone
from utils import ConfigError, parse_yaml

pytestmark = pytest.mark.security
ROOT = Path(__file__).resolve().parents[1]
PRETRAIN = ROOT / "experiments" / "concept_drift" / "pretrain.yaml"
PLANTED = "planted_by_an_adversary"


class Planted:
    """Unpickled, it creates the file `path`: what a planted pickle does with any code it likes."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def plant_module(world, stack):
    """A module on the import path that leaves the file `ran` when it is imported (as a module placed
    by someone else would run its code); returns a module:attribute name of it."""
    folder = world.root / "plant"
    folder.mkdir()
    (folder / f"{PLANTED}.py").write_text(f"open({str(world.root / 'ran')!r}, 'w').close()\ns = 1\n")
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    stack.callback(sys.modules.pop, PLANTED, None)
    stack.callback(sys.path.remove, str(folder))
    return f"{PLANTED}:s"


def current_says(world, content):
    """The `current` of fig3a's home (which has one complete run) replaced by `content` (bytes)."""
    (results.run_home(FIG3A) / results.CURRENT_FILE).write_bytes(content)


def current_is_a_folder(world):
    pointer = results.run_home(FIG3A) / results.CURRENT_FILE
    pointer.unlink()
    pointer.mkdir()


def figure_and_command_in_results(world):
    """run.json names subprocess:check_call as the figure and the rows' column names make a shell
    command: calling the one on the other would create the file `ran`."""
    info = results.read_info(world.run)
    info["resolved"]["analysis"] = {"figure": "subprocess:check_call"}
    results.write_info(world.run, info)
    pd.DataFrame({"touch": [0], str(world.root / "ran"): [0]}).to_parquet(world.run / results.ROWS_FILE)


def yaml_naming_a_figure(world, figure):
    """fig3a.yaml copied into the world with `analysis.figure` naming `figure`; the -c arguments."""
    doc = yaml.safe_load(FIG3A.read_text())
    doc["analysis"] = {"figure": figure}
    return ["-c", world.config(yaml.safe_dump(doc), "fig3a.yaml")]


def linked_lock(world):
    """fig3a-quick's lock file is a symbolic link to a file of the user's."""
    victim = world.root / "victim.txt"
    victim.write_text("precious")
    home = results.run_home(FIG3A, "quick")
    results.make_home(home)
    (home / results.LOCK_FILE).symlink_to(victim)
    return ["-c", str(FIG3A), "--profile", "quick"]


def unfinished_run_with_a_planted_pickle(world, mode=None, owner=None):
    """An unfinished run of fig3a-quick (so --resume would restore it) with a tuner.pkl that creates
    the file `ran` when unpickled, its folder made writable by anyone (`mode`) or given to `owner`."""
    run = write_run(results.run_home(FIG3A, "quick"), TRIALS, results.RUNNING, finished=[0])
    (run / "tuner.pkl").write_bytes(pickle.dumps(Planted(world.root / "ran")))
    if mode is not None:
        run.chmod(mode)
    if owner is not None:
        os.chown(run, owner, owner)
    return ["-c", str(FIG3A), "--profile", "quick", "--resume"]


def offline(error):
    """Every download raises `error` (a context manager)."""
    return mock.patch.object(data_files.urllib.request, "urlopen", side_effect=error)


ALIAS_BOMB = "".join(f"{name}: &{name} [{', '.join([f'*{previous}' if previous else 'x'] * 9)}]\n"
                     for previous, name in zip([None, *"abcdefgh"], "abcdefghi"))   # 9^9 values, 0.3 kB
DEEP = "[" * 5000 + "]" * 5000
NOBODY = 65534

CASES = [
    # ---- code named by results: the figure is the experiment's, `current` stays in its home ------
    ("results-figure-from-run-json", "analysis", lambda w, s: then(figure_and_command_in_results(w), []),
     ["rows.parquet: experiments.interference.figures:fig3a cannot plot these rows"]),
    ("current-outside-home", "analysis", lambda w, s: then(current_says(w, b"../../..\n"), []),
     ["current: names '../../..', not a run folder of this home; its complete runs: "]),
    ("current-outside-home-main", "main", lambda w, s: then(current_says(w, b"../../.."), ["-c", str(FIG3A)]),
     ["current: names '../../..', not a run folder of this home"]),
    ("current-binary", "analysis", lambda w, s: then(current_says(w, b"\xff\xfe\x00\x1b[2J"), []),
     ["current: names ", "not a run folder of this home"]),
    ("current-folder", "analysis", lambda w, s: then(current_is_a_folder(w), []), ["current: not a file"]),
    ("current-missing-run", "analysis", lambda w, s: then(current_says(w, b"20200101T000000.000000Z\n"), []),
     ["current: names '20200101T000000.000000Z', not a run folder of this home; its complete runs: 20"]),
    ("profile-out-of-results", "main",
     lambda w, s: ["-c", w.config(GOOD + '  "../../x": {stop: {training_iteration: 1}}\n'), "--profile", "../../x"],
     ["--profile '../../x': not a profile name"]),
    # ---- names in configs are checked before anything is imported --------------------------
    ("trainable-planted", "main",
     lambda w, s: ["-c", w.config(f"trainable: '{plant_module(w, s)}'\n" + GOOD), "--dry-run"],
     [f"bad.yaml: trainable: '{PLANTED}:s' is not allowed; expected experiments.<experiment>.<module>:"]),
    ("data-name-planted", "main",
     lambda w, s: ["-c", w.config(GOOD.replace("name: fixed_pair", f"name: '{plant_module(w, s)}'")), "--dry-run"],
     [f"bad.yaml: config.data.name: '{PLANTED}:s' is not allowed; expected experiments.<experiment>.<module>:"]),
    ("figure-planted", "analysis", lambda w, s: yaml_naming_a_figure(w, plant_module(w, s)),
     [f"fig3a.yaml: analysis.figure: '{PLANTED}:s' is not allowed"]),
    ("trainable-dots", "main", lambda w, s: ["-c", w.config("trainable: '..x:y'\n" + GOOD)],
     ["bad.yaml: trainable: '..x:y' is not allowed"]),
    ("task-outside-experiments", "main",
     lambda w, s: ["-c", w.config(GOOD.replace("name: fixed_pair", "name: 'experiments.nosuch.task:Task'"))],
     ["config.data.name: experiments.nosuch.task:Task: the project has no experiment module"]),
    # ---- the lock and the run folders that --resume would unpickle -----------------------------
    ("lock-symlink", "main", lambda w, s: linked_lock(w), ["lock: a symbolic link, not the lock file main.py makes"]),
    ("resume-world-writable", "main", lambda w, s: unfinished_run_with_a_planted_pickle(w, mode=0o777),
     ["any user can write into it (mode 777)"]),
    pytest.param("resume-not-owned", "main", lambda w, s: unfinished_run_with_a_planted_pickle(w, owner=NOBODY),
                 [f"owned by user id {NOBODY}, not by you"],
                 marks=pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")),
    # ---- tiny inputs that would exhaust memory or hang ------------------------------------------
    ("yaml-alias-bomb", "main", lambda w, s: ["-c", w.config(GOOD + ALIAS_BOMB)],
     ["bad.yaml: more than 100,000 values once its aliases are expanded", "utils.YAML_MAX_VALUES"]),
    ("yaml-deep", "main", lambda w, s: ["-c", w.config(GOOD + f"deep: {DEEP}\n")],
     ["bad.yaml: nested more than 64 levels deep (line 11)", "utils.YAML_MAX_DEPTH"]),
    ("override-deep", "main", lambda w, s: ["-c", w.config(GOOD), "-o", f"config.deep={DEEP}"],
     ["-o config.deep: nested more than 64 levels deep"]),
    ("grid-huge-range", "main",
     lambda w, s: ["-c", w.config(GOOD.replace("[0, 1]}", "{range: [0, 1000000000000]}}"))],
     ["bad.yaml: config: 2,000,000,000,000 grid points, more than max_grid_points (100,000)",
      "-o max_grid_points=2000000000000"]),
    ("grid-float-range", "main", lambda w, s: ["-c", w.config(GOOD.replace("[0, 1]}", "{range: [0, 1e12]}}"))],
     ["config.seed.grid_search.range: expected [start, stop] or [start, stop, step] of integers"]),
    ("grid-two-ranges", "main", lambda w, s: ["-c", w.config(GOOD.replace("[0, 1]}", "{range: [0, 1000000]}}")),
                                              "-o", "config.pc.T={grid_search: {range: [1, 1000001]}}"],
     ["config: 2,000,000,000,000 grid points, more than max_grid_points"]),
    # ---- keys: given twice, or holding control characters -------------------------------------
    ("yaml-duplicate-key", "main", lambda w, s: ["-c", w.config(GOOD + "stop: {training_iteration: 4}\n")],
     ["bad.yaml: not valid YAML: found the key 'stop' twice (line 11, column 1)"]),
    ("yaml-control-characters", "main", lambda w, s: ["-c", w.config(GOOD + '"\\e[31mred\\n": 1\n')],
     ["bad.yaml: \\x1b[31mred\\n: unknown key; allowed: "]),
    ("config-name-control-characters", "main", lambda w, s: ["-c", str(w.root / "exp" / "a\x1b[2Jb.yaml")],
     ["a\\x1b[2Jb.yaml: no such file"]),
    # ---- the results folder and the data -------------------------------------------------------
    ("results-dir-empty", "main",
     lambda w, s: then(s.enter_context(contextlib.chdir(w.root)), w.env.update(RESULTS_DIR=""), ["-c", str(FIG3A)]),
     ["RESULTS_DIR is set but empty; unset it for ./results"]),
    ("download-in-config", "main", lambda w, s: ["-c", *IMAGES, "-o", "config.data.download=true"],
     ["config.data.download: downloading is not a config value: run main.py with --download"]),
    ("download-in-dry-run", "main",
     lambda w, s: then(s.enter_context(offline(AssertionError("a dry run downloaded"))),
                       ["-c", *IMAGES, "--dry-run", "--download"]),
     ["--download: not with --dry-run"]),
    ("download-fails", "main",
     lambda w, s: then(s.enter_context(offline(urllib.error.URLError("no route to host"))),
                       ["-c", *IMAGES, "--download"]),
     ["config.data: cannot download http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
      "train-images-idx3-ubyte.gz to {data}/train-images-idx3-ubyte.gz: no route to host"]),
    # ---- values that ended in a traceback --------------------------------------------------------
    ("init-run-nowhere", "main", lambda w, s: ["-c", w.config(GOOD), "-o",
                                               "config.model.init={name: pretrained, run: nowhere}"],
     ["bad.yaml: config.model.init.run: must match the pattern", "got 'nowhere'"]),
    ("init-run-out-of-results", "main", lambda w, s: ["-c", w.config(GOOD), "-o",
                                                      "config.model.init={name: pretrained, run: ../../etc}"],
     ["config.model.init.run: must match the pattern", "got '../../etc'"]),
    ("config-name-250", "main", lambda w, s: ["-c", w.config(GOOD, "x" * 250 + ".yaml")],
     ["the name of its run home, 263 bytes, is longer than a folder name may be (255)"]),
    ("resources-nothing", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "resources_per_trial.cpu=0", "--dry-run"],
     ["bad.yaml: resources_per_trial.cpu: a trial must ask for some CPU or GPU"]),
]


@pytest.mark.parametrize("name, program, setup, expected", CASES, ids=case_ids(CASES))
def test_hostile_input_is_one_line_exit_code_2_runs_nothing_and_changes_nothing(
        world, monkeypatch, capsys, name, program, setup, expected):
    assert_refused(world, monkeypatch, capsys, program, setup, expected)
    assert PLANTED not in sys.modules


# ---------------------------------------------------------------------------------------------
# Run homes: one per config file, private, never shared with a file elsewhere
# ---------------------------------------------------------------------------------------------
def test_a_yaml_elsewhere_never_shares_a_home_with_the_projects_config(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    elsewhere = tmp_path / "elsewhere" / "interference" / "fig3a.yaml"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text(FIG3A.read_text())
    ours, theirs = results.run_home(FIG3A, "quick"), results.run_home(elsewhere, "quick")
    assert ours == tmp_path / "results" / "interference" / "fig3a-quick"     # the names results already have
    assert theirs.parent == ours.parent and theirs.name.startswith("fig3a@") and theirs.name.endswith("-quick")
    elsewhere.write_text(FIG3A.read_text() + "# edited\n")                     # another file, another home
    assert results.run_home(elsewhere, "quick") not in (ours, theirs)
    assert results.config_file(FIG3A) == "experiments/interference/fig3a.yaml"  # the same in a Ray job's copy


def test_a_prerequisite_is_the_projects_config_never_a_yaml_beside_the_one_that_needs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    folder = tmp_path / "elsewhere" / "concept_drift"
    folder.mkdir(parents=True)
    drift = folder / "drift.yaml"
    drift.write_text((ROOT / "experiments" / "concept_drift" / "drift.yaml").read_text())
    (folder / "pretrain.yaml").write_text(PRETRAIN.read_text().replace("lr:", "lr: 0.5 #"))   # unrelated
    first, last = launch_plan.plan(str(drift), "quick")
    assert (first.ref, first.experiment.path) == ("concept_drift/pretrain-quick", PRETRAIN)
    assert last.home.name.startswith("drift@")
    monkeypatch.chdir(tmp_path / "elsewhere")   # `requires` names the project's configs, never one here
    experiment = load_experiment(str(drift), "quick", ["requires=[concept_drift/pretrain]"])
    assert launch_plan.prerequisites(experiment)["concept_drift/pretrain-quick"] == (PRETRAIN, "quick")


def test_homes_and_runs_are_private_and_the_lock_is_the_users_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    home = results.run_home(FIG3A)
    with results.locked(home):
        run = results.new_run(home)
    modes = {path: path.stat().st_mode & 0o777 for path in (home.parent, home, run, home / results.LOCK_FILE)}
    assert list(modes.values()) == [0o700, 0o700, 0o700, 0o600], modes


def test_a_planted_weights_file_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    run = write_run(results.run_home(PRETRAIN, "quick"), TRIALS[:1], results.COMPLETE)
    (run / "trial_0" / "checkpoint_000000").mkdir()
    (run / "trial_0" / "checkpoint_000000" / results.WEIGHTS_FILE).write_bytes(pickle.dumps(Planted(tmp_path / "ran")))
    with pytest.raises(ConfigError, match=r"weights.pt: unreadable saved weights \(.*\); run the config that produces"):
        results.load_weights("concept_drift/pretrain-quick", member=0)
    assert not (tmp_path / "ran").exists()


def test_a_cifar_batch_naming_code_is_refused_without_running_it(tmp_path):
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps(Planted(tmp_path / "ran")))
    with pytest.raises(data_files.DataFileError, match="it names io.open, which a CIFAR-10 batch does not hold"):
        data_formats._read_cifar_batch(batch)
    assert not (tmp_path / "ran").exists()


def test_the_runtime_envs_keep_a_jobs_results_under_a_per_user_path():
    for env in ("cpu", "gpu"):
        runtime_env = yaml.safe_load((ROOT / "runtime_envs" / f"{env}.yaml").read_text())
        assert runtime_env["env_vars"]["RESULTS_DIR"].startswith("${HOME}/"), env   # Ray expands it on the node


# ---------------------------------------------------------------------------------------------
# Limits are counted before anything is built
# ---------------------------------------------------------------------------------------------
def test_yaml_limits_count_aliases_without_expanding_them_and_allow_what_configs_use():
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        parse_yaml(ALIAS_BOMB, "bomb")
    assert time.perf_counter() - start < 5          # it never builds the 387 million values
    assert parse_yaml("a: &a [1, 2]\nb: *a\nc: {<<: {x: 1}, x: 2}\n", "ok") == {"a": [1, 2], "b": [1, 2], "c": {"x": 2}}
    assert parse_yaml("[" * 64 + "]" * 64, "64 deep") == eval("[" * 64 + "]" * 64)   # noqa: S307 (a literal)


# ---------------------------------------------------------------------------------------------
# Damaged records: reported in one line, the rest kept, the trial run again by --resume
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def damaged_run(tmp_path, monkeypatch):
    """An unfinished run of fig3a (quick) whose first trial finished but has its record cut short,
    whose second trial finished intact; with Tune's experiment state holding both as finished."""
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    run = write_run(results.run_home(FIG3A, "quick"), TRIALS, results.FAILED)
    record = run / "trial_0" / "result.json"
    record.write_bytes(record.read_bytes()[:-40])
    state = {"trial_data": [[json.dumps({"relative_logdir": f"trial_{i}", "status": "TERMINATED"}), "{}"]
                            for i in range(2)], "runner_data": {}}
    (run / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    return run


def test_a_damaged_trial_record_is_one_line_and_the_other_trials_rows_are_collected(damaged_run, capsys):
    rows = results.collect_rows(damaged_run)
    err = capsys.readouterr().err.splitlines()
    assert set(rows["rule"]) == {"bp"} and len(rows) == 4
    assert len(err) == 1 and err[0].startswith(f"warning: {damaged_run / 'trial_0' / 'result.json'}: damaged trial "
                                               "record (line 2: ") and "--resume runs it again" in err[0]
    assert results.unfinished_trials(damaged_run) == ["rule=pc"]


def test_analysis_partial_plots_what_a_run_with_a_damaged_record_has(damaged_run, tmp_path, capsys):
    code = analysis_v1.main(["-c", str(FIG3A), "--profile", "quick", "--partial", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0 and "1 unfinished trials: rule=pc" in err and "damaged trial record" in err
    assert {line.split(",")[0] for line in (tmp_path / "out" / "source_data" / "fig3a-quick.csv").read_text()
            .splitlines()[1:]} == {"bp"}


def test_resume_sets_a_damaged_record_aside_and_has_tune_run_its_trial_again(damaged_run, capsys):
    launcher.rerun_damaged(damaged_run)
    assert "trial_0/result.json: damaged trial record" in capsys.readouterr().err
    assert not (damaged_run / "trial_0" / "result.json").exists()
    assert (damaged_run / "trial_0" / "result.json.damaged").exists()
    [state] = damaged_run.glob("experiment_state-*.json")
    statuses = [json.loads(trial)["status"] for trial, _ in json.loads(state.read_text())["trial_data"]]
    assert statuses == ["ERROR", "TERMINATED"]   # Tune resumes an errored trial (resume_errored=True)


def test_a_damaged_run_json_of_an_earlier_run_does_not_stop_a_completed_launch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    home = results.run_home(FIG3A)
    earlier = write_run(home, TRIALS, results.COMPLETE)
    (earlier / results.INFO_FILE).write_text('{"status": "comp')
    latest = write_run(home, TRIALS, results.COMPLETE)
    said = []
    launcher.report_current(results.Run(latest, {"status": results.COMPLETE}), said.append)
    assert said[0] == f"note: {earlier / results.INFO_FILE}: unreadable run record (Unterminated string starting " \
                      "at: line 1 column 12 (char 11)); expected the JSON file main.py writes"
    assert said[1:] == [f"current run: {latest}"]


def test_a_run_that_tune_stops_as_a_whole_is_recorded_failed_keeping_what_ran(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    experiment = load_experiment("interference/fig3a", "quick")
    run = results.Run.create(results.run_home(FIG3A, "quick"), experiment, launcher.data_read(experiment))
    monkeypatch.setattr(ray_session, "start_ray", lambda address, quiet=False: None)
    stop = "Cannot initialize a ResourceRequest"
    monkeypatch.setattr(launcher, "make_tuner", mock.Mock(side_effect=ValueError(stop)))
    with pytest.raises(launcher.RunError, match=rf"^{run.path}: the run stopped \({stop}\)"):
        launcher.fit(experiment, run)
    info = results.read_info(run.path)
    assert info["status"] == results.FAILED and info["error"] == stop


# ---------------------------------------------------------------------------------------------
# The command line's own edges: a closed stdout, SIGTERM
# ---------------------------------------------------------------------------------------------
def test_output_to_a_reader_that_went_away_is_dropped_without_an_error():
    reader, writer = os.pipe()
    os.close(reader)
    with open(writer, "w") as stream:
        out = ReaderGone(stream)
        out.write("x" * 100_000)
        out.flush()
        out.write("more\n")
        out.flush()


def test_a_dry_run_whose_reader_closes_the_pipe_ends_without_a_traceback(tmp_path):
    done = subprocess.Popen([sys.executable, "main.py", "-c", "interference/fig3a", "--profile", "quick", "--dry-run"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RESULTS_DIR": str(tmp_path)})
    done.stdout.close()   # as `| head -0` does, before main.py writes a line
    err = done.stderr.read()
    assert done.wait(timeout=120) == 0 and err == "", err


def not_done(states):
    """Whether a trial has reported and not finished."""
    return any(not done for _, done, _ in states.values())


@pytest.mark.slow
def test_sigterm_stops_a_launch_as_ctrl_c_does(tmp_path):
    """SIGTERM to main.py once a trial has reported: exit 1 with no traceback or stack dump, and the
    run recorded as not complete, with what ran kept, so that --resume continues it."""
    overrides = ["config.rule=pc", "config.pc.T=20000", "stop.training_iteration=60", "report_every=1"]
    # ~1 s an iteration here: the signal comes long before the trial could end on a faster machine
    home = tmp_path / "results" / "interference" / results.run_home(FIG3A, "quick", overrides).name
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:   # files: never full
        driver = subprocess.Popen([sys.executable, "main.py", "-c", "interference/fig3a", "--profile", "quick",
                                   *(f"-o{o}" for o in overrides)], cwd=ROOT, stdout=out, stderr=err,
                                  env={**os.environ, "RESULTS_DIR": str(tmp_path / "results")})
        deadline = time.time() + 300
        while not (home.exists() and results.runs(home) and not_done(results.trial_states(results.runs(home)[0]))):
            assert driver.poll() is None and time.time() < deadline, (tmp_path / "err").read_text()[-3000:]
            time.sleep(0.1)
        driver.send_signal(signal.SIGTERM)
        driver.wait(timeout=300)
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert driver.returncode == 1, out + err
    assert "Traceback" not in err and "SIGTERM received" not in err and "--resume continues it" in err, err
    [run] = results.runs(home)
    info = results.read_info(run)
    assert info["status"] == results.FAILED and info["unfinished_trials"], info
    assert results.trial_states(run)   # the reports that came in are kept
