"""Bad input, table-driven: malformed YAML, -o overrides, data files, results handed to the analysis, and
the environment. Each is one line on stderr naming the file or option and what is allowed, exit code
2, no traceback, and every file that existed before is unchanged (and none was added)."""
import contextlib
from dataclasses import dataclass, field
import io
import os
from pathlib import Path
import subprocess
import sys

import pandas as pd
import pytest

import analysis_v1
import cost
import data_utils
import main
import results
from test_data_utils import mnist_images, write_mnist_split
from test_results import FIG3A, TRIALS, write_run

ROOT = Path(__file__).resolve().parents[1]
GOOD = """\
stop: {training_iteration: 3}
pack: [seed]
config:
  rule: {grid_search: [pc, bp]}
  seed: {grid_search: [0, 1]}
  data: {name: fixed_pair, input: [[1.0]], target: [[0.0, 1.0]]}
  model: {sizes: [1, 1, 2], init: {name: constant, value: 1.0}}
  optimizer: {lr: 0.2}
profiles:
  quick: {stop: {training_iteration: 2}}
"""
# A small image run on FashionMNIST files made in the test (uncompressed: no official checksum applies).
IMAGES = [str(ROOT / "experiments" / "search_depth" / "fig3fgh.yaml"), "--profile", "quick",
          "-o", "config.data.dataset=fashion_mnist", "-o", "config.data.train_per_class=10",
          "-o", "config.model.num_layers={grid_search: [2]}", "-o", "config.optimizer.lr={grid_search: [0.1]}"]


@dataclass
class World:
    """A temporary project state: a config folder, a data folder, a results folder with a complete run."""
    root: Path
    env: dict = field(default_factory=dict)

    @property
    def data(self):
        return self.root / "data" / "fashion_mnist"

    def config(self, text, name="bad.yaml"):
        path = self.root / "exp" / name
        path.write_text(text)
        return str(path)

    def images(self, train=250, test=100, shape=(28, 28), labels=None, gz=False):
        """FashionMNIST-like IDX files: `train` and `test` images of `shape`, labels 0..9 in turn."""
        for split, n in (("train", train), ("test", test)):
            images = mnist_images(n)[:, :shape[0], :shape[1]]
            write_mnist_split(self.data, split, images, labels or [i % 10 for i in range(n)], gz=gz)
        return self.data / "train-images-idx3-ubyte"

    @property
    def run(self):
        return results.current_run(results.run_home(FIG3A))


@pytest.fixture
def world(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cost, "machine", lambda: (2, 0))      # the same answers on any machine
    data_utils.clear_dataset_cache()
    run = write_run(results.run_home(FIG3A), TRIALS, results.COMPLETE)
    results.write_rows(run, results.collect_rows(run))
    yield World(tmp_path)
    data_utils.clear_dataset_cache()


def tree(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in Path(root).rglob("*")}


def then(*done_and_arguments):
    """The last value: a case's arguments, after the setup done by the others."""
    return done_and_arguments[-1]


def truncate(path, by=100):
    path.write_bytes(path.read_bytes()[:-by])
    return path


def replace_in_run(world, name, content):
    (world.run / name).write_bytes(content)
    return world.run / name


def with_results_dir(world, path):
    world.env["RESULTS_DIR"] = str(path)
    return str(path)


def hold_lock(world, stack):
    stack.enter_context(results.locked(results.run_home(FIG3A, "quick")))
    return ["-c", str(FIG3A), "--profile", "quick"]


def read_only(world):
    folder = world.root / "readonly"
    folder.mkdir(mode=0o500)
    return with_results_dir(world, folder)


def rows_without_outputs(world):
    pd.DataFrame({"iteration": [0, 1], "rule": ["pc", "pc"]}).to_parquet(world.run / results.ROWS_FILE)
    return world.run / results.ROWS_FILE


def members_garbage(world):
    """The current run without its rows table (read from the trial records then) and a corrupt members table."""
    (world.run / results.ROWS_FILE).unlink()
    return replace_in_run(world, results.MEMBERS_FILE, b"not parquet")


PANDAS_MISSING = "raise ModuleNotFoundError(\"No module named 'pandas'\", name='pandas')\n"

