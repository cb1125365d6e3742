"""Training streams: the open-loop tasks (tasks.py), and the registry of tasks by name.

A stream is built for the members of one trial from the YAML's `data` section and each member's
seed; it yields the training batches of an iteration, (s, t) with s [B, n_in] (shared) or
[M, B, n_in], t likewise, and the evaluation sets. Every random draw comes from a per-member
generator seeded from the member's seed, so packing members together never changes what one sees.

A stream that changes as it runs names the attributes that do in `STATE` (tasks.Resumable), so a
trial can be checkpointed mid-way.
"""
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, Strict, model_validator
from pydantic_core import PydanticCustomError
import torch

from data_utils import DATASETS, SPLITS, load_dataset, one_hot, per_class_subset, random_label_permutation
from tasks import Resumable, Task, TaskConfig
from utils import ConfigError, derive_seed, experiment_attribute


def _numeric_string(value):
    """YAML 1.1 reads 1e-5 (no dot) as a string; such strings stand for numbers."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


# A float that also accepts numeric strings; ints become floats, bools are refused.
Number = Annotated[float, Strict(), BeforeValidator(_numeric_string)]
Label = Annotated[int, Field(ge=0)]


def _nonempty_lists(item):
    """The type of a non-empty list of non-empty lists of `item`."""
    return Annotated[list[Annotated[list[item], Field(min_length=1)]], Field(min_length=1)]


class Stream(Resumable):
    """An open-loop task: it lists each iteration's training batches (`batches`) and the learner
    learns from each in turn; the task logs no columns of its own."""

    def batches(self, iteration):
        """The iteration's training batches (s, t), s [B, n_in] (shared) or [M, B, n_in], t likewise."""
        raise NotImplementedError

    def play(self, iteration, learner):
        for s, t in self.batches(iteration):
            learner.learn(s, t)
        return {}


def member_generators(seeds, stream):
    """One CPU generator per member for the named random stream, seeded from the member's seed."""
    return [torch.Generator().manual_seed(derive_seed(seed, stream)) for seed in seeds]


def stack_members(generators, draw, device):
    """Stack one draw per member ([M, ...]); the draws are per member so packing never changes them."""
    return torch.stack([draw(g) for g in generators]).to(device)


def one_hot_members(labels, num_classes, off_value, dtype):
    """One-hot targets for labels of any shape ([M, B] -> [M, B, K])."""
    flat = one_hot(labels.flatten(), num_classes, off_value, dtype)
    return flat.view(*labels.shape, num_classes)


class FixedPair(Stream):
    """The same training batch, given in the YAML, at every iteration for every member (Fig. 3a)."""
    class Config(TaskConfig):
        input: _nonempty_lists(Number) = Field(description="the input batch: one row of values per sample")
        target: _nonempty_lists(Number) = Field(description="the target batch: one row of values per sample")

    @staticmethod
    def dims(cfg):
        return len(cfg["input"][0]), len(cfg["target"][0])

    def __init__(self, cfg, seeds, device, dtype):
        self.s = torch.tensor(cfg["input"], dtype=dtype, device=device)
        self.t = torch.tensor(cfg["target"], dtype=dtype, device=device)

    def batches(self, iteration):
        yield self.s, self.t


class GaussianPair(Stream):
    """One random example per member, input and target ~ N(0, std^2) drawn from the member's data
    seed, repeated at every iteration (target alignment, Fig. 3e)."""
    class Config(TaskConfig):
        input_size: int = Field(ge=1, description="input units")
        output_size: int = Field(ge=1, description="output units")
        std: Number = Field(1.0, ge=0, description="standard deviation of the inputs and targets")
        batch_size: int = Field(1, ge=1, description="examples per member (the same at every iteration)")

    @staticmethod
    def dims(cfg):
        return cfg["input_size"], cfg["output_size"]

    def __init__(self, cfg, seeds, device, dtype):
        pairs = []
        for g in member_generators(seeds, "data"):
            shape = (cfg["batch_size"],)
            s = torch.randn(shape + (cfg["input_size"],), generator=g, dtype=torch.float64)
            t = torch.randn(shape + (cfg["output_size"],), generator=g, dtype=torch.float64)
            pairs.append((s * cfg["std"], t * cfg["std"]))
        self.s = torch.stack([p[0] for p in pairs]).to(device, dtype)
        self.t = torch.stack([p[1] for p in pairs]).to(device, dtype)

    def batches(self, iteration):
        yield self.s, self.t


