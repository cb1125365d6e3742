"""The claims of Fig. 4b and 4c (FIGURES.md: batch_size), decided from the rows of fig4bc.yaml."""
from claims import Claim, best_lr_means, gap, lr_means

B = "data.batch_size"


def gap_at_smallest_batch(rows):
    """BP − PC mean test error (best lr each) at the smallest batch size."""
    return gap(best_lr_means(rows, by=[B]), rows[B].min())


def gap_growth(rows):
    """The gap at the smallest batch size minus the gap at the largest."""
    means = best_lr_means(rows, by=[B])
    return gap(means, rows[B].min()) - gap(means, rows[B].max())


def smallest_gap_over_lrs_at_batch_1(rows):
    """At B = 1, the smallest over lrs of BP − PC min test error (no lr selection)."""
    means = lr_means(rows[rows[B] == 1], how="min")
    return min(gap(means, lr) for lr in means["pc"].index)


CLAIMS = [
    Claim("fig4b.small_batches", "With single-example batches PC learns better than BP",
          "BP − PC mean test error at B = 1, best lr each", gap_at_smallest_batch, (0, None),
          paper="0.016 (0.272 vs 0.288)", config="batch_size/fig4bc"),
    Claim("fig4b.gap_grows", "PC's advantage grows as the batch shrinks",
          "the B = 1 gap minus the largest batch's gap", gap_growth, (0, None),
          paper="0.016 (gap ≈0 at B = 64)", config="batch_size/fig4bc"),
    Claim("fig4c.every_lr", "At B = 1 PC is below BP at every learning rate",
          "smallest over lrs of BP − PC min test error at B = 1", smallest_gap_over_lrs_at_batch_1, (0, None),
          paper="≈0.01 (PC ≈0.196–0.203, BP ≈0.207–0.222)", config="batch_size/fig4bc"),
]
