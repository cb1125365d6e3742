"""Data streams for the image experiments, on scikit-learn's bundled digits (no network)."""
import math

import torch

from bp_trainable import SCHEMA, train_members
from data_utils import STREAMS, load_dataset


def build(name, seeds=(0, 1, 2), **cfg):
    stream = STREAMS[name]
    return stream(stream.schema.check({"dataset": "digits", **cfg}, "data"), list(seeds), "cpu",
                  torch.float64)


def test_a_member_sees_the_same_subset_and_order_whether_packed_or_alone():
    packed = build("images", seeds=(5, 7), batch_size=16, train_per_class=10)
    alone = build("images", seeds=(7,), batch_size=16, train_per_class=10)
    for (xp, tp), (xa, ta) in zip(packed.batches(0), alone.batches(0)):
        assert torch.equal(xp[1], xa[0]) and torch.equal(tp[1], ta[0])
    assert not torch.equal(packed.train_pool[0], packed.train_pool[1])


def test_an_epoch_visits_every_image_of_the_pool_once_with_n_per_class():
    stream = build("images", batch_size=16, train_per_class=10)
    ys = stream.y_train[torch.cat([s_idx for s_idx in [stream.train_pool]], 1)]
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
    return SCHEMA.check({
        "rule": rule, "seed": seed, "dtype": "float64",
        "data": {"name": "images", "dataset": "digits", "batch_size": 20, "train_per_class": 10},
        "model": {"num_layers": 2, "width": 16, "activation": "sigmoid",
                  "init": {"name": "xavier_uniform"}},
        "pc": {"T": 8}, "optimizer": {"lr": lr}, "log": ["test_error"]}, "config")


def test_a_diverged_member_scores_error_one_and_the_others_are_untouched():
    for rule in ("pc", "bp"):
        rows = {}
        collect = lambda r, done: [rows.setdefault(k, []).extend(v) for k, v in r.items()]
        train_members([member(rule, 0.01), member(rule, 1e30)], 3, collect)
        alone = {}
        train_members([member(rule, 0.01)], 3, lambda r, d: [alone.setdefault(k, []).extend(v) for k, v in r.items()])
        bad = [(e, d) for e, d, m in zip(rows["test_error"], rows["diverged"], rows["member"]) if m == 1]
        good = [e for e, m in zip(rows["test_error"], rows["member"]) if m == 0]
        flags = [d for _, d in bad]
        assert flags[-1] and flags == sorted(flags)                   # once diverged, always diverged
        assert all(e == 1.0 for e, d in bad if d)
        assert good == alone["test_error"] and all(not math.isnan(e) and e < 1 for e in good)
