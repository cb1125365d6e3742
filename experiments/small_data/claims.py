"""The claims of Fig. 4h (FIGURES.md: small_data), decided from the rows of fig4h.yaml."""
from claims import Claim, best_lr_means, gap

N = "data.train_per_class"


def gap_at(pick):
    """BP − PC min test error (best lr each) at the smallest (`pick` = min) or largest N."""
    return lambda rows: gap(best_lr_means(rows, how="min", by=[N]), getattr(rows[N], pick)())


CLAIMS = [
    Claim("fig4h.scarce_data", "With little data PC learns better than BP",
          "BP − PC min test error at the smallest N, best lr each", gap_at("min"), (0, None),
          paper="0.020 (0.248 vs 0.268 at N = 60)", config="small_data/fig4h"),
    Claim("fig4h.plenty_of_data", "With plenty of data BP learns better than PC",
          "PC − BP min test error at the largest N, best lr each", lambda rows: -gap_at("max")(rows),
          (0, None), paper="0.017 (0.145 vs 0.128 at N = 6000)", config="small_data/fig4h"),
]
