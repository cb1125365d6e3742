"""Deep Q-learning on gymnasium's classic-control tasks (Fig. 4k): a closed-loop task.

Each member (a seed x learning rate of the packed trial) has its own environment, replay buffer,
observation normaliser and random streams, so one iteration = one episode of every member:

    play:   s = norm(o); a = argmax_a Q(s, a) (random with probability eps); o', r = env.step(a)
            the transition (s, a, r, norm(o'), done) is staged; the episode ends at terminated or
            truncated; members whose episode ended wait for the others
    store:  the episode's transitions go into the member's replay buffer (the newest 50,000 kept)
    learn:  a member whose buffer holds more than `learning_starts` transitions takes
            `updates_per_episode` steps, each on `batch_size` transitions drawn (without replacement
            within a batch) from its own buffer: target y = r + gamma * max_a' Q(s', a') * (1 - done),
            computed with `learner.predict` (plain feed-forward, no inference, detached) before the
            step, and `learner.learn(s, y at a, mask = one-hot(a))`, so only the taken action's error
            counts: loss 0.5 * sum over the batch of (Q(s, a) - y)^2. There is no target network.

Details the paper's numbers depend on (FIGURES.md, `dqn`):
- eps = max(epsilon_min, epsilon_start - epsilon_decay * episode), 0-based episode = iteration.
- done = terminated or truncated (the original's old gym API: a time-limit truncation cuts the
  bootstrap); `bootstrap_truncated: true` uses done = terminated.
- Observations are normalised per member and dimension by a running mean and population std
  (Welford), updated with each observation before its action is chosen and, once the episode's last
  transition is stored, with the terminal next observation. A transition is stored with the
  normalisation of the moment it was stored, so every next state, the terminal one too, is
  normalised before its own observation joins the statistics (as in the original). Where a std is 0
  (e.g. the first observation) the observation is only centred. Rewards are raw.

Random streams per member, from its seed (utils.derive_seed), so a seed is the same in every config
and for both rules and packing never changes a member's results: "env" (the environment's first
reset seed; later resets continue the environment's own generator), "explore" (two uniforms per
step: explore or not, and the random action) and "replay" (the batches). The initial weights come
from the engine's "init" stream.

Columns per member and episode: `episode_return` (the sum of raw rewards), `episode_length` (steps)
and `env_failed` (1 once the member's environment raised an error; from that episode on the member
neither acts nor learns and its return and length are NaN, while the other members go on). The
paper's "episode reward", the running mean of the last 200 returns, is computed in the analysis
(figures.py).

Hot loop: the environments step in a plain list (gymnasium's native CartPoleVectorEnv steps faster
but draws every sub-environment's resets from one shared generator, so packing would change a
member's episodes, and one failing member would stop them all; see README.md for the timings). All
per-step bookkeeping is numpy on preallocated arrays; the network sees one packed forward pass
[M, 1, obs] per step; the replay buffer is a set of preallocated tensors [M, capacity, ...] that an
episode's staged transitions enter in one indexed write.

Checkpoints (`state_dict`, taken at the end of an iteration, when every episode has ended): the
environments' random generators (the next reset draws from them), the normalisers, the exploration
and replay streams and the replay buffers; numpy state travels as tensors and plain numbers, since a
checkpoint is loaded weights-only. A trial continued from one equals an uninterrupted one bit for bit.

The building blocks: envs.py (the members' environments), state.py (the normaliser, the exploration
streams, arrays and generators as a checkpoint holds them) and replay.py (staging, replay buffer).
"""
import gymnasium as gym
import numpy as np
from pydantic import Field, field_validator
import torch

from experiments.dqn.envs import MemberEnvs, env_spaces
from experiments.dqn.replay import ReplayBuffer, Staging
from experiments.dqn.state import RunningNorm, Uniforms, generator_from, generator_state
from streams import Number
from tasks import Task, TaskConfig
from utils import derive_seed


def epsilon(cfg, episode):
    """The exploration rate of an episode: max(epsilon_min, epsilon_start - epsilon_decay * episode)."""
    return max(cfg["epsilon_min"], cfg["epsilon_start"] - cfg["epsilon_decay"] * episode)


def td_targets(q_next, reward, done, gamma):
    """y = r + gamma * max_a' Q(s', a') * (1 - done): q_next [..., A], reward and done [...]."""
    return reward + gamma * q_next.max(-1).values * (1 - done)