class ImageClassification(Stream):
    """A labelled image set: per-member training subsets, shuffled mini-batches, one-hot targets.

    An iteration is one epoch over the member's training pool, or `batches_per_iteration` mini-batches
    from a shuffled stream that reshuffles when it runs out. Evaluation: the test set (or a per-member
    subset of `test_per_class` images of each class).
    """
    STATE = ("subset_gens", "order_gens", "label_map", "train_pool", "test_pool", "queue")
    class Config(TaskConfig):
        dataset: Literal[tuple(DATASETS)] = Field(description="the data set (data_utils.DATASETS)")
        batch_size: int = Field(ge=1, description="images per training batch")
        train_per_class: int | None = Field(
            None, ge=1, description="training images per class in each member's pool (null: all)")
        test_per_class: int | None = Field(
            None, ge=1, description="test images per class in each member's evaluation subset (null: all)")
        batches_per_iteration: int | None = Field(
            None, ge=1, description="mini-batches per iteration (null: one epoch over the pool)")
        drop_last: bool = Field(False, description="skip an epoch's last batch when it is smaller")
        target_off: Number = Field(0.0, description="target of the wrong classes: 0, or -1 for ±1 targets")

        @model_validator(mode="before")
        @classmethod
        def _no_download(cls, value):
            """Downloading was a data key once; it is main.py's --download now, which keeps the run's home."""
            if isinstance(value, dict) and "download" in value:
                raise PydanticCustomError("config", "{message}", {"key": "download", "message": (
                    "downloading is not a config value: run main.py with --download to fetch missing files "
                    "(the results keep their home)")})
            return value

    @staticmethod
    def dims(cfg):
        return DATASETS[cfg["dataset"]].dims

    @staticmethod
    def prepare(cfg, download=False):
        """Load the data once before any trial starts (fetching missing files first if `download`), so
        problems surface early."""
        for split in SPLITS:
            load_dataset(cfg["dataset"], split, download=download)

    def __init__(self, cfg, seeds, device, dtype):
        self.cfg, self.device, self.dtype = cfg, device, dtype
        self.num_members = len(seeds)
        train = load_dataset(cfg["dataset"], "train")
        test = load_dataset(cfg["dataset"], "test")
        self.x_train, self.y_train = train.x.to(device, dtype), train.y.to(device)
        self.x_test, self.y_test = test.x.to(device, dtype), test.y.to(device)
        self.num_outputs = self.dims(cfg)[1]
        self.subset_gens = member_generators(seeds, "subset")
        self.order_gens = member_generators(seeds, "order")
        self.label_map = torch.arange(self.num_outputs, device=device).expand(len(seeds), -1)
        self.draw_subsets()
        self.queue = None
        self.cached_eval = None

    def draw_subsets(self):
        """Each member's training pool [M, n] and test subset [M, n_test] (or None: the whole set)."""
        self.train_pool = self.per_member_subset(self.y_train, self.cfg["train_per_class"])
        self.test_pool = (None if self.cfg["test_per_class"] is None else
                          self.per_member_subset(self.y_test, self.cfg["test_per_class"]))

    def per_member_subset(self, y, n_per_class):
        y_cpu = y.cpu()
        return stack_members(self.subset_gens, lambda g: per_class_subset(y_cpu, n_per_class, g),
                             self.device)

    def pool(self, iteration):
        """Indices [M, n] of the training images the members learn from at this iteration."""
        return self.train_pool

    def shuffled(self, pool):
        keys = stack_members(self.order_gens, lambda g: torch.rand(pool.shape[1], generator=g),
                             self.device)
        return torch.gather(pool, 1, keys.argsort(dim=1))

    def batch(self, idx):
        """Inputs [M, B, D] and targets [M, B, K] of the images idx [M, B], gathered in one op."""
        labels = torch.gather(self.label_map, 1, self.y_train[idx])
        return self.x_train[idx], one_hot_members(labels, self.num_outputs, self.cfg["target_off"],
                                                  self.dtype)

    def batches(self, iteration):
        size = self.cfg["batch_size"]
        if self.cfg["batches_per_iteration"] is None:
            order = self.shuffled(self.pool(iteration))
            stop = order.shape[1] - (order.shape[1] % size if self.cfg["drop_last"] else 0)
            for start in range(0, stop, size):
                yield self.batch(order[:, start:start + size])
            return
        for _ in range(self.cfg["batches_per_iteration"]):
            if self.queue is None or self.queue.shape[1] < size:
                self.queue = self.shuffled(self.pool(iteration))
            idx, self.queue = self.queue[:, :size], self.queue[:, size:]
            yield self.batch(idx)

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.cached_eval = None

    def eval_set(self, idx):
        """Inputs and targets of the test images idx ([N] shared or [M, N] per member)."""
        labels = self.y_test[idx].expand(self.num_members, -1)
        mapped = torch.gather(self.label_map, 1, labels)
        targets = one_hot_members(mapped, self.num_outputs, self.cfg["target_off"], self.dtype)
        return self.x_test[idx], targets

    def eval_sets(self):
        """{name: (x, t)}, cached until the subsets or labels change."""
        if self.cached_eval is None:
            self.cached_eval = self.make_eval_sets()
        return self.cached_eval

    def make_eval_sets(self):
        if self.test_pool is None:
            return {"test": self.eval_set(torch.arange(len(self.y_test), device=self.device))}
        return {"test": self.eval_set(self.test_pool)}