# (id, program, setup(world, stack) -> arguments, substrings of the one error line). The setup makes
# the bad input; {data}, {root} and {pid} in a substring stand for the data folder, the temporary
# project folder and this process's pid.
CASES = [
    # ---- the YAML -------------------------------------------------------------------------
    ("yaml-syntax", "main", lambda w, s: ["-c", w.config("stop: {training_iteration: 3\n")],
     ["bad.yaml: not valid YAML"]),
    ("yaml-list", "main", lambda w, s: ["-c", w.config("- 1\n- 2\n")],
     ["bad.yaml: expected a mapping at the top level"]),
    ("yaml-empty", "main", lambda w, s: ["-c", w.config("")], ["bad.yaml: expected a mapping at the top level"]),
    ("yaml-unknown-key", "main", lambda w, s: ["-c", w.config(GOOD + "stopp: 1\n")],
     ["bad.yaml: stopp: unknown key; allowed: "]),
    ("yaml-type", "main", lambda w, s: ["-c", w.config(GOOD.replace("iteration: 3", "iteration: three"))],
     ["bad.yaml: stop.training_iteration: expected an integer, got 'three'"]),
    ("yaml-choice", "main", lambda w, s: ["-c", w.config(GOOD.replace("[pc, bp]", "[pc, hebb]"))],
     ["bad.yaml: config.rule: 'hebb' is not allowed; allowed: pc, bp"]),
    ("yaml-bound", "main", lambda w, s: ["-c", w.config(GOOD.replace("lr: 0.2", "lr: -0.2"))],
     ["bad.yaml: config.optimizer.lr: must be > 0"]),
    ("yaml-empty-grid", "main", lambda w, s: ["-c", w.config(GOOD.replace("[0, 1]", "[]"))],
     ["bad.yaml: config.seed.grid_search: expected a non-empty list"]),
    ("yaml-pack", "main", lambda w, s: ["-c", w.config(GOOD.replace("pack: [seed]", "pack: [model.sizes]"))],
     ["bad.yaml: pack: 'model.sizes' cannot differ between members of one trial; packable: "]),
    ("yaml-shapes", "main", lambda w, s: ["-c", w.config(GOOD.replace("[1, 1, 2]", "[1, 1, 3]"))],
     ["bad.yaml: config.model.sizes"]),
    ("yaml-missing-file", "main", lambda w, s: ["-c", str(w.root / "exp" / "nosuch.yaml")],
     ["nosuch.yaml: no such file"]),
    ("yaml-profile", "main", lambda w, s: ["-c", w.config(GOOD), "--profile", "fast"],
     ["bad.yaml: profiles: no profile 'fast'; available: quick"]),
    ("yaml-trainable", "main", lambda w, s: ["-c", w.config("trainable: 'nosuchmodule:x'\n" + GOOD)],
     ["bad.yaml: trainable: 'nosuchmodule:x' is not allowed; expected experiments.<experiment>.<module>:<function"]),
    ("yaml-pretrained-run", "main",
     lambda w, s: ["-c", w.config(GOOD.replace("{name: constant, value: 1.0}",
                                               "{name: pretrained, run: nowhere/none}"))],
     ["bad.yaml: config.model.init.run: no complete run of nowhere/none", "run the config that produces"]),
    ("yaml-device", "main", lambda w, s: ["-c", w.config(GOOD.replace("{lr: 0.2}", "{lr: 0.2}\n  device: cuda"))],
     ["bad.yaml: config.device: cuda, but resources_per_trial.gpu is 0"]),
    ("dry-run-validates", "main", lambda w, s: ["-c", w.config(GOOD.replace("[pc, bp]", "[pc, hebb]")), "--dry-run"],
     ["bad.yaml: config.rule: 'hebb' is not allowed"]),
    # ---- the -o overrides -----------------------------------------------------------------
    ("override-no-value", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "stop.training_iteration"],
     ["-o stop.training_iteration: expected key.path=value"]),
    ("override-bad-yaml", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "config.model.sizes=[1, 1, 2"],
     ["-o config.model.sizes=[1, 1, 2: the value is not valid YAML", "write YAML data"]),
    ("override-empty-key", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "=3"],
     ["-o =3: expected key.path=value"]),
    ("override-type", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "config.pc.T=1.5"],
     ["config.pc.T: expected an integer, got 1.5"]),
    ("override-not-mapping", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "config.optimizer.lr.x=1"],
     ["-o config.optimizer.lr.x=1: config.optimizer.lr is not a mapping"]),
    ("override-unknown", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "config.nosuch=1"],
     ["config.nosuch: unknown key; allowed: "]),
    ("override-choice", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "config.optimizer.name=rmsprop"],
     ["config.optimizer.name: 'rmsprop' is not allowed; allowed: sgd, adam"]),
    ("resume-nothing", "main", lambda w, s: ["-c", w.config(GOOD), "--resume"], ["--resume: no run to resume under"]),
    ("override-cpus", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "resources_per_trial.cpu=4"],
     ["bad.yaml: resources_per_trial.cpu: 4 per trial, but this machine has 2 CPUs; at most 2"]),
    ("override-gpus", "main", lambda w, s: ["-c", w.config(GOOD), "-o", "resources_per_trial.gpu=1"],
     ["bad.yaml: resources_per_trial.gpu: 1 per trial, but this machine has 0 GPUs"]),
    # ---- the data files -------------------------------------------------------------------
    ("data-missing", "main", lambda w, s: ["-c", *IMAGES],
     ["config.data: data set 'fashion_mnist' (train split) not found: missing train-images-idx3-ubyte.gz",
      "searched {data}", "main.py --download"]),
    ("data-checksum", "main", lambda w, s: then(w.images(gz=True), ["-c", *IMAGES]),
     ["checksum mismatch for {data}/train-images-idx3-ubyte.gz: expected md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d"]),
    ("data-truncated", "main", lambda w, s: then(truncate(w.images()), ["-c", *IMAGES]),
     ["IDX file {data}/train-images-idx3-ubyte has", "but its header (250, 28, 28) implies"]),
    ("data-shape", "main", lambda w, s: then(w.images(shape=(27, 27)), ["-c", *IMAGES]),
     ["{data}/train-images-idx3-ubyte: expected uint8 images [N, 28, 28], got torch.uint8 (250, 27, 27)"]),
    ("data-label-count", "main", lambda w, s: then(w.images(labels=[0] * 249), ["-c", *IMAGES]),
     ["{data}/train-labels-idx1-ubyte: expected 250 labels"]),
    ("data-not-idx", "main", lambda w, s: then(w.images().write_bytes(b"hello"), ["-c", *IMAGES]),
     ["{data}/train-images-idx3-ubyte is not an IDX file", "expected 00 00 <type> <dimensions>"]),
    ("data-label-range", "main", lambda w, s: then(w.images(labels=[12] * 250), ["-c", *IMAGES]),
     ["{data}/train-labels-idx1-ubyte: labels outside 0..9"]),
    ("data-too-few", "main", lambda w, s: then(w.images(), ["-c", *IMAGES, "-o", "config.data.train_per_class=100"]),
     ["config.data: class 0 has only 25 samples, fewer than n_per_class=100"]),
    # ---- the results handed to the analysis ------------------------------------------------
    ("rows-garbage", "analysis", lambda w, s: then(replace_in_run(w, results.ROWS_FILE, b"garbage"), []),
     ["rows.parquet: not a readable parquet table", "read instead once it is removed"]),
    ("rows-truncated", "analysis", lambda w, s: then(truncate(w.run / results.ROWS_FILE), []),
     ["rows.parquet: not a readable parquet table"]),
    ("rows-columns", "analysis", lambda w, s: then(rows_without_outputs(w), []),
     ["rows.parquet: experiments.interference.figures:fig3a cannot plot these rows (",
      "its columns: iteration; rule"]),
    ("members-garbage", "analysis", lambda w, s: then(members_garbage(w), []),
     ["members.parquet: not a readable parquet table"]),
    ("run-json-garbage", "analysis", lambda w, s: then(replace_in_run(w, "run.json", b"{not json"), []),
     ["run.json: unreadable run record", "expected the JSON file main.py writes"]),
    ("run-json-list", "analysis", lambda w, s: then(replace_in_run(w, "run.json", b"[1, 2]"), []),
     ["run.json: not a run record: it lacks status, config_file, resolved, trial_labels"]),
    ("run-json-key", "analysis", lambda w, s: then(replace_in_run(w, "run.json", b'{"status": "complete"}'), []),
     ["run.json: not a run record: it lacks config_file, resolved, trial_labels"]),
    ("run-json-status", "analysis", lambda w, s: then(replace_in_run(
        w, "run.json", b'{"status": "done", "config_file": "", "resolved": {}, "trial_labels": []}'), []),
     ["run.json: not a run record: it has status 'done'; expected", "status running, complete or failed"]),
    ("no-results", "analysis", lambda w, s: ["-o", "stop.training_iteration=5"],
     ["no results at", "run main.py with the same -c/--profile/-o first"]),
    ("unfinished", "analysis", lambda w, s: then(write_run(results.run_home(FIG3A, "quick"), TRIALS, results.RUNNING,
                                                            finished=[0]), ["--profile", "quick"]),
     ["no complete run yet", "1 unfinished trials: rule=bp", "--partial"]),
    ("out-is-a-file", "analysis", lambda w, s: then((w.root / "out").write_text("x"), ["--out", str(w.root / "out")]),
     ["--out {root}/out: cannot write the figures", "give a folder you can write"]),
    # ---- the environment ------------------------------------------------------------------
    ("results-dir-is-a-file", "main", lambda w, s: then((w.root / "file").write_text("x"), with_results_dir(
        w, w.root / "file"), ["-c", str(FIG3A)]),
     ["RESULTS_DIR={root}/file: cannot write", "set RESULTS_DIR to a folder"]),
    ("results-dir-under-a-file", "main", lambda w, s: then((w.root / "file").write_text("x"), with_results_dir(
        w, w.root / "file" / "results"), ["-c", str(FIG3A)]), ["RESULTS_DIR={root}/file/results: cannot write"]),
    pytest.param("results-dir-read-only", "main", lambda w, s: then(read_only(w), ["-c", str(FIG3A)]),
                 ["RESULTS_DIR={root}/readonly: cannot write", "Permission denied"],
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")),
    ("data-dir-is-a-file", "main", lambda w, s: then((w.root / "data").write_text("x"), ["-c", *IMAGES]),
     ["data set 'fashion_mnist' (train split) not found"]),
    ("run-in-use", "main", hold_lock, ["is in use by another launch (pid {pid} on ", "wait for it to finish"]),
    ("missing-package-main", "subprocess:main.py", lambda w, s: ["-c", str(FIG3A)],
     ["package 'pandas' is not installed for", "`. .venv/bin/activate`", ".venv/bin/python main.py"]),
    ("missing-package-analysis", "subprocess:analysis_v1.py", lambda w, s: ["-c", str(FIG3A)],
     ["package 'pandas' is not installed for", ".venv/bin/python analysis_v1.py"]),
]


