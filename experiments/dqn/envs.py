"""The members' gymnasium environments: their spaces (env_spaces) and one environment per member
stepped in a list (MemberEnvs), a failing one isolated from the others."""
from functools import lru_cache
import warnings

import gymnasium as gym
import numpy as np

from experiments.dqn.state import arrays_state, generator_from, generator_state, load_arrays
from utils import derive_seed


@lru_cache
def env_spaces(name):
    """(observation size, number of actions) of a gymnasium environment with a flat Box observation
    and a Discrete action space; ValueError otherwise."""
    try:
        env = gym.make(name)
    except gym.error.Error as error:
        raise ValueError(f"{name!r} is not a gymnasium environment ({error})") from None
    obs, actions = env.observation_space, env.action_space
    env.close()
    if not isinstance(actions, gym.spaces.Discrete) or not isinstance(obs, gym.spaces.Box) or len(obs.shape) != 1:
        raise ValueError(f"{name} needs a Discrete action space and a flat Box observation, "
                         f"has {actions} and {obs}")
    return obs.shape[0], int(actions.n)


class MemberEnvs:
    """One gymnasium environment per member, stepped in a list; an error in one member's environment
    marks that member failed and leaves the others going. Members `stopped` (diverged) no longer act."""

    def __init__(self, name, seeds):
        self.envs = [gym.make(name) for _ in seeds]
        self.first_seeds = [derive_seed(seed, "env") for seed in seeds]
        self.failed = np.zeros(len(seeds), dtype=bool)
        self.stopped = np.zeros(len(seeds), dtype=bool)
        self.obs_dim = env_spaces(name)[0]

    @property
    def inactive(self):
        """Members that neither act nor learn: failed or stopped [M]."""
        return self.failed | self.stopped

    def fail(self, m, error):
        self.failed[m] = True
        warnings.warn(f"dqn: member {m}'s environment failed and the member stops: {error!r}", RuntimeWarning)

    def reset(self, members=None, obs=None):
        """First observations [M, D] of a new episode of `members` (a bool mask [M]; default: every
        member), `obs` kept for the others (default zeros); inactive members are not reset."""
        obs = np.zeros((len(self.envs), self.obs_dim)) if obs is None else obs.copy()
        members = ~self.inactive if members is None else members & ~self.inactive
        for m in np.flatnonzero(members):
            seed, self.first_seeds[m] = self.first_seeds[m], None
            try:
                obs[m] = self.envs[m].reset(seed=seed)[0]
            except Exception as error:   # any error of one member's environment: isolate it
                self.fail(m, error)
        return obs

    def step(self, actions, rows, obs):
        """Step the members in `rows` with actions [M]; returns (next obs [M, D] (obs where not
        stepped), rewards [M], terminated [M], truncated [M]). A member that fails leaves `rows`."""
        obs = obs.copy()
        reward = np.zeros(len(self.envs))
        terminated = np.zeros(len(self.envs), dtype=bool)
        truncated = np.zeros(len(self.envs), dtype=bool)
        for m in np.flatnonzero(rows):
            try:
                obs[m], reward[m], terminated[m], truncated[m], _ = self.envs[m].step(int(actions[m]))
            except Exception as error:   # any error of one member's environment: isolate it
                self.fail(m, error)
                rows[m] = False
        return obs, reward, terminated, truncated

    def state_dict(self):
        """Between episodes an environment's future lies in its random generator (each reset redraws
        the rest), and the members' fates in which failed or stopped."""
        return {"generators": [generator_state(env.unwrapped.np_random) for env in self.envs],
                "first_seeds": list(self.first_seeds), **arrays_state(self, ("failed", "stopped"))}

    def load_state_dict(self, state):
        for env, saved in zip(self.envs, state["generators"], strict=True):
            env.unwrapped.np_random = generator_from(saved)
        self.first_seeds = list(state["first_seeds"])
        load_arrays(self, state, ("failed", "stopped"))
