"""Config loading and validation: bad input is one clear line naming the file and the key."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import get_args

import jsonschema
from pydantic import BaseModel
import pytest
import yaml

from loader import load_experiment, show_config
from json_schema import json_schema
from schema import Document, SupervisedConfig
from utils import EXPERIMENTS_DIR, ConfigError, apply_override, deep_merge, expand_grid, pack_trials, trial_packs

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
    assert member["pc"] == {"T": 128, "inference_lr": 0.1, "x_lr_discount": 0.5, "update_p_at": "last",
                            "freeze_x_at": None, "fused": False}
    assert member["model"]["num_layers"] == 2


def test_an_unknown_key_names_the_key_path_and_the_allowed_keys(tmp_path):
    message = error_of(tmp_path, GOOD.replace("sizes:", "sizez:"))
    assert ("config.model.sizez: unknown key; allowed: activation, bias, conv, init, masks, num_layers, "
            "output_activation, sizes, trainable, width") in message


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


def test_a_union_names_the_alternative_that_got_furthest(tmp_path):
    assert "config.optimizer.lr[1]: must be > 0, got -1" in error_of(tmp_path, GOOD.replace("lr: 0.2", "lr: [0.2, -1]"))
    message = error_of(tmp_path, GOOD, overrides=["config.pc.update_p_at=sometimes"])
    assert "config.pc.update_p_at: 'sometimes' is not allowed; allowed: last, all or expected a list" in message


def test_loose_types_are_refused_but_numeric_strings_are_numbers(tmp_path):
    assert "config.pc.T: expected an integer, got 1.5" in error_of(tmp_path, GOOD, overrides=["config.pc.T=1.5"])
    assert "config.model.bias: expected true or false, got 1" in error_of(tmp_path, GOOD, overrides=["config.model.bias=1"])
    experiment = load_experiment(str(write(tmp_path, GOOD.replace("lr: 0.2", "lr: 2e-1"))))   # YAML 1.1: a string
    assert experiment.trials[0]["members"][0]["optimizer"]["lr"] == 0.2


def test_a_missing_key_or_stream_name_says_what_is_needed(tmp_path):
    message = error_of(tmp_path, GOOD.replace("optimizer: {lr: 0.2}", "optimizer: {name: sgd}"))
    assert "config.optimizer.lr: missing required key: learning rate" in message
    message = error_of(tmp_path, GOOD.replace("name: fixed_pair, ", ""))
    assert "config.data.name: missing; allowed: fixed_pair, gaussian_pair, images" in message
    message = error_of(tmp_path, GOOD.replace("stop: {training_iteration: 3}", "stop:"))
    assert "stop.training_iteration: missing required key" in message
    message = error_of(tmp_path, GOOD, overrides=["config.model.init.name=pretrained"])
    assert "config.model.init.value: unknown key; allowed: member, name, run" in message


def test_masks_and_fixed_layers_default_to_none_and_must_fit_the_layers(tmp_path):
    member = load_experiment(str(write(tmp_path, GOOD))).trials[0]["members"][0]
    assert member["model"]["masks"] is None and member["model"]["trainable"] is None
    mask = "config.model.masks=[[[1]], [[1], [0]]]"
    assert load_experiment(str(write(tmp_path, GOOD)), None, [mask]).trials[0]["members"][0]["model"]["masks"] == [
        [[1]], [[1], [0]]]
    message = error_of(tmp_path, GOOD, overrides=["config.model.masks=[null, [[1, 0]]]"])
    assert "config.model.masks[1]: expected a 0/1 matrix of 2 rows (out) by 1 columns (in)" in message
    assert "config.model.masks[0][0][0]: must be <= 1, got 2" in error_of(
        tmp_path, GOOD, overrides=["config.model.masks=[[[2]], null]"])
    message = error_of(tmp_path, GOOD, overrides=["config.model.trainable=[true]"])
    assert "config.model.trainable: needs one entry per weight layer (2)" in message


def test_an_experiments_own_task_is_checked_by_its_own_config(tmp_path):
    task = "experiments.reversal.task:ReversalLearning"
    own = GOOD.replace("{name: fixed_pair, input: [[1.0]], target: [[0.0, 1.0]]}",
                       f"{{name: '{task}', trials: 8, trials_per_iteration: 8}}")
    data = load_experiment(str(write(tmp_path, own))).trials[0]["members"][0]["data"]
    assert (data["name"], data["trials"], data["criterion"]) == (task, 8, 4)   # its own keys, defaults filled in
    assert "config.data.trials: must be >= 2, got 1" in error_of(tmp_path, own.replace("trials: 8", "trials: 1"))
    assert "config.data.name: experiments.reversal.task:Nope: " in error_of(tmp_path, own.replace("Learning'", "Nope'")
                                                                                .replace("ReversalNope", "Nope"))


def test_an_experiments_own_trainable_needs_a_schema_and_packable_paths(tmp_path):
    message = error_of(tmp_path, "trainable: 'experiments.interference.figures:fig3a'\n" + GOOD)
    assert "trainable: experiments.interference.figures:fig3a needs a `schema`" in message


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


def test_show_config_fills_in_the_defaults_and_keeps_the_grids(tmp_path):
    shown = yaml.safe_load(show_config(load_experiment(str(write(tmp_path, GOOD)), "quick")))
    assert shown["stop"] == {"training_iteration": 2} and shown["resources_per_trial"] == {"cpu": 1.0, "gpu": 0.0}
    config = shown["config"]
    assert config["rule"] == {"grid_search": ["pc", "bp"]} and config["seed"] == {"grid_search": [0, 1, 2]}
    assert config["pc"] == {"T": 128, "inference_lr": 0.1, "x_lr_discount": 0.5, "update_p_at": "last",
                            "freeze_x_at": None, "fused": False}
    assert config["optimizer"] == {"name": "sgd", "lr": 0.2, "weight_decay": 0.0}
    assert config["model"]["num_layers"] == 2 and config["model"]["masks"] is None
    assert "profiles" not in shown


def test_show_config_shows_a_value_derived_from_the_grid_as_a_grid(tmp_path):
    text = GOOD.replace("sizes: [1, 1, 2]", "num_layers: {grid_search: [1, 2]}, width: 3")
    model = yaml.safe_load(show_config(load_experiment(str(write(tmp_path, text)))))["config"]["model"]
    assert model["sizes"] == {"grid_search": [[1, 2], [1, 3, 2]]}


def test_the_committed_json_schema_is_current():
    committed = json.loads((EXPERIMENTS_DIR / "schema.json").read_text())
    assert committed == json_schema(), "regenerate: python json_schema.py > experiments/schema.json"


def test_every_experiment_yaml_passes_the_json_schema_and_points_editors_at_it():
    validator = jsonschema.Draft202012Validator(json_schema())
    for path in sorted(EXPERIMENTS_DIR.glob("*/*.yaml")):
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../schema.json\n"), path
        assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == [], path


def test_the_json_schema_catches_unknown_keys_and_bad_values_for_editors():
    validator = jsonschema.Draft202012Validator(json_schema())
    doc = yaml.safe_load(GOOD)
    doc["config"]["model"]["sizez"] = [1, 2]
    doc["stop"]["training_iteration"] = "three"
    assert {tuple(e.path) for e in validator.iter_errors(doc)} == {("stop", "training_iteration"), ("config", "model")}


def models_under(annotation):
    """Every pydantic model in a type annotation (through unions, lists, Annotated, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from models_under(arg)


def test_every_field_of_every_config_model_is_documented():
    seen, todo = set(), [Document, SupervisedConfig]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            todo += models_under(field.annotation)
    assert len(seen) > 15   # the document, the config, its sections, every stream and init


def test_per_layer_inits_and_rate_matrices_must_fit_the_layers(tmp_path):
    message = error_of(tmp_path, GOOD.replace("init: {name: constant, value: 1.0}",
                                              "init: [{name: constant}]"))
    assert "config.model.init: needs one entry per weight layer (2)" in message
    message = error_of(tmp_path, GOOD.replace("optimizer: {lr: 0.2}", "optimizer: {lr: [[[0.1]], [[0.1, 0.2]]]}"))
    assert "config.optimizer.lr[1]: expected a matrix of rates of 2 rows (out) by 1 columns (in)" in message
    message = error_of(tmp_path, GOOD.replace("sizes: [1, 1, 2],", "sizes: [1, 1, 2], bias: true,")
                       .replace("optimizer: {lr: 0.2}", "optimizer: {lr: [[[0.1]], 0.2]}"))
    assert "config.optimizer.lr[0]: a layer with a bias needs one rate" in message


def test_the_json_schema_takes_grids_inside_per_layer_lists_and_an_experiments_own_task():
    validator = jsonschema.Draft202012Validator(json_schema())
    doc = yaml.safe_load(GOOD)
    doc["config"]["optimizer"]["lr"] = [{"grid_search": [0.1, 1.0]}, [[{"grid_search": [0.1]}], [0.2]]]
    doc["config"]["data"] = {"name": "experiments.mine.task:Task", "trials": 3}
    assert [e.message for e in validator.iter_errors(doc)] == []
    doc["config"]["optimizer"]["lr"] = [{"grid_search": [0.1]}, [[-1.0], [0.2]]]
    doc["config"]["data"] = {"name": "not an import path"}
    assert {tuple(e.path)[:2] for e in validator.iter_errors(doc)} == {("config", "optimizer"),
                                                                        ("config", "data")}


def test_a_grid_may_be_a_range_of_integers_and_a_bad_range_is_named():
    grid = expand_grid({"seed": {"grid_search": {"range": [0, 5]}}, "x": {"grid_search": {"range": [10, 0, -4]}}})
    assert [g["seed"] for g in grid] == [s for s in range(5) for _ in range(3)] and {g["x"] for g in grid} == {10, 6, 2}
    with pytest.raises(ConfigError, match=r"^config.seed.grid_search.range: expected \[start, stop\]"):
        expand_grid({"seed": {"grid_search": {"range": [0.5, 4]}}}, "config")
    with pytest.raises(ConfigError, match="^config.seed.grid_search: expected a non-empty list"):
        expand_grid({"seed": {"grid_search": {"range": [4, 0]}}}, "config")


def test_a_variant_or_profile_value_replaces_a_grid_instead_of_merging_into_it():
    base = {"init": {"grid_search": [{"name": "a"}, {"name": "b"}]}, "lr": 0.1}
    assert deep_merge(base, {"init": {"name": "c"}}) == {"init": {"name": "c"}, "lr": 0.1}
    assert deep_merge({"init": {"name": "a", "std": 1}}, {"init": {"std": 2}}) == {"init": {"name": "a", "std": 2}}


def test_packs_per_trial_chains_consecutive_packs_into_one_trial_and_splits_them_back():
    configs = [{"rule": r, "seed": s, "depth": d} for r in ("pc", "bp") for d in (1, 2, 3) for s in (0, 1)]
    single = pack_trials(configs, ["seed"])
    chained = pack_trials(configs, ["seed"], packs_per_trial=4)
    assert [len(t["members"]) for t in single] == [2] * 6 and "packs" not in single[0]
    assert [t["packs"] for t in chained] == [[2, 2, 2, 2], [2, 2]]
    assert [p for t in chained for p in trial_packs(t)] == [t["members"] for t in single]
    assert trial_packs(single[0]) == [single[0]["members"]]


def test_packs_per_trial_is_refused_for_runs_that_keep_their_weights(tmp_path):
    message = error_of(tmp_path, GOOD, overrides=["packs_per_trial=2", "config.save_weights=true"])
    assert message.endswith("packs_per_trial: a run that keeps its weights (save_weights) needs one pack a trial")
