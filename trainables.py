"""Ray Tune trainables: thin adapters from a trial's parameters to the Ray-free engine.

A trial's parameters are {"trial": i, "iterations": N, "report_every": k, "cpus": c}; `trials`
(bound with tune.with_parameters, so it travels once through the object store) holds every trial's
packs of member configs (utils.trial_packs), trained one after another; a trial's members are
numbered across its packs. The rows travel to the driver in Tune's results (the record format is results.py's);
weights a config asks to keep travel in a checkpoint, and so does a running trial's state (`supervised`). Each record carries the interval of the trial's
own work since its previous report (main.py's compute phase). A trial runs on the device that Ray's
assignment and its `device` allow (engine.trial_device).
"""
import logging
import tempfile
import time
import uuid

import torch

import engine
import results
from streams import task_class
from utils import ConfigError


def supervised(trial, trials):
    """Train the trial's packs of members, reporting rows as they come and the weights at the end.

    Every `checkpoint_every_s` seconds (at the end of an iteration) a report carries a checkpoint of
    the trial's state: the pack it is in, that pack's PackedTraining.state_dict and every row reported so
    far. A trial that Tune restarts (--resume, or a retry after a lost worker) continues from its
    last checkpoint: it reports the saved rows again under its new attempt id, then goes on.
    """
    import ray
    from ray import tune
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)   # a line per checkpoint
    torch.set_num_threads(max(1, int(trial.get("cpus", 1))))
    attempt, final = uuid.uuid4().hex, {}
    packs = trials[trial["trial"]]
    device = engine.trial_device(packs[0][0]["device"], ray.get_gpu_ids(), torch.cuda.is_available())
    resumed = results.load_trial_state(tune.get_checkpoint())
    start_pack, reported = (resumed["pack"], resumed["rows"]) if resumed else (0, [])
    since = [time.time()]   # where the trial's own work since its last report began
    for rows in reported:   # the rows before the checkpoint, under this attempt's id
        tune.report(results.trial_report(rows, attempt, False))
    first = sum(map(len, packs[:start_pack]))   # the number of this pack's first member in the trial

    def report(rows, pack_done, state=None):
        rows = dict(rows, member=[first + m for m in rows["member"]])
        done = pack_done and first + len(members) == sum(map(len, packs))
        record = results.trial_report(rows, attempt, done, compute=(since[0], time.time()))
        if done:   # sent below, with the weights when the config keeps them
            final.update(record)
            return
        results.append_rows(reported, rows)
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if state is not None:
                results.save_trial_state(folder, {"pack": pack, "rows": reported, "run": state})
                checkpoint = tune.Checkpoint.from_directory(folder)
            tune.report(record, checkpoint=checkpoint)   # waits for the driver: scheduling, not this trial's compute
        since[0] = time.time()

    for pack in range(start_pack, len(packs)):
        members = [dict(member, device=device) for member in packs[pack]]
        start = resumed["run"] if resumed and pack == start_pack else None
        training = engine.train(members, trial["iterations"], report, trial.get("report_every", 0),
                                trial.get("checkpoint_every_s"), start, results.load_weights)
        first += len(members)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if members[0]["save_weights"]:
            params = training.params
            results.save_weights(folder, {"weights": [w.cpu() for w in params.weights],
                                          "biases": [None if b is None else b.cpu() for b in params.biases]})
            checkpoint = tune.Checkpoint.from_directory(folder)
        final["compute"][1] = time.time()
        tune.report(final, checkpoint=checkpoint)


def prepare(members, resources, pending=frozenset(), download=False):
    """Checks before any trial starts: the device fits the resources, the data is at hand (fetched
    first if `download` and the task can) and saved weights exist (except those of `pending` runs,
    which main.py produces first)."""
    first = members[0]
    if first["device"] == "cuda" and not resources["gpu"]:
        raise ConfigError(f"config.device: cuda, but resources_per_trial.gpu is 0, so no trial gets a GPU; "
                          f"{engine.GPU_HINT}")
    task = task_class(first["data"]["name"])
    try:
        task.prepare(first["data"], download)
        # building the task checks e.g. that there are enough images per class, up front
        task(first["data"], [m["seed"] for m in members], "cpu", torch.float32)
    except (OSError, ValueError) as error:   # missing, truncated or corrupt files; impossible subsets
        raise ConfigError(f"config.data: {' '.join(str(error).split())}") from None
    for member in members:
        init = member["model"]["init"]
        if engine.is_pretrained(init) and init["run"] not in pending:
            try:
                results.weights_file(init["run"])
            except ConfigError as error:
                raise ConfigError(f"config.model.init.run: {error}") from None


def needs(members):
    """The runs (<experiment>/<run name>) whose saved weights the members start from."""
    return [m["model"]["init"]["run"] for m in members if engine.is_pretrained(m["model"]["init"])]


supervised.prepare, supervised.needs = prepare, needs
