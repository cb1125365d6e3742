"""Probabilistic reversal learning (Hampton, Bossaerts & O'Doherty 2006), Fig. 6c: a closed-loop task.

Each member is one simulated participant. Two options; the correct one pays +1 with probability
`p_reward_correct` (else -1), the other +1 with probability `p_reward_incorrect` (else -1). Option 0
starts as the correct one. After `criterion` consecutive correct choices the contingencies reverse
with probability `p_reversal` on each later trial (until they do); after a reversal `criterion` new
consecutive correct choices are needed (`streak_rule: described`). The authors' code never cleared its
success history, so correct choices before a reversal count toward the next streak
(`streak_rule: original`).

On every trial the member reads its two option values (the outputs for the constant input 1), chooses
by softmax with temperature `temperature`, receives the reward of its choice, and learns from it with
only the chosen output's error counting (loss 0.5 (o_a - r)^2).

Every random draw (the choice, the reward, the reversal) is a uniform number drawn per trial in the
constructor from the member's own generators (streams "choice", "reward", "reversal", seeded from its
seed), so a seed is the same participant (the same random numbers) in every configuration and for both
rules, and packing never changes a member's results.

Measured (what Fig. 6c needs), for each punished trial numbered `first_measured`..trials-1 (trials are
numbered 1..trials; the next trial is in the session): the chosen option's value on the punished trial
("at punish", read before that trial's learning) and the value of the option chosen on the next trial
("next trial", read before that trial's learning), split by whether the next choice stayed or switched.
Each iteration returns per member the sums over its events (those whose next trial falls in the
iteration), so summing a member's rows over iterations gives its totals:
    n_<cell>, at_<cell>, next_<cell>, at_sq_<cell>, next_sq_<cell>     cell in {stay, switch}
(event counts, sums of values and of squared values), and `reversals`, `correct_choices`,
`rewarded` (counts). Event-pooled means are sum(at_stay) / sum(n_stay) over members; a member's own
mean is at_stay / n_stay; the squares give the event-level spread.

With `trials_per_iteration: 1` (the mechanism runs) every row is one trial and also holds `choice`,
`reward`, `correct_option` (the correct option on that trial) and `value` (value_0, value_1: the
outputs before the trial's learning); with `trace_steps` it also records, at those inference steps,
the hidden value node (`trace_hidden_<j>`) and the outputs it predicts through the output weights
the trial started with (`trace_value0_<j>`, `trace_value1_<j>`). BP has no inference: its hidden
state is the feed-forward one at every step.
"""
from typing import Annotated, Literal

from pydantic import Field, model_validator
import torch

from streams import Number, member_generators
from tasks import Task, TaskConfig

Probability = Annotated[Number, Field(ge=0, le=1)]
CELLS = ("stay", "switch")
SUMS = ("n", "at", "next", "at_sq", "next_sq")


class ReversalSchedule:
    """The contingencies of M members, vectorised, driven by their choices trial by trial.

    `u_reward` and `u_reversal` are [M, trials] uniform numbers; the state per member is which option
    is correct, the current streak of consecutive correct choices, and whether the criterion has been
    met since the last reversal (`eligible`: the next trials may reverse).
    """

    def __init__(self, cfg, u_reward, u_reversal):
        self.cfg, self.u_reward, self.u_reversal = cfg, u_reward, u_reversal
        members, device = u_reward.shape[0], u_reward.device
        self.correct = torch.zeros(members, dtype=torch.long, device=device)
        self.streak = torch.zeros(members, dtype=torch.long, device=device)
        self.eligible = torch.zeros(members, dtype=torch.bool, device=device)
        self.reversals = torch.zeros(members, dtype=torch.long, device=device)

    def start_trial(self, t):
        """Before trial t's choice: members past the criterion reverse with p_reversal; returns them [M]."""
        reverse = self.eligible & (self.u_reversal[:, t] < self.cfg["p_reversal"])
        self.correct = torch.where(reverse, 1 - self.correct, self.correct)
        self.eligible = self.eligible & ~reverse
        if self.cfg["streak_rule"] == "described":
            self.streak = torch.where(reverse, torch.zeros_like(self.streak), self.streak)
        self.reversals += reverse
        return reverse

    def outcome(self, t, choice):
        """The reward (+1 or -1) of each member's choice [M] on trial t and whether it was correct;
        updates the streaks and the criterion."""
        is_correct = choice == self.correct
        p = torch.where(is_correct, self.cfg["p_reward_correct"], self.cfg["p_reward_incorrect"])
        reward = torch.where(self.u_reward[:, t] < p, 1.0, -1.0).to(self.u_reward.dtype)
        self.streak = torch.where(is_correct, self.streak + 1, torch.zeros_like(self.streak))
        self.eligible = self.eligible | (self.streak >= self.cfg["criterion"])
        return reward, is_correct


def softmax_choice(values, u, temperature):
    """Option 1 where u < softmax(values / temperature)[1], else option 0 ([M, 2], [M] -> [M] long)."""
    p1 = torch.sigmoid((values[:, 1] - values[:, 0]) / temperature)
    return (u < p1).long()


