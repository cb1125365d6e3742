"""Training streams (streams.py): their configs, and the image streams on scikit-learn's bundled digits."""
import math

from pydantic import ValidationError
import pytest
import torch

import config_errors
from data_utils import load_dataset
from engine import train
import schema
from streams import STREAMS


def validate(name, **cfg):
    return STREAMS[name].Config.model_validate(cfg).model_dump()


def build(name, seeds=(0, 1, 2), **cfg):
    return STREAMS[name](validate(name, dataset="digits", **cfg), list(seeds), "cpu", torch.float64)


def test_every_field_of_every_stream_config_is_documented():
    for name, stream in STREAMS.items():
        for field, info in stream.Config.model_fields.items():
            assert info.description, f"{name}.{field}"


def test_a_validated_config_is_a_plain_dict_with_every_default_filled_in_declaration_order():
    cfg = validate("concept_drift", dataset="digits", batch_size=8, train_per_class=None)
    assert list(cfg) == [*STREAMS["images"].Config.model_fields, "drift_every", "drifting_classes"]
    assert cfg["train_per_class"] is None and cfg["drift_every"] == 64
    assert cfg["drifting_classes"] == [5, 6, 7, 8, 9]
    cfg["drifting_classes"].append(4)                                  # defaults are not shared
    assert validate("concept_drift", dataset="digits", batch_size=8)["drifting_classes"] == [5, 6, 7, 8, 9]


def test_float_fields_read_integers_and_numeric_strings_as_floats():
    cfg = validate("gaussian_pair", input_size=2, output_size=1, std="1e-5")   # YAML 1.1 reads 1e-5 as text
    assert cfg["std"] == 1e-5 and type(cfg["std"]) is float
    rows = validate("fixed_pair", input=[[1, "2.5"]], target=[[0]])
    assert rows == {"input": [[1.0, 2.5]], "target": [[0.0]]} and type(rows["target"][0][0]) is float


@pytest.mark.parametrize("name, cfg", [
    ("images", {"dataset": "digits", "batch_size": 8, "bogus": 1}),           # unknown key
    ("images", {"dataset": "svhn", "batch_size": 8}),                         # unknown data set
    ("images", {"dataset": "digits"}),                                        # missing required key
    ("images", {"dataset": "digits", "batch_size": 0}),                       # below the minimum
    ("images", {"dataset": "digits", "batch_size": 8.0}),                     # float for an integer
    ("images", {"dataset": "digits", "batch_size": 8, "drop_last": 1}),       # integer for a bool
    ("images", {"dataset": "digits", "batch_size": 8, "target_off": True}),   # bool for a number
    ("images", {"dataset": "digits", "batch_size": 8, "target_off": "low"}),  # text for a number
    ("images", {"dataset": "digits", "batch_size": 8, "drop_last": None}),    # null where null is no default
    ("gaussian_pair", {"input_size": 1, "output_size": 1, "std": -1}),
    ("fixed_pair", {"input": [[]], "target": [[1]]}),                         # an empty row
    ("alternating_tasks", {"dataset": "digits", "batch_size": 8, "tasks": [[0, -1]]}),
    ("concept_drift", {"dataset": "digits", "batch_size": 8, "drifting_classes": [5]}),
])
def test_a_stream_config_refuses_what_the_stream_cannot_use(name, cfg):
    with pytest.raises(ValidationError):
        validate(name, **cfg)


def test_a_member_sees_the_same_subset_and_order_whether_packed_or_alone():
    packed = build("images", seeds=(5, 7), batch_size=16, train_per_class=10)
    alone = build("images", seeds=(7,), batch_size=16, train_per_class=10)
    for (xp, tp), (xa, ta) in zip(packed.batches(0), alone.batches(0)):
        assert torch.equal(xp[1], xa[0]) and torch.equal(tp[1], ta[0])
    assert not torch.equal(packed.train_pool[0], packed.train_pool[1])


def test_an_epoch_visits_every_image_of_the_pool_once_with_n_per_class():
    stream = build("images", batch_size=16, train_per_class=10)
    ys = stream.y_train[stream.train_pool]
    assert all(torch.bincount(y, minlength=10).tolist() == [10] * 10 for y in ys)
    batches = list(stream.batches(0))
    assert [b[0].shape[1] for b in batches] == [16] * 6 + [4]          # 100 images, last batch partial
    seen = torch.cat([b[0] for b in batches], 1)
    assert seen.shape == (3, 100, 64)
    pool_images = stream.x_train[stream.train_pool]
    for m in range(3):   # the same images, reordered
        assert torch.equal(torch.sort(seen[m].sum(1)).values, torch.sort(pool_images[m].sum(1)).values)


