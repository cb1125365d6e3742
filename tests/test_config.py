"""Config loading and validation: bad input is one clear line naming the file and the key."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from utils import ConfigError, apply_override, expand_grid, load_experiment, pack_trials

GOOD = textwrap.dedent("""
    stop: {training_iteration: 3}
    pack: [seed]
    config:
      rule: {grid_search: [pc, bp]}
      seed: {grid_search: [0, 1, 2]}
      data: {name: fixed_pair, input: [[1.0]], target: [[0.0, 1.0]]}
      model: {sizes: [1, 1, 2], init: {name: constant, value: 1.0}}
      optimizer: {lr: 0.2}
      log: [prediction]
    profiles:
      quick: {stop: {training_iteration: 2}}
""")


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path, text, overrides=(), profile=None):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(str(path), profile, overrides)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_valid_file_expands_its_grid_and_packs_seeds_into_one_trial_per_rule(tmp_path):
    experiment = load_experiment(str(write(tmp_path, GOOD)))
    assert [len(t["members"]) for t in experiment.trials] == [3, 3]
    assert [m["seed"] for m in experiment.trials[0]["members"]] == [0, 1, 2]
    assert {t["members"][0]["rule"] for t in experiment.trials} == {"pc", "bp"}
    member = experiment.trials[0]["members"][0]
    assert member["pc"] == {"T": 128, "inference_lr": 0.1, "x_lr_discount": 0.5, "update_p_at": "last"}
    assert member["model"]["num_layers"] == 2


def test_an_unknown_key_names_the_key_path_and_the_allowed_keys(tmp_path):
    message = error_of(tmp_path, GOOD.replace("sizes:", "sizez:"))
    assert "config.model.sizez: unknown key; allowed: activation, bias, init, num_layers, sizes, width" in message


def test_a_wrong_type_names_the_key_and_the_expected_type(tmp_path):
    message = error_of(tmp_path, GOOD.replace("training_iteration: 3", "training_iteration: three"))
    assert "stop.training_iteration: expected an integer, got 'three'" in message


def test_an_impossible_value_names_the_allowed_values(tmp_path):
    message = error_of(tmp_path, GOOD.replace("[pc, bp]", "[pc, hebb]"))
    assert "config.rule: 'hebb' is not allowed; allowed: pc, bp" in message
    message = error_of(tmp_path, GOOD.replace("lr: 0.2", "lr: -0.2"))
    assert "config.optimizer.lr:" in message and "> 0" in message


def test_sizes_that_do_not_fit_the_data_are_rejected(tmp_path):
    assert "config.model.sizes" in error_of(tmp_path, GOOD.replace("[1, 1, 2]", "[1, 1, 3]"))


def test_an_axis_that_changes_shapes_cannot_be_packed(tmp_path):
    message = error_of(tmp_path, GOOD.replace("pack: [seed]", "pack: [model.sizes]"))
    assert "pack: 'model.sizes' cannot differ between members" in message


def test_a_missing_file_lists_the_configs_of_that_experiment():
    with pytest.raises(ConfigError) as info:
        load_experiment("interference/no_such_config")
    assert "no such file" in str(info.value) and "fig3a" in str(info.value)


def test_an_unknown_profile_lists_the_available_ones(tmp_path):
    assert "no profile 'fast'; available: quick" in error_of(tmp_path, GOOD, profile="fast")


def test_profiles_and_overrides_merge_into_the_document(tmp_path):
    path = str(write(tmp_path, GOOD))
    experiment = load_experiment(path, "quick", ["config.pc.T=7", "config.optimizer.lr=1e-3"])
    assert experiment.doc["stop"]["training_iteration"] == 2
    member = experiment.trials[0]["members"][0]
    assert member["pc"]["T"] == 7 and member["optimizer"]["lr"] == 0.001


def test_override_values_are_yaml_data_never_code():
    doc = {"config": {"x": 1}}
    apply_override(doc, "config.x=__import__('os').getcwd()")
    assert doc["config"]["x"] == "__import__('os').getcwd()"
    apply_override(doc, "config.y=[1, 2]")
    assert doc["config"]["y"] == [1, 2]


def test_grid_search_at_any_depth_gives_the_cartesian_product():
    grid = expand_grid({"a": {"grid_search": [1, 2]}, "b": {"c": {"grid_search": ["x", "y", "z"]}}})
    assert len(grid) == 6 and {"a": 2, "b": {"c": "z"}} in grid


def test_packing_groups_only_configs_equal_outside_the_pack_axes():
    configs = [{"seed": s, "rule": r, "optimizer": {"lr": lr}}
               for r in "ab" for lr in (0.1, 0.2) for s in (0, 1)]
    assert [len(t["members"]) for t in pack_trials(configs, ["seed"])] == [2, 2, 2, 2]
    assert [len(t["members"]) for t in pack_trials(configs, ["seed", "optimizer.lr"])] == [4, 4]
    assert [len(t["members"]) for t in pack_trials(configs, ["seed", "optimizer.lr"], 3)] == [3, 1, 3, 1]


def test_the_cli_reports_a_bad_file_in_one_line_before_starting_ray(tmp_path):
    path = write(tmp_path, GOOD.replace("sizes:", "size:"))
    done = subprocess.run([sys.executable, "main.py", "-c", str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "config.model.size: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
