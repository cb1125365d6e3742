"""The claims of Fig. 3a and 3d (FIGURES.md: interference), decided from the rows of fig3a.yaml and
fig3d.yaml: the lowest output 1 (the right output, which BP's correction of output 0 drags down)."""
from claims import LR, Claim, PerRun, gap, level, lowest

DIP = PerRun(metric="output_1", how="min")
PLOTTED = (0.1, 0.05, 0.01, 0.005)          # fig3d runs lr 0.5 too, but does not plot it


def dip_gap_per_lr(means):
    """PC − BP lowest output 1 at each plotted lr (BP's dip is the deeper one: > 0)."""
    return [-gap(means, lr) for lr in level(means.loc["pc"], LR) if lr in PLOTTED]


def dip_spread(means):
    """The larger over the rules of the range of the dip over the plotted lrs."""
    plotted = means[[lr in PLOTTED for lr in level(means, LR)]]
    spread = plotted.groupby(level="rule").max() - plotted.groupby(level="rule").min()
    return spread.max()


CLAIMS = [
    Claim("fig3a.less_interference", "PC barely disturbs the output that was already right; BP drags it down",
          "PC − BP lowest output 1 (lr 0.2)", lambda means: -gap(means, 0.2), (0, None),
          paper="≈0.17 (PC ≈0.93, BP ≈0.76)", seeds=1, config="interference/fig3a", per_seed=DIP),
    Claim("fig3a.pc_dip", "PC's right output stays above 0.9", "PC's lowest output 1 (lr 0.2)",
          lambda means: means.loc[("pc", 0.2)], (0.9, None), paper="≈0.93", seeds=1,
          config="interference/fig3a", per_seed=DIP),
    Claim("fig3d.every_lr", "The interference is a property of the rule: PC dips less at every lr",
          "smallest over the plotted lrs of PC − BP lowest output 1", lambda means: lowest(dip_gap_per_lr(means)),
          (0, None), paper="≈0.14 (PC ≈0.94, BP ≈0.79–0.80)", seeds=1, config="interference/fig3d", per_seed=DIP),
    Claim("fig3d.paths_coincide", "For every lr the paths coincide: the dip does not depend on the step size",
          "largest range over the plotted lrs of a rule's lowest output 1 (below 0.03)", dip_spread, (None, 0.03),
          paper="≈0.01 (BP 0.79–0.80)", seeds=1, config="interference/fig3d", per_seed=DIP),
]
