"""Heald et al. (2021) contextual motor adaptation as a closed-loop task (Fig. 5f).

A trial is a cue (1 or 2) and a force field: "+", "-", or none (a null trial in a washout, or a
channel trial). Input: the one-hot cue; target: the one-hot field, "+" -> (1, 0), "-" -> (0, 1), none
-> (0, 0). Every trial is one learning step (batch 1) of the member's rule.

Session of one participant (FIGURES.md, sensorimotor):
  training, 24 blocks, each:
    channel pair (cue 1 and cue 2, random order)
    32 field trials: 4 repeats of a shuffled set of 4 x "1+" and 4 x "2-"
    channel pair
    washout of 14, 16 or 18 null trials, half per cue, shuffled (lengths drawn without replacement
      from a pool refilled when empty)
    triplet: channel cue 1, exposure "1+" or "2-" (drawn per block), channel cue 1
    washout of 6, 8 or 10 (its own pool)
    triplet with the other exposure
  test, 8 blocks, each: the 4 triplet types 1+, 2+, 1-, 2- in random order, each preceded by a
    washout of 2, 4 or 6 drawn from a third pool that persists over the 32 draws.
Single-trial learning of a triplet: the change of (o+ - o-) from its first to its second channel
trial, each read (learner.predict) before that trial's own learning, signed toward the exposure's
field (negated for "-"); averaged per type over the test blocks. Only these four numbers are logged.

Original-code deviation (Config.training_triplets = "washout"): the authors' code presented, in
place of each training triplet, the preceding washout again (2,016 training trials, no training
triplets). The random draws are the same in both modes, so the two share participants.

One participant per member; all draws come from a generator seeded from the member's seed alone
(utils.derive_seed(seed, "schedule")), so a seed is the same participant in every hyperparameter
configuration, for both rules, however the members are packed.
"""
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field
import torch

from tasks import Task, TaskConfig
from utils import derive_seed

# The test's triplet types in the order of the logged columns single_trial_learning_0..3:
# (name, exposure cue 0/1, exposure field +1/-1). Also the order of the data's index (README).
TYPES = (("1+", 0, +1), ("2+", 1, +1), ("1-", 0, -1), ("2-", 1, -1))

# Trial kinds (Schedule.kinds).
CHANNEL, FIELD, NULL, TRIPLET_CHANNEL, TRIPLET_EXPOSURE = range(5)
KIND_NAMES = ("channel", "field", "null", "triplet_channel", "triplet_exposure")


class Pool:
    """Washout lengths drawn uniformly without replacement; the pool refills when it runs empty."""

    def __init__(self, lengths, generator):
        self.lengths, self.generator, self.left = list(lengths), generator, []

    def draw(self):
        if not self.left:
            self.left = list(self.lengths)
        i = int(torch.randint(len(self.left), (1,), generator=self.generator))
        return self.left.pop(i)


@dataclass
class Schedule:
    """One participant's session as arrays over trials: cue (0/1), field (+1, -1, 0), kind, and the
    index of the first channel trial of each test triplet, `test_triplets` [test_blocks, 4] in TYPES
    order (the second channel trial is 2 later). `training_trials` is the length of the training phase."""
    cues: np.ndarray
    fields: np.ndarray
    kinds: np.ndarray
    test_triplets: np.ndarray
    training_trials: int