class AlternatingTasks(ImageClassification):
    """Continual learning: the classes split into tasks trained in turn, `epochs_per_task` epochs each
    (task A, task B, task A, ...), evaluated on every task's test images (test_error_task_<k>).

    Labels go through a per-member random permutation of the classes, then modulo `num_outputs`, so
    the tasks share output units (Fig. 4d, 4e).
    """
    class Config(ImageClassification.Config):
        tasks: _nonempty_lists(Label) = Field(
            [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], description="the classes of each task, trained in turn")
        epochs_per_task: int = Field(4, ge=1, description="iterations (epochs) on a task before the next")
        num_outputs: int = Field(5, ge=1, description="output units; the tasks' labels share them (modulo)")
        permute_labels: bool = Field(True, description="permute each member's classes at random first")

    @staticmethod
    def dims(cfg):
        return DATASETS[cfg["dataset"]].inputs, cfg["num_outputs"]

    def __init__(self, cfg, seeds, device, dtype):
        super().__init__(cfg, seeds, device, dtype)
        classes = DATASETS[cfg["dataset"]].classes
        if cfg["permute_labels"]:
            perms = stack_members(member_generators(seeds, "labels"),
                                  lambda g: random_label_permutation(classes, g), device)
        else:
            perms = torch.arange(classes, device=device).expand(len(seeds), -1)
        self.label_map = perms % cfg["num_outputs"]
        self.task_pools = [self.restrict(self.train_pool, self.y_train, task) for task in cfg["tasks"]]

    def restrict(self, pool, y, classes):
        """The part of each member's pool [M, n] whose labels lie in `classes` ([M, n_task])."""
        keep = torch.isin(y[pool], torch.tensor(classes, device=self.device))
        return pool[keep].view(pool.shape[0], -1)

    def pool(self, iteration):
        return self.task_pools[(iteration // self.cfg["epochs_per_task"]) % len(self.task_pools)]

    def make_eval_sets(self):
        everything = torch.arange(len(self.y_test), device=self.device)[None]
        pool = everything if self.test_pool is None else self.test_pool
        return {f"task_{k}": self.eval_set(self.restrict(pool, self.y_test, task).squeeze(0))
                for k, task in enumerate(self.cfg["tasks"])}


class ConceptDrift(ImageClassification):
    """Every `drift_every` iterations (first at iteration 0) the labels of `drifting_classes` are
    permuted among themselves and fresh training and test subsets are drawn (Fig. 4f, 4g)."""
    class Config(ImageClassification.Config):
        drift_every: int = Field(64, ge=1, description="iterations between drifts (the first at iteration 0)")
        drifting_classes: Annotated[list[Label], Field(min_length=2)] = Field(
            [5, 6, 7, 8, 9], description="the classes whose labels are permuted among themselves at a drift")

    STATE = ImageClassification.STATE + ("drift_gens",)

    def __init__(self, cfg, seeds, device, dtype):
        super().__init__(cfg, seeds, device, dtype)
        self.drift_gens = member_generators(seeds, "drift")

    def drift(self):
        drifting = torch.tensor(self.cfg["drifting_classes"])
        label_map = torch.arange(self.num_outputs).repeat(self.num_members, 1)
        shuffles = stack_members(self.drift_gens, lambda g: torch.randperm(len(drifting), generator=g),
                                 "cpu")
        label_map[:, drifting] = drifting[shuffles]
        self.label_map = label_map.to(self.device)
        self.draw_subsets()
        self.cached_eval = None

    def batches(self, iteration):
        if iteration % self.cfg["drift_every"] == 0:
            self.drift()
        yield from super().batches(iteration)


STREAMS = {"fixed_pair": FixedPair, "gaussian_pair": GaussianPair, "images": ImageClassification,
           "alternating_tasks": AlternatingTasks, "concept_drift": ConceptDrift}


def task_class(name):
    """A registered stream (STREAMS) or an experiment's own task class, named
    experiments.<experiment>.<module>:<Class> (checked before it is imported)."""
    if name in STREAMS:
        return STREAMS[name]
    task = experiment_attribute(name, "config.data.name", "class")
    if Task not in task.__mro__:   # a Protocol with data members refuses issubclass
        raise ConfigError(f"config.data.name: {name} is not a task (a subclass of tasks.Task)")
    return task