class DeepQLearning(Task):
    """Deep Q-learning, one episode per member per iteration (see the module docstring)."""
    resumable = True

    class Config(TaskConfig):
        env: str = Field("CartPole-v1", description="gymnasium environment id (Discrete actions, flat Box "
                                                    "observations): CartPole-v1, Acrobot-v1, MountainCar-v0")
        buffer_size: int = Field(50_000, ge=1, description="replay buffer capacity per member (newest kept)")
        learning_starts: int = Field(2_000, ge=0, description="a member learns once its buffer holds more "
                                                              "than this many transitions")
        updates_per_episode: int = Field(10, ge=1, description="learning steps after each episode")
        batch_size: int = Field(60, ge=1, description="transitions per learning step (without replacement)")
        gamma: Number = Field(0.98, ge=0, le=1, description="discount of the TD target")
        epsilon_start: Number = Field(0.08, ge=0, le=1, description="exploration rate of episode 0")
        epsilon_decay: Number = Field(0.01 / 200, ge=0, description="decrease of the exploration rate per "
                                                                    "episode (0.01 per 200 episodes)")
        epsilon_min: Number = Field(0.01, ge=0, le=1, description="the exploration rate's floor")
        bootstrap_truncated: bool = Field(False, description="false: done = terminated or truncated (the "
                                                             "original); true: done = terminated, so the "
                                                             "target bootstraps through a time limit")

        @field_validator("env")
        @classmethod
        def _known_env(cls, name):
            env_spaces(name)
            return name

    @staticmethod
    def dims(cfg):
        return env_spaces(cfg["env"])

    def __init__(self, cfg, seeds, device, dtype):
        self.cfg, self.device, self.dtype = cfg, device, dtype
        members = len(seeds)
        self.envs = MemberEnvs(cfg["env"], seeds)
        obs_dim, self.num_actions = env_spaces(cfg["env"])
        self.norm = RunningNorm(members, obs_dim)
        self.explore = Uniforms([np.random.default_rng(derive_seed(s, "explore")) for s in seeds])
        self.replay_generators = [np.random.default_rng(derive_seed(s, "replay")) for s in seeds]
        self.buffer = ReplayBuffer(members, cfg["buffer_size"], obs_dim, device, dtype)
        self.staging = Staging(members, obs_dim, gym.spec(cfg["env"]).max_episode_steps or 1000)

    def state_dict(self):
        """Everything the next episode depends on (see the module docstring)."""
        return {"envs": self.envs.state_dict(), "norm": self.norm.state_dict(), "explore": self.explore.state_dict(),
                "replay": [generator_state(g) for g in self.replay_generators], "buffer": self.buffer.state_dict()}

    def load_state_dict(self, state):
        self.envs.load_state_dict(state["envs"])
        self.norm.load_state_dict(state["norm"])
        self.explore.load_state_dict(state["explore"])
        self.replay_generators = [generator_from(g) for g in state["replay"]]
        self.buffer.load_state_dict(state["buffer"])

    def drop(self, members):
        """Stop simulating `members` (a bool mask [M]: diverged, so their scores are fixed)."""
        self.envs.stopped |= np.asarray(members, dtype=bool)

    def play(self, iteration, learner):
        lengths, returns = self.play_episodes(epsilon(self.cfg, iteration), learner)
        self.buffer.store(self.staging, lengths)
        self.learn(learner)
        failed = self.envs.failed
        nan = np.full(len(failed), np.nan)
        columns = {"episode_return": np.where(failed, nan, returns),
                   "episode_length": np.where(failed, nan, lengths),
                   "env_failed": failed.astype(np.float64)}
        return {k: torch.from_numpy(v).to(self.device) for k, v in columns.items()}

    def play_costliest(self, iteration, learner):
        """For --dry-run (cost.py): an iteration as costly as any of a run's. Every active member plays
        to the step limit (an environment that ends starts again), stores the transitions, then takes
        its TD updates as if past `learning_starts`: a learned CartPole balances to the limit, an
        unlearned Acrobot or MountainCar rarely ends before it."""
        lengths, _ = self.play_episodes(epsilon(self.cfg, iteration), learner, steps=self.staging.s.shape[1])
        self.buffer.store(self.staging, lengths)
        self.learn(learner, ~self.envs.inactive & (self.buffer.size >= self.cfg["batch_size"]))
        return {}

    def greedy_actions(self, learner, s):
        """argmax_a Q(s, a) of every member's normalised observation s [M, D] (one packed forward)."""
        q = learner.predict(torch.from_numpy(s).to(self.device, self.dtype)[:, None, :])
        return q[:, 0, :].argmax(-1).cpu().numpy()

    def play_episodes(self, eps, learner, steps=None):
        """One episode of every member (staged); returns (lengths [M], returns [M]). With `steps`
        (play_costliest), every member plays exactly that many steps, an ended episode starting again."""
        members = len(self.envs.failed)
        obs = self.envs.reset()
        rows = ~self.envs.inactive                     # members still in their episode
        lengths = np.zeros(members, dtype=np.int64)
        returns = np.zeros(members)
        k = 0
        while (k < steps) if steps else rows.any():
            self.norm.update(obs, rows)
            s = self.norm(obs)
            u = self.explore.draw(rows)
            actions = np.where(u[:, 0] < eps, (u[:, 1] * self.num_actions).astype(np.int64),
                               self.greedy_actions(learner, s))
            obs, reward, terminated, truncated = self.envs.step(actions, rows, obs)
            done = terminated if self.cfg["bootstrap_truncated"] else terminated | truncated
            self.staging.put(k, rows, s, actions, reward, self.norm(obs), done.astype(np.float64))
            ended = rows & (terminated | truncated)
            if ended.any():
                self.norm.update(obs, ended)
            lengths += rows
            returns += np.where(rows, reward, 0.0)
            if steps:
                obs = self.envs.reset(ended, obs)
            else:
                rows &= ~ended
            k += 1
        return lengths, returns

    def learn(self, learner, ready=None):
        """`updates_per_episode` TD steps for the members `ready` (a bool mask [M]; default: those
        whose buffer is past `learning_starts`)."""
        cfg = self.cfg
        if ready is None:
            ready = (self.buffer.size > cfg["learning_starts"]) & ~self.envs.inactive
        if not ready.any():
            return
        s, action, reward, s_next, done = self.buffer.sample(
            self.replay_generators, ready, cfg["updates_per_episode"], cfg["batch_size"])
        on = torch.from_numpy(ready).to(self.device, self.dtype)[:, None, None]
        for u in range(cfg["updates_per_episode"]):
            mask = torch.nn.functional.one_hot(action[:, u], self.num_actions).to(self.dtype) * on
            y = td_targets(learner.predict(s_next[:, u]), reward[:, u], done[:, u], cfg["gamma"])
            learner.learn(s[:, u], mask * y[..., None], mask=mask)