class ReversalLearning(Task):
    """The reversal task for M members (see the module docstring)."""

    class Config(TaskConfig):
        trials: int = Field(128, ge=2, description="trials per simulated participant")
        p_reward_correct: Probability = Field(0.7, description="P(+1) for choosing the correct option (else -1)")
        p_reward_incorrect: Probability = Field(0.4, description="P(+1) for choosing the other option (else -1)")
        criterion: int = Field(4, ge=1, description="consecutive correct choices before reversals may happen")
        p_reversal: Probability = Field(0.25, description="P(reversal) on each trial once the criterion is met")
        streak_rule: Literal["described", "original"] = Field(
            "described", description="described: the streak restarts at a reversal; original: the "
                                     "authors' code, whose success history is never cleared")
        temperature: Annotated[Number, Field(gt=0)] = Field(1.0, description="softmax temperature of the choice")
        first_measured: int = Field(64, ge=1, description="number (1-based) of the first punished trial measured")
        trials_per_iteration: int = Field(128, ge=1, description="trials per iteration (must divide trials); "
                                                                 "1 gives one row per trial")
        trace_steps: list[Annotated[int, Field(ge=0)]] = Field(
            [], description="inference steps at which to record the hidden activity (needs "
                            "trials_per_iteration 1; steps >= T are never reached)")

        @model_validator(mode="after")
        def _iterations(self):
            if self.trials % self.trials_per_iteration:
                raise ValueError(f"trials_per_iteration {self.trials_per_iteration} does not divide "
                                 f"trials {self.trials}")
            if self.trace_steps and self.trials_per_iteration != 1:
                raise ValueError("trace_steps needs trials_per_iteration: 1")
            return self

    @staticmethod
    def dims(cfg):
        return 1, 2

    @staticmethod
    def iterations(cfg):
        """How many iterations (stop.training_iteration) run the whole session."""
        return cfg["trials"] // cfg["trials_per_iteration"]

    def __init__(self, cfg, seeds, device, dtype):
        self.cfg, self.dtype = cfg, dtype

        def uniforms(stream):
            return torch.stack([torch.rand(cfg["trials"], generator=g, dtype=torch.float64)
                                for g in member_generators(seeds, stream)]).to(device, dtype)

        self.u_choice = uniforms("choice")
        self.schedule = ReversalSchedule(cfg, uniforms("reward"), uniforms("reversal"))
        self.s = torch.ones(len(seeds), 1, 1, dtype=dtype, device=device)
        self.previous = None        # (punished, value of the choice, choice) of the last trial

    def play(self, iteration, learner):
        cfg = self.cfg
        M = self.s.shape[0]
        zeros = torch.zeros(M, dtype=self.dtype, device=self.s.device)
        out = {f"{name}_{cell}": zeros.clone() for cell in CELLS for name in SUMS}
        out.update(reversals=zeros.clone(), correct_choices=zeros.clone(), rewarded=zeros.clone())
        first = iteration * cfg["trials_per_iteration"]
        if first >= cfg["trials"]:
            raise ValueError(f"iteration {iteration} is past the session's {cfg['trials']} trials: "
                             f"stop.training_iteration must be trials / trials_per_iteration")
        for t in range(first, first + cfg["trials_per_iteration"]):
            out["reversals"] += self.schedule.start_trial(t)
            correct_option = self.schedule.correct
            values = learner.predict(self.s)[:, 0, :]                                   # [M, 2]
            choice = softmax_choice(values, self.u_choice[:, t], cfg["temperature"])
            reward, is_correct = self.schedule.outcome(t, choice)
            chosen = torch.nn.functional.one_hot(choice, 2).to(self.dtype)[:, None, :]    # [M, 1, 2]
            recorder = TraceRecorder(cfg["trace_steps"], learner, M, self.dtype) if cfg["trace_steps"] else None
            learner.learn(self.s, reward[:, None, None] * chosen, mask=chosen,
                          trace=recorder and recorder.trace)
            value = values.gather(1, choice[:, None])[:, 0]
            self.measure(t, choice, value, out)
            self.previous = (reward < 0, value, choice)
            out["correct_choices"] += is_correct
            out["rewarded"] += reward > 0
        if cfg["trials_per_iteration"] == 1:
            out.update(choice=choice.to(self.dtype), reward=reward, value=values,
                       correct_option=correct_option.to(self.dtype))
            if recorder is not None:
                out.update(recorder.columns())
        return out

    def measure(self, t, choice, value, out):
        """Add the events whose punished trial is t - 1 (0-based) to the cell sums."""
        if self.previous is None or t < self.cfg["first_measured"]:    # punished trial number t >= first
            return
        punished, previous_value, previous_choice = self.previous
        switched = choice != previous_choice
        for cell, selected in (("stay", punished & ~switched), ("switch", punished & switched)):
            w = selected.to(self.dtype)
            out[f"n_{cell}"] += w
            out[f"at_{cell}"] += w * previous_value
            out[f"next_{cell}"] += w * value
            out[f"at_sq_{cell}"] += w * previous_value ** 2
            out[f"next_sq_{cell}"] += w * value ** 2


class TraceRecorder:
    """The hidden value node at chosen inference steps of one trial, and the option values it predicts
    through the output weights the trial started with.

    Steps the rule never reaches (BP has only step 0; steps >= T) hold the last state it reached.
    """

    def __init__(self, steps, learner, members, dtype):
        self.index = {step: j for j, step in enumerate(steps)}
        self.steps, self.learner = list(steps), learner
        device = learner.params.weights[0].device
        self.hidden = torch.full((members, len(self.steps)), float("nan"), dtype=dtype, device=device)
        self.last, self.weights = None, None

    def trace(self, k, xs, errors):
        if k == 0:
            self.weights = self.learner.params.weights[-1][:, :, 0].clone()   # [M, 2]
        self.last = (k, xs[0][:, 0, 0])                                        # one hidden unit: [M]
        if k in self.index:
            self.hidden[:, self.index[k]] = self.last[1]

    def columns(self):
        reached, hidden = self.last
        for j, step in enumerate(self.steps):
            if step > reached:
                self.hidden[:, j] = hidden
        values = self.weights[:, None, :] * self.hidden[:, :, None]              # [M, steps, 2]
        return {"trace_hidden": self.hidden, "trace_value0": values[:, :, 0],
                "trace_value1": values[:, :, 1]}
