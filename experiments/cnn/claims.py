"""The claims of Fig. 4i (FIGURES.md: cnn), decided from the rows of fig4i.yaml."""
from claims import LR, Claim, PerRun, best_lr, gap, level, lowest

MIN = PerRun(how="min")
DIGITS = "on the 8×8 digits with the small quick CNN BP's min test error is the lower one (by 0.029)"


CLAIMS = [
    Claim("fig4i.every_lr", "PC trains the CNN to a lower test error than BP at every learning rate",
          "smallest over lrs of BP − PC min test error", lambda means: lowest(gap(means, lr) for lr in level(means.loc["pc"], LR)),
          (0, None), paper="≈0.01–0.02 (PC ≈0.287–0.31, BP ≈0.31–0.326)", quick=False, note=DIGITS,
          config="cnn/fig4i", per_seed=MIN),
    Claim("fig4i.best_lr", "PC's best CNN is better than BP's", "BP − PC min test error, best lr each",
          lambda means: gap(best_lr(means)), (0, None), paper="≈0.023 (0.287 vs 0.31)", quick=False, note=DIGITS,
          config="cnn/fig4i", per_seed=MIN),
]
