"""The claims of Fig. 6c (FIGURES.md: reversal), decided from the rows of fig6c.yaml: after a punished
trial the value of the option stayed with falls and that of the option switched to rises (the lines
cross), in the event-pooled means of a batch of seeds (the original's estimator)."""
import numpy as np

from claims import Claim
from experiments.reversal.stats import CELL_COLUMNS, PUBLISHED_SEEDS, member_totals

STAY, SWITCH = (("next_trial", False), ("at_punish", False)), (("next_trial", True), ("at_punish", True))


def sums_of(rule):
    """Each finite member's event sums and counts of the rule, by (column, seed)."""
    def per_seed(rows):
        totals = member_totals(rows[rows["rule"] == rule])
        totals = totals[~totals["diverged"]].set_index("seed")
        columns = sorted({CELL_COLUMNS[cell][i] for cell in (*STAY, *SWITCH) for i in (0, 2)})
        return totals[columns].stack().rename_axis(["seed", "column"]).swaplevel()
    return per_seed


def output_weight_size(rows):
    """Each finite member's rms output weight at the end of the session, by (rule, seed)."""
    totals = member_totals(rows)
    totals = totals[~totals["diverged"]].set_index(["rule", "seed"])
    return ((totals["weight_2_0"] ** 2 + totals["weight_2_1"] ** 2) / 2) ** 0.5


def change(means, cells):
    """The pooled change of a line from at punish to next trial (ratio of the seed-mean sums)."""
    (after, before) = (CELL_COLUMNS[cell] for cell in cells)
    return (means.loc[after[0]] - means.loc[before[0]]) / means.loc[after[2]]


def crossing_margin(means):
    """min(fall of the stay line, rise of the switch line): > 0 where the lines cross."""
    return np.minimum(-change(means, STAY), change(means, SWITCH))


CLAIMS = [
    Claim("fig6c.pc_crosses", "PC reproduces the crossing: after a punishment the stay line falls and the switch "
          "line rises", "min(stay fall, switch rise) of PC's pooled raw values", crossing_margin, (0, None),
          paper="stay 0.10 → −0.16, switch −0.08 → 0.00 (fitted)", seeds=PUBLISHED_SEEDS["pc"],
          config="reversal/fig6c", per_seed=sums_of("pc")),
    Claim("fig6c.bp_does_not_cross", "BP does not cross: both lines fall",
          "min(stay fall, switch rise) of BP's pooled raw values (below 0)", crossing_margin, (None, 0),
          paper="stay 0.07 → −0.10, switch −0.03 → −0.08 (fitted)", seeds=PUBLISHED_SEEDS["bp"], quick=False,
          note="BP crosses too with many seeds, at any scale (see the README)", config="reversal/fig6c",
          per_seed=sums_of("bp")),
    Claim("fig6c.pc_large_weights", "PC drives the output weights large, BP keeps them near their initial scale",
          "PC's mean rms output weight over BP's (above 3)", lambda means: means.loc["pc"] / means.loc["bp"],
          (3, None), paper="large vs near 0 (mechanism panels)", seeds=PUBLISHED_SEEDS["pc"], config="reversal/fig6c",
          per_seed=output_weight_size),
]
