"""What a DQN trial carries per member from one episode to the next, kept as a checkpoint can hold it
(tensors and plain numbers: a checkpoint is loaded weights-only): numpy arrays and generators, the
observation normaliser (RunningNorm) and the exploration streams (Uniforms)."""
import numpy as np
import torch


def arrays_state(owner, names):
    """Numpy attributes of `owner` as tensors (copies), for a checkpoint."""
    return {name: torch.from_numpy(np.array(getattr(owner, name))) for name in names}


def load_arrays(owner, state, names):
    """Set numpy attributes of `owner` from `arrays_state`'s tensors (copies)."""
    for name in names:
        setattr(owner, name, state[name].numpy().copy())


def generator_state(generator):
    """A numpy generator's state as plain numbers (PCG64, numpy's and gymnasium's default)."""
    return generator.bit_generator.state


def generator_from(state):
    """A numpy generator continuing from `generator_state`."""
    generator = np.random.Generator(np.random.PCG64())
    generator.bit_generator.state = state
    return generator


class RunningNorm:
    """Per member and dimension: running mean and population std of the observations (Welford).

    count [M], mean [M, D], m2 [M, D] (sum of squared deviations); float64 numpy.
    """

    STATE = ("count", "mean", "m2")

    def __init__(self, members, dims):
        self.count = np.zeros(members)
        self.mean = np.zeros((members, dims))
        self.m2 = np.zeros((members, dims))

    def update(self, x, rows):
        """Add observation x[m] [M, D] to member m's statistics where rows[m] [M bool]."""
        self.count += rows
        delta = np.where(rows[:, None], x - self.mean, 0.0)
        self.mean += delta / np.maximum(self.count, 1)[:, None]
        self.m2 += delta * (x - self.mean)

    @property
    def std(self):
        return np.sqrt(self.m2 / np.maximum(self.count, 1)[:, None])

    def __call__(self, x):
        """(x - mean) / std, and only x - mean where std is 0: [M, D]."""
        centred = x - self.mean
        std = self.std
        return np.divide(centred, std, out=centred, where=std > 0)

    def state_dict(self):
        return arrays_state(self, self.STATE)

    def load_state_dict(self, state):
        load_arrays(self, state, self.STATE)


class Uniforms:
    """Per member, a stream of uniform pairs drawn in blocks from its own generator; members advance
    only when they draw, so what a member sees never depends on the others."""

    def __init__(self, generators, width=2, block=1024):
        self.generators, self.width, self.block = generators, width, block
        self.values = np.stack([g.random((block, width)) for g in generators])    # [M, block, width]
        self.next = np.zeros(len(generators), dtype=np.int64)
        self.rows = np.arange(len(generators))

    def draw(self, rows):
        """One pair per member [M, width]; only the members in `rows` (bool [M]) advance."""
        for m in np.flatnonzero(rows & (self.next == self.block)):
            self.values[m] = self.generators[m].random((self.block, self.width))
            self.next[m] = 0
        out = self.values[self.rows, np.minimum(self.next, self.block - 1)]
        self.next += rows
        return out

    def state_dict(self):
        return {"generators": [generator_state(g) for g in self.generators], **arrays_state(self, ("values", "next"))}

    def load_state_dict(self, state):
        self.generators = [generator_from(g) for g in state["generators"]]
        load_arrays(self, state, ("values", "next"))
