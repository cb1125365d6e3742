"""The overshadowing task of the fear-conditioning experiment (rats; FIGURES.md `fear_conditioning`).

Two cues, L (light) and N (noise), are the inputs (L, N); the output is the fear. Each group is one
schedule, the same for every member (no random draws: the members differ only in their seed's
initial weights and in their learning rates):

    group     conditioning (32 trials, target 1)   extinction (32 trials, target 0)
    N+        (0, 1)                               (0, 0)
    LN+       (1, 1)                               (0, 0)
    LN+,L-    (1, 1)                               (1, 0)

The test is the output to N alone, (0, 1), after extinction, read with `learner.predict` (the
network does not learn from it). One iteration is the whole session: conditioning, extinction, test.
"""
from typing import Literal

from pydantic import Field
import torch

from tasks import Task, TaskConfig

GROUPS = ("N+", "LN+", "LN+,L-")
TEST_INPUT = (0.0, 1.0)                     # N alone
CONDITIONING = {"N+": (0.0, 1.0), "LN+": (1.0, 1.0), "LN+,L-": (1.0, 1.0)}
EXTINCTION = {"N+": (0.0, 0.0), "LN+": (0.0, 0.0), "LN+,L-": (1.0, 0.0)}


def schedule(group, conditioning_trials=32, extinction_trials=32):
    """The group's trials in order: inputs [n, 2] (L, N), targets [n, 1] and phase names [n]."""
    inputs = [CONDITIONING[group]] * conditioning_trials + [EXTINCTION[group]] * extinction_trials
    targets = [(1.0,)] * conditioning_trials + [(0.0,)] * extinction_trials
    phases = ["conditioning"] * conditioning_trials + ["extinction"] * extinction_trials
    return torch.tensor(inputs, dtype=torch.float64), torch.tensor(targets, dtype=torch.float64), phases


class Overshadowing(Task):
    """One group's session per member: conditioning, extinction, then the fear to N alone.

    Columns per member: `fear_to_N` (the test, after extinction) and `fear_to_N_conditioned` (the
    same probe after conditioning, before extinction).
    """
    class Config(TaskConfig):
        group: Literal[GROUPS] = Field(description="the group's schedule: N+, LN+ or LN+,L-")
        conditioning_trials: int = Field(32, ge=0, description="trials of the conditioning phase (target 1)")
        extinction_trials: int = Field(32, ge=0, description="trials of the extinction phase (target 0)")

    @staticmethod
    def dims(cfg):
        return 2, 1

    def __init__(self, cfg, seeds, device, dtype):
        inputs, targets, phases = schedule(cfg["group"], cfg["conditioning_trials"], cfg["extinction_trials"])
        members = len(seeds)
        # Per trial: s [M, 1, 2] and t [M, 1, 1], the same for every member (the schedule is fixed).
        self.s = inputs.to(device, dtype)[:, None, None, :].expand(-1, members, 1, -1)
        self.t = targets.to(device, dtype)[:, None, None, :].expand(-1, members, 1, -1)
        self.conditioning_trials = cfg["conditioning_trials"]
        self.test = torch.tensor([TEST_INPUT], dtype=dtype, device=device)     # [1, 2], shared
        self.phases = phases

    def fear_to_N(self, learner):
        return learner.predict(self.test)[:, 0, 0]

    def play(self, iteration, learner):
        for k in range(self.conditioning_trials):
            learner.learn(self.s[k], self.t[k])
        conditioned = self.fear_to_N(learner)
        for k in range(self.conditioning_trials, len(self.phases)):
            learner.learn(self.s[k], self.t[k])
        return {"fear_to_N": self.fear_to_N(learner), "fear_to_N_conditioned": conditioned}
