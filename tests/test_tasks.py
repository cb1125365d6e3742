"""The task contract (tasks.Task): every registered task class and every task an experiment names meets it."""
import inspect
from pathlib import Path

import pytest
import yaml

from streams import STREAMS, task_class
from tasks import Task, TaskConfig
from utils import ConfigError

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("dims", "__init__", "play")
MEMBERS = REQUIRED + ("prepare", "eval_sets", "drop", "state_dict", "load_state_dict")


def data_names(value):
    """The `data.name` values anywhere in a parsed YAML document."""
    if isinstance(value, list):
        return {name for item in value for name in data_names(item)}
    if not isinstance(value, dict):
        return set()
    names = {value["data"]["name"]} if isinstance(value.get("data"), dict) and "name" in value["data"] else set()
    return names.union(*(data_names(item) for item in value.values()))


def named_tasks():
    """Every registered stream and every task an experiment YAML names."""
    named = {name for path in sorted(ROOT.glob("experiments/*/*.yaml"))
             for name in data_names(yaml.safe_load(path.read_text()))}
    return sorted(set(STREAMS) | named)


def parameters(function):
    return list(inspect.signature(function).parameters)


def test_the_experiments_name_their_own_closed_loop_tasks():
    assert {"experiments.dqn.task:DeepQLearning", "experiments.reversal.task:ReversalLearning",
            "experiments.sensorimotor.task:HealdTriplets",
            "experiments.fear_conditioning.task:Overshadowing"} <= set(named_tasks())


@pytest.mark.parametrize("name", named_tasks())
def test_every_task_subclasses_task_and_has_its_members_with_the_contracts_signatures(name):
    cls = task_class(name)
    assert Task in cls.__mro__ and issubclass(cls.Config, TaskConfig)
    for member in REQUIRED:
        assert getattr(cls, member) is not getattr(Task, member), f"{name} lacks {member}"
    for member in MEMBERS:
        assert parameters(getattr(cls, member)) == parameters(getattr(Task, member)), f"{name}.{member}"
    if cls.resumable:
        assert cls.state_dict is not Task.state_dict and cls.load_state_dict is not Task.load_state_dict


def test_an_experiment_class_that_is_not_a_task_is_refused_by_name():
    with pytest.raises(ConfigError, match="ReversalSchedule is not a task"):
        task_class("experiments.reversal.task:ReversalSchedule")
