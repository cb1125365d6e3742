"""Ray Tune trainables: thin adapters from a trial's parameters to the Ray-free engine.

A trial's parameters are {"trial": i, "iterations": N, "report_every": k, "cpus": c}; `trials`
(bound with tune.with_parameters, so it travels once through the object store) holds every trial's
member configs. The rows travel to the driver in Tune's results (the record format is results.py's);
weights a config asks to keep travel in a checkpoint.
"""
import tempfile
import uuid

import torch

import engine
import results
from utils import ConfigError


def supervised(trial, trials):
    """Train the trial's packed members, reporting rows as they come and the weights at the end."""
    from ray import tune
    torch.set_num_threads(max(1, int(trial.get("cpus", 1))))
    attempt, final = uuid.uuid4().hex, {}

    def report(rows, done):
        record = results.trial_report(rows, attempt, done)
        if done:   # sent below, with the weights when the config keeps them
            final.update(record)
        else:
            tune.report(record)

    members = trials[trial["trial"]]
    run = engine.train(members, trial["iterations"], report, trial.get("report_every", 0))
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if members[0]["save_weights"]:
            params = run.params
            results.save_weights(folder, {"weights": [w.cpu() for w in params.weights],
                                          "biases": [None if b is None else b.cpu() for b in params.biases]})
            checkpoint = tune.Checkpoint.from_directory(folder)
        tune.report(final, checkpoint=checkpoint)


def prepare(members):
    """Checks before any trial starts: the data is at hand and saved weights exist."""
    first = members[0]
    task = engine.task_class(first["data"]["name"])
    if hasattr(task, "prepare"):
        task.prepare(first["data"])
    try:   # building the task checks e.g. that there are enough images per class, up front
        task(first["data"], [m["seed"] for m in members], "cpu", torch.float32)
    except ValueError as error:
        raise ConfigError(f"config.data: {error}") from None
    for member in members:
        if engine.is_pretrained(member["model"]["init"]):
            try:
                results.weights_file(member["model"]["init"]["run"])
            except ConfigError as error:
                raise ConfigError(f"config.model.init.run: {error}") from None


supervised.prepare = prepare
