"""The claims of Fig. 4h (FIGURES.md: small_data), decided from the rows of fig4h.yaml."""
from claims import LR, Claim, PerRun, best_lr, gap, level

N = "data.train_per_class"
MIN = PerRun(how="min", keys=("rule", N, LR))


def gap_at(pick):
    """BP − PC min test error (best lr each) at the smallest (`pick` = min) or largest N."""
    return lambda means: gap(best_lr(means, [N]), getattr(level(means, N), pick)())


CLAIMS = [
    Claim("fig4h.scarce_data", "With little data PC learns better than BP",
          "BP − PC min test error at the smallest N, best lr each", gap_at("min"), (0, None),
          paper="0.020 (0.248 vs 0.268 at N = 60)", config="small_data/fig4h", per_seed=MIN),
    Claim("fig4h.plenty_of_data", "With plenty of data BP learns better than PC",
          "PC − BP min test error at the largest N, best lr each", lambda means: -gap_at("max")(means),
          (0, None), paper="0.017 (0.145 vs 0.128 at N = 6000)", quick=False,
          note="the quick profile's largest N (130 digits per class) is not plenty: PC is still 0.012 lower",
          config="small_data/fig4h", per_seed=MIN),
]