def test_an_iteration_of_k_batches_continues_the_shuffled_stream_across_iterations():
    stream = build("images", batch_size=30, train_per_class=5, batches_per_iteration=2)
    first = torch.cat([x for x, _ in stream.batches(0)], 1)
    assert first.shape[1] == 60
    second = torch.cat([x for x, _ in stream.batches(1)], 1)
    assert not torch.equal(first, second)


def test_targets_are_one_hot_with_a_configurable_off_value():
    x, t = next(build("images", batch_size=8, target_off=-1.0).batches(0))
    assert set(t.unique().tolist()) == {-1.0, 1.0} and torch.all((t == 1).sum(-1) == 1)


def test_a_per_class_test_subset_is_drawn_per_member():
    stream = build("images", batch_size=8, test_per_class=3)
    x, t = stream.eval_sets()["test"]
    assert x.shape == (3, 30, 64) and torch.all(t.sum(1) == 3)


def test_alternating_tasks_train_one_task_at_a_time_with_labels_permuted_mod_5():
    stream = build("alternating_tasks", batch_size=50, train_per_class=20, epochs_per_task=2)
    digits = load_dataset("digits", "train")
    for iteration, task in [(0, {0, 1, 2, 3, 4}), (1, {0, 1, 2, 3, 4}), (2, {5, 6, 7, 8, 9}), (4, {0, 1, 2, 3, 4})]:
        classes = set(stream.y_train[stream.pool(iteration)].unique().tolist())
        assert classes == task
    for m in range(3):
        assert sorted(stream.label_map[m].tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert not torch.equal(stream.label_map[0], stream.label_map[1])
    x, t = next(stream.batches(0))
    assert t.shape[-1] == 5
    for m in range(3):   # each image's target is its class sent through the member's map
        image = x[m, 0]
        cls = int(digits.y[(digits.x.double() == image).all(1)][0])
        assert int(t[m, 0].argmax()) == int(stream.label_map[m, cls])
    sets = stream.eval_sets()
    assert set(sets) == {"task_0", "task_1"} and sets["task_0"][1].shape[-1] == 5


def test_concept_drift_permutes_only_the_drifting_classes_and_redraws_subsets():
    stream = build("concept_drift", batch_size=32, train_per_class=10, test_per_class=5, drift_every=3)
    list(stream.batches(0))
    first_map, first_pool = stream.label_map.clone(), stream.train_pool.clone()
    assert torch.equal(first_map[:, :5], torch.arange(5).expand(3, -1))
    assert all(sorted(row[5:].tolist()) == [5, 6, 7, 8, 9] for row in first_map)
    list(stream.batches(1))
    assert torch.equal(stream.label_map, first_map)                    # no drift between drifts
    list(stream.batches(3))
    assert not torch.equal(stream.train_pool, first_pool)              # fresh subsets at a drift
    assert not torch.equal(stream.label_map, first_map)


def member(rule, lr, seed=0):
    return config_errors.validate(schema.SupervisedConfig, {
        "rule": rule, "seed": seed, "dtype": "float64",
        "data": {"name": "images", "dataset": "digits", "batch_size": 20, "train_per_class": 10},
        "model": {"num_layers": 2, "width": 16, "activation": "sigmoid",
                  "init": {"name": "xavier_uniform"}},
        "pc": {"T": 8}, "optimizer": {"lr": lr}, "log": ["test_error"]}, "config")


def test_a_diverged_member_scores_error_one_and_the_others_are_untouched():
    for rule in ("pc", "bp"):
        rows = {}
        collect = lambda r, done: [rows.setdefault(k, []).extend(v) for k, v in r.items()]
        train([member(rule, 0.01), member(rule, 1e30)], 3, collect)
        alone = {}
        train([member(rule, 0.01)], 3, lambda r, d: [alone.setdefault(k, []).extend(v) for k, v in r.items()])
        bad = [(e, d) for e, d, m in zip(rows["test_error"], rows["diverged"], rows["member"]) if m == 1]
        good = [e for e, m in zip(rows["test_error"], rows["member"]) if m == 0]
        flags = [d for _, d in bad]
        assert flags[-1] and flags == sorted(flags)                   # once diverged, always diverged
        assert all(e == 1.0 for e, d in bad if d)
        assert good == alone["test_error"] and all(not math.isnan(e) and e < 1 for e in good)