def participant(cfg, generator):
    """The session of one participant drawn from `generator` (a torch.Generator)."""
    cues, fields, kinds = [], [], []

    def add(cue, field, kind):
        cues.append(cue), fields.append(field), kinds.append(kind)

    def shuffled(items):
        return [items[i] for i in torch.randperm(len(items), generator=generator).tolist()]

    def washout(length):
        trials = shuffled([0] * (length // 2) + [1] * (length - length // 2))
        for cue in trials:
            add(cue, 0, NULL)
        return trials

    def triplet(cue, field):
        add(0, 0, TRIPLET_CHANNEL), add(cue, field, TRIPLET_EXPOSURE), add(0, 0, TRIPLET_CHANNEL)

    long_pool = Pool(cfg["training_washouts"], generator)
    short_pool = Pool(cfg["triplet_washouts"], generator)
    for _ in range(cfg["training_blocks"]):
        for cue in shuffled([0, 1]):
            add(cue, 0, CHANNEL)
        for _ in range(cfg["field_repeats"]):
            for cue, field in shuffled([(0, +1)] * 4 + [(1, -1)] * 4):
                add(cue, field, FIELD)
        for cue in shuffled([0, 1]):
            add(cue, 0, CHANNEL)
        exposures = [(0, +1), (1, -1)]            # "1+" and "2-"
        if int(torch.randint(2, (1,), generator=generator)):
            exposures.reverse()
        for pool, (cue, field) in zip((long_pool, short_pool), exposures):
            trials = washout(pool.draw())
            if cfg["training_triplets"] == "triplet":
                triplet(cue, field)
            else:                                 # the original code: the washout again
                for cue_again in trials:
                    add(cue_again, 0, NULL)
    training_trials = len(cues)
    test_pool = Pool(cfg["test_washouts"], generator)
    test_triplets = np.zeros((cfg["test_blocks"], len(TYPES)), dtype=np.int64)
    for block in range(cfg["test_blocks"]):
        for k in torch.randperm(len(TYPES), generator=generator).tolist():
            washout(test_pool.draw())
            test_triplets[block, k] = len(cues)
            triplet(TYPES[k][1], TYPES[k][2])
    return Schedule(np.array(cues), np.array(fields), np.array(kinds), test_triplets, training_trials)


def schedule_generator(seed):
    """The generator of a participant's draws: from the seed alone."""
    return torch.Generator().manual_seed(derive_seed(seed, "schedule"))


def single_trial_learning(first, second, signs):
    """Per member and type, the signed change of the cue-1 read-out d = o+ - o- over a triplet,
    averaged over the test blocks.

    first, second: d read before the first and before the second channel trial, [M, blocks, 4];
    signs: +1 for "+" exposures, -1 for "-" ([4]). Returns [M, 4].
    """
    return ((second - first) * signs).mean(dim=1)


class HealdTriplets(Task):
    """The Heald et al. (2021) session (see the module docstring); one iteration is the whole session."""

    class Config(TaskConfig):
        training_blocks: int = Field(24, ge=0, description="training blocks")
        field_repeats: int = Field(4, ge=0, description="shuffled sets of 4 x '1+' and 4 x '2-' per training block")
        training_washouts: list[int] = Field([14, 16, 18], min_length=1,
                                             description="washout lengths before a block's first triplet (even)")
        triplet_washouts: list[int] = Field([6, 8, 10], min_length=1,
                                            description="washout lengths between a block's two triplets (even)")
        test_blocks: int = Field(8, ge=1, description="test blocks, each with the 4 triplet types in random order")
        test_washouts: list[int] = Field([2, 4, 6], min_length=1,
                                         description="washout lengths before each test triplet (even)")
        training_triplets: Literal["triplet", "washout"] = Field(
            "triplet", description="triplet: the described experiment; washout: the original code, "
                                   "which re-ran the preceding washout in place of each training triplet")

    @staticmethod
    def dims(cfg):
        return 2, 2

    def __init__(self, cfg, seeds, device, dtype):
        for key in ("training_washouts", "triplet_washouts", "test_washouts"):
            if any(n < 0 or n % 2 for n in cfg[key]):
                raise ValueError(f"{key}: washouts are half per cue, so lengths must be even and >= 0")
        # The schedule depends on the seed alone: draw and store it once per distinct seed (a trial
        # packs thousands of members but only the grid's few seeds), and pick each member's row.
        distinct = list(dict.fromkeys(seeds))
        schedules = [participant(cfg, schedule_generator(seed)) for seed in distinct]
        self.schedules = [schedules[distinct.index(seed)] for seed in seeds]
        self.rows = torch.tensor([distinct.index(seed) for seed in seeds], device=device)      # [M]
        lengths = [len(s.cues) for s in schedules]
        n = max(lengths)
        cues = np.zeros((len(distinct), n), dtype=np.int64)
        fields = np.zeros((len(distinct), n), dtype=np.int64)
        active = np.zeros((len(distinct), n), dtype=bool)   # False: padding after a shorter session
        for row, (s, length) in enumerate(zip(schedules, lengths)):
            cues[row, :length], fields[row, :length], active[row, :length] = s.cues, s.fields, True
        active_t = torch.as_tensor(active, dtype=dtype)[:, :, None]
        fields_t = torch.as_tensor(fields)
        self.seed_inputs = (torch.eye(2, dtype=dtype)[torch.as_tensor(cues)] * active_t).to(device)   # [S, N, 2]
        self.seed_targets = torch.stack([fields_t == 1, fields_t == -1], -1).to(device, dtype)       # [S, N, 2]
        # Padding trials (zero input and target) change nothing in a bias-free net; a zero error
        # mask makes them no-ops in any net.
        self.seed_active = active_t[:, :, :, None].to(device)                                      # [S, N, 1, 1]
        self.length, self.first_padded = n, min(lengths)
        self.test_start = min(s.training_trials for s in schedules)
        triplets = torch.as_tensor(np.stack([s.test_triplets for s in self.schedules]))   # [M, blocks, 4]
        self.first_reads = (triplets - self.test_start).to(device)   # index among the test-phase reads
        self.signs = torch.tensor([sign for _, _, sign in TYPES], dtype=dtype, device=device)

    def trial(self, i):
        """Every member's trial i: input [M, 1, 2], target [M, 1, 2], error mask [M, 1, 1] or None."""
        mask = self.seed_active[self.rows, i] if i >= self.first_padded else None
        return self.seed_inputs[self.rows, i:i + 1], self.seed_targets[self.rows, i:i + 1], mask

    @property
    def inputs(self):
        """All trials' inputs per member [M, N, 2] (for inspection; `play` takes them trial by trial)."""
        return self.seed_inputs[self.rows]

    @property
    def targets(self):
        return self.seed_targets[self.rows]

    def play(self, iteration, learner):
        if iteration > 0:
            raise ValueError("a session is one iteration: set stop.training_iteration to 1")
        reads = []                                       # d = o+ - o- before each test-phase trial
        for i in range(self.length):
            s, t, mask = self.trial(i)
            if i >= self.test_start:
                o = learner.predict(s)[:, 0]                              # [M, 2]
                reads.append(o[:, 0] - o[:, 1])
            learner.learn(s, t, mask=mask)
        reads = torch.stack(reads, 1)                                     # [M, test-phase trials]
        flat = self.first_reads.flatten(1)
        first = reads.gather(1, flat).view_as(self.first_reads)
        second = reads.gather(1, flat + 2).view_as(self.first_reads)
        return {"single_trial_learning": single_trial_learning(first, second, self.signs)}
