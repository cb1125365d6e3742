"""An episode's staged transitions (Staging, numpy) and every member's replay buffer (ReplayBuffer,
tensors on the device that the staged transitions enter in one indexed write)."""
import numpy as np
import torch

from experiments.dqn.state import arrays_state, load_arrays


class Staging:
    """One episode's transitions of every member, [M, steps, ...] numpy, grown when an episode is longer."""

    def __init__(self, members, obs_dim, steps):
        self.s = np.zeros((members, steps, obs_dim))
        self.s_next = np.zeros((members, steps, obs_dim))
        self.action = np.zeros((members, steps), dtype=np.int64)
        self.reward = np.zeros((members, steps))
        self.done = np.zeros((members, steps))

    def put(self, k, rows, s, action, reward, s_next, done):
        """Step k of the members in `rows`."""
        if k == self.s.shape[1]:
            for name in ("s", "s_next", "action", "reward", "done"):
                array = getattr(self, name)
                setattr(self, name, np.concatenate([array, np.zeros_like(array)], axis=1))
        self.s[rows, k] = s[rows]
        self.s_next[rows, k] = s_next[rows]
        self.action[rows, k] = action[rows]
        self.reward[rows, k] = reward[rows]
        self.done[rows, k] = done[rows]


class ReplayBuffer:
    """Every member's most recent `capacity` transitions as tensors [M, capacity, ...] on the device."""
    TENSORS = ("s", "action", "reward", "s_next", "done")

    def __init__(self, members, capacity, obs_dim, device, dtype):
        self.capacity, self.device, self.dtype = capacity, device, dtype
        self.s = torch.zeros(members, capacity, obs_dim, dtype=dtype, device=device)
        self.s_next = torch.zeros(members, capacity, obs_dim, dtype=dtype, device=device)
        self.action = torch.zeros(members, capacity, dtype=torch.long, device=device)
        self.reward = torch.zeros(members, capacity, dtype=dtype, device=device)
        self.done = torch.zeros(members, capacity, dtype=dtype, device=device)
        self.size = np.zeros(members, dtype=np.int64)
        self.start = np.zeros(members, dtype=np.int64)      # where each member's next transition goes

    def store(self, staging, lengths):
        """Member m's first lengths[m] staged steps enter its buffer (oldest overwritten first)."""
        steps = np.arange(staging.s.shape[1])
        keep = (steps < lengths[:, None]) & (steps >= lengths[:, None] - self.capacity)
        member, step = np.nonzero(keep)                       # grouped by member, steps in order
        slot = torch.from_numpy((self.start[member] + step) % self.capacity).to(self.device)
        member_t = torch.from_numpy(member).to(self.device)
        for name in self.TENSORS:
            source = torch.from_numpy(getattr(staging, name)[member, step])
            getattr(self, name)[member_t, slot] = source.to(self.device, getattr(self, name).dtype)
        self.start = (self.start + lengths) % self.capacity
        self.size = np.minimum(self.size + lengths, self.capacity)

    def sample(self, generators, rows, updates, batch):
        """Batches of the members in `rows`: (s, action, reward, s_next, done), each [M, updates,
        batch, ...]; each batch drawn without replacement from the member's own buffer with its own
        generator. Members not in `rows` get slot 0 (their updates are masked out)."""
        index = np.zeros((len(generators), updates, batch), dtype=np.int64)
        for m in np.flatnonzero(rows):
            for u in range(updates):
                index[m, u] = generators[m].choice(self.size[m], batch, replace=False)
        index = torch.from_numpy(index).to(self.device)
        member = torch.arange(len(generators), device=self.device)[:, None, None]
        return tuple(getattr(self, name)[member, index] for name in self.TENSORS)

    def state_dict(self):
        return {**{name: getattr(self, name).cpu().clone() for name in self.TENSORS},
                **arrays_state(self, ("size", "start"))}

    def load_state_dict(self, state):
        for name in self.TENSORS:
            getattr(self, name).copy_(state[name])
        load_arrays(self, state, ("size", "start"))
