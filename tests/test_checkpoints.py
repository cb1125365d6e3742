"""A trial's state saved mid-run continues it bit for bit: weights, optimizer state, the data
stream's position and random generators, diverged members, the weights a metric remembers.

Oracle: the same members trained without interruption. Each case stops at an iteration chosen so
that something non-trivial is under way there (a half-used shuffled queue, a task switch, a drift,
Adam's moments, a diverged member), saves the state through torch.save and a weights-only load, as
a checkpoint file travels, and continues in a fresh PackedTraining.
"""
import io

import pandas as pd
import pytest
import torch

import engine
from loader import load_experiment
import results

SMALL = ["stop.training_iteration=6", "config.seed={grid_search: [0, 1]}", "config.pc.T=8",
         "config.log=[test_error, loss]"]   # the training loss: it sees every batch
CASES = {   # config, profile overrides, the iteration to stop after
    "minibatch queue (batch_size), PC": (
        "batch_size/fig4bc", SMALL + ["config.rule=pc", "variants=[{data: {batch_size: 7, batches_per_iteration: 5}, "
                                      "optimizer: {lr: {grid_search: [0.05, 0.2]}}}]"], 3),
    "alternating tasks (forgetting), BP, weight_path": (
        "forgetting/fig4de", SMALL + ["config.rule=bp", "config.data.epochs_per_task=2", "config.data.train_per_class=20",
                                      "config.log=[test_error, loss, weight_path]"], 3),
    "concept drift, PC": (
        "concept_drift/drift", SMALL + ["config.rule=pc", "config.data.drift_every=2", "config.data.train_per_class=10",
                                        "config.data.test_per_class=5", "config.optimizer.lr=0.05",
                                        "config.model.init={name: xavier_uniform}"], 3),
    "epochs with a diverged member (search_depth), BP": (
        "search_depth/fig3fgh", SMALL + ["config.rule=bp", "config.model.num_layers=4",
                                         "config.optimizer.lr={grid_search: [50.0, 0.01]}"], 4),
    "epochs with Adam (search_depth), PC": (
        "search_depth/fig3fgh", SMALL + ["config.rule=pc", "config.model.num_layers=2",
                                         "config.data.train_per_class=10",
                                         "config.optimizer={name: adam, lr: 0.001}"], 2),
}


def members_of(config, overrides):
    [trial] = load_experiment(config, "quick", overrides).trials
    return trial["members"]


def train(members, iterations, start=None, every_s=None):
    """The rows (a DataFrame) and the states reported along the way {iterations done: state}."""
    chunks, states = [], {}

    def report(rows, done, state=None):
        chunks.append(pd.DataFrame(rows))
        if state is not None:
            states[state["iteration"]] = state
    engine.train(members, iterations, report, checkpoint_every_s=every_s, start=start)
    return pd.concat(chunks, ignore_index=True), states


def travelled(state):
    """The state as a checkpoint file gives it back."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("case", CASES)
def test_a_run_continued_from_a_saved_state_equals_an_uninterrupted_one(case):
    config, overrides, stop = CASES[case]
    members = members_of(config, overrides)
    iterations = 6
    whole, _ = train(members, iterations)
    checkpointed, states = train(members, iterations, every_s=0)
    assert checkpointed.equals(whole)   # taking checkpoints changes nothing
    assert sorted(states) == list(range(1, iterations))   # every iteration but the last
    rest, _ = train(members, iterations, start=travelled(states[stop]))
    assert rest.equals(whole[whole["iteration"] >= stop].reset_index(drop=True))
    if "diverged" in case:   # the state carried a diverged member across
        assert whole[whole["iteration"] < stop]["diverged"].any()


def test_a_checkpoint_comes_at_most_every_checkpoint_every_s(monkeypatch):
    members = members_of(*CASES["epochs with Adam (search_depth), PC"][:2])
    clock = iter(range(0, 1000, 10))   # each call to the clock: 10 s later
    monkeypatch.setattr(engine.time, "monotonic", lambda: next(clock))
    _, states = train(members, 8, every_s=25)
    # the clock is read at the start, after each iteration, and when a checkpoint is taken: the
    # third iteration ends 30 s after the start, the sixth 30 s after the first checkpoint
    assert sorted(states) == [3, 6]
    _, none = train(members, 8)
    assert none == {}


def test_an_unreadable_or_missing_checkpoint_starts_the_trial_over(tmp_path, capsys):
    class Checkpoint:   # what the trainable gets from tune.get_checkpoint()
        def __init__(self, path):
            self.path = str(path)

        def as_directory(self):
            import contextlib
            if not (tmp_path / "ok").exists() and self.path.endswith("gone"):
                raise FileNotFoundError(self.path)
            return contextlib.nullcontext(self.path)
    assert results.load_trial_state(None) is None
    assert results.load_trial_state(Checkpoint(tmp_path / "gone")) is None
    (tmp_path / results.STATE_FILE).write_bytes(b"\x80\x04not a checkpoint")
    assert results.load_trial_state(Checkpoint(tmp_path)) is None
    assert "unreadable trial state" in capsys.readouterr().err
    results.save_trial_state(tmp_path, {"pack": 1, "rows": [{"iteration": [0]}], "run": {"x": torch.ones(2)}})
    state = results.load_trial_state(Checkpoint(tmp_path))
    assert state["pack"] == 1 and torch.equal(state["run"]["x"], torch.ones(2))


def test_a_planted_pickle_in_a_checkpoint_never_runs(tmp_path, capsys):
    import pickle

    class Planted:
        def __reduce__(self):
            return (print, ("planted code ran",))
    (tmp_path / results.STATE_FILE).write_bytes(pickle.dumps(Planted()))

    class Checkpoint:
        path = str(tmp_path)

        def as_directory(self):
            import contextlib
            return contextlib.nullcontext(self.path)
    assert results.load_trial_state(Checkpoint()) is None
    captured = capsys.readouterr()
    assert "planted code ran" not in captured.out and "unreadable trial state" in captured.err


def test_rows_join_the_last_chunk_only_when_their_columns_agree():
    chunks = []
    results.append_rows(chunks, {"iteration": [0], "a": [1.0]})
    first = chunks[0]
    results.append_rows(chunks, {"iteration": [1], "a": [2.0]})
    results.append_rows(chunks, {"iteration": [0], "b": [3.0]})
    assert chunks == [{"iteration": [0, 1], "a": [1.0, 2.0]}, {"iteration": [0], "b": [3.0]}]
    assert first == {"iteration": [0], "a": [1.0]}   # a chunk already handed out is never changed