def invoke(program, arguments, world, monkeypatch, capsys):
    """(exit code, stderr) of main.py or analysis_v1.py given `arguments`."""
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    if program.startswith("subprocess:"):
        (world.root / "stub").mkdir()
        (world.root / "stub" / "pandas.py").write_text(PANDAS_MISSING)
        done = subprocess.run([sys.executable, program.split(":")[1], *arguments], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(world.root / "stub")})
        (world.root / "stub" / "pandas.py").unlink()
        (world.root / "stub").rmdir()
        return done.returncode, done.stderr
    if program == "analysis":   # of fig3a, unless the case names a config
        arguments = [*(() if "-c" in arguments else ("-c", str(FIG3A))), "--out", str(world.root / "figures"),
                     *arguments]
    with contextlib.redirect_stdout(io.StringIO()):
        code = (main.main if program == "main" else analysis_v1.main)(arguments)
    return code, capsys.readouterr().err


def test_there_are_at_least_25_bad_inputs_of_every_kind():
    kinds = {(c.values[0] if hasattr(c, "values") else c[0]).split("-")[0] for c in CASES}
    assert len(CASES) >= 25 and {"yaml", "override", "data", "rows", "run", "results", "missing"} <= kinds


def case_ids(cases):
    return [c.values[0] if hasattr(c, "values") else c[0] for c in cases]


def assert_refused(world, monkeypatch, capsys, program, setup, expected):
    """The case's bad input gives one printable line on stderr naming the file or option and each of
    the `expected` parts, exit code 2, and every file that existed before is unchanged (none added)."""
    with contextlib.ExitStack() as stack:
        arguments = setup(world, stack)
        before = tree(world.root)
        code, err = invoke(program, arguments, world, monkeypatch, capsys)
        after = tree(world.root)
    fill = {"data": world.data, "root": world.root, "pid": os.getpid()}
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert err[:-1].isprintable(), err   # no raw control characters from a file or key name
    for part in expected:
        assert part.format(**fill) in err, err
    assert after == before


@pytest.mark.parametrize("name, program, setup, expected", CASES, ids=case_ids(CASES))
def test_bad_input_is_one_line_naming_the_file_or_option_exit_code_2_and_changes_nothing(
        world, monkeypatch, capsys, name, program, setup, expected):
    assert_refused(world, monkeypatch, capsys, program, setup, expected)
