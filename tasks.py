"""The task contract: what the members of one trial learn from, in one place.

A task is built for the members of one trial from the YAML's `data` section and each member's seed,
`Task(cfg, seeds, device, dtype)`, `cfg` being the section validated by the task's `Config`
(`Config.model_validate(d).model_dump()`: a plain dict with every default filled in). Every random
draw comes from generators seeded from one member's seed, so packing members together never changes
what one sees.

Every iteration the engine calls `task.play(iteration, learner)`. An open-loop task (a stream,
streams.py) lists the iteration's batches and has the learner learn from each in turn; a closed-loop
task (experiments/<experiment>/task.py) drives the learner itself, so its next input or target may
depend on the members' own outputs (a choice, an environment step).

A task class subclasses `Task`, which is both the contract (a typing.Protocol) and the defaults of
its optional members: `prepare`, `eval_sets`, `drop`, `play_costliest` and checkpointing
(`resumable`). `Resumable` checkpoints a task from the names of its attributes that change as it runs
(`STATE`): `state_dict` saves them as plain tensors and containers (random generators as their
states), which torch.load reads back with weights_only=True, so a checkpoint never runs code.
"""
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict
import torch


class TaskConfig(BaseModel):
    """Base of the tasks' configs: unknown keys and loose types (1.0 for an integer, 1 for a bool) are errors."""
    model_config = ConfigDict(extra="forbid", strict=True)


class Task(Protocol):
    """The members' task (see the module docstring); shapes: M members, B samples of a batch.

    Required: `Config`, `dims`, the constructor and `play`, declared here. Optional, with their
    defaults here: `resumable` (no), `prepare` and `drop` (nothing to do), `eval_sets` (none),
    `play_costliest` (`play`), and `state_dict`/`load_state_dict`, which a resumable task defines.
    """
    Config: ClassVar[type[TaskConfig]]   # the keys of the task's `data` section
    resumable: ClassVar[bool] = False    # True: state_dict/load_state_dict checkpoint it mid-trial

    @staticmethod
    def dims(cfg) -> tuple[int, int]:
        """(inputs, outputs) of the network the task with validated config `cfg` feeds."""

    def __init__(self, cfg, seeds, device, dtype) -> None:
        """The task of members with these `seeds`, its tensors on `device` in `dtype`."""

    def play(self, iteration, learner) -> dict:
        """Train `learner` (engine.Learner) on the task's iteration `iteration` (0, 1, ...): calls of
        `learner.learn(s, t, mask)` with s [M, B, n_in] or [B, n_in] (shared), t likewise, and of
        `learner.predict(s)`. Returns the task's own columns {name: [M] or [M, k] tensor}."""

    def play_costliest(self, iteration, learner) -> dict:
        """For --dry-run's estimate (cost.py): an iteration as costly as any of a run's, where the
        cost grows as the members learn (e.g. longer episodes). Default: `play` (iterations cost alike)."""
        return self.play(iteration, learner)

    @staticmethod
    def prepare(cfg, download=False) -> None:
        """Before any trial starts: load what the task reads (fetching missing files first if
        `download`), so problems surface early. Default: nothing to load."""

    def eval_sets(self) -> dict:
        """{name: (x, t)} the `test_error` metric measures on. Default: none."""
        return {}

    def drop(self, members) -> None:
        """Stop simulating `members` (a bool mask [M]: diverged, their scores fixed). Default: the
        task goes on computing them."""

    def state_dict(self) -> dict:
        """(resumable tasks) Everything the next iteration depends on, as plain tensors and containers."""
        raise NotImplementedError(f"{type(self).__name__} cannot be checkpointed")

    def load_state_dict(self, state) -> None:
        """(resumable tasks) Continue from a `state_dict`."""
        raise NotImplementedError(f"{type(self).__name__} cannot be checkpointed")


def capture(value):
    """A copy of `value` made of CPU tensors, numbers, strings and lists/dicts of them: a random
    generator becomes its state."""
    if isinstance(value, torch.Generator):
        return value.get_state()
    if torch.is_tensor(value):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        return [capture(item) for item in value]
    if isinstance(value, dict):
        return {key: capture(item) for key, item in value.items()}
    return value


def restore(current, saved, device):
    """The value `saved` (by `capture`) stands for, given the live value `current`: generators are
    set to their saved states in place, tensors come back on `device`."""
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if isinstance(current, (list, tuple)) and len(current) == len(saved):
        return type(current)(restore(c, s, device) for c, s in zip(current, saved))
    if isinstance(saved, dict):
        return {key: restore(current.get(key) if isinstance(current, dict) else None, item, device)
                for key, item in saved.items()}
    return saved.to(device) if torch.is_tensor(saved) else saved


class Resumable(Task):
    """A task whose progress lies in the attributes named in STATE (none: it never changes); one
    with STATE keeps its tensors' `device`."""
    resumable = True
    STATE = ()

    def state_dict(self):
        return {name: capture(getattr(self, name)) for name in self.STATE}

    def load_state_dict(self, state):
        for name in self.STATE:
            setattr(self, name, restore(getattr(self, name), state[name], self.device))
