"""The claims of Fig. 3e and its Extended Data variants (FIGURES.md: target_alignment), decided from
the rows of fig3e.yaml, depth_tp.yaml, depth_activation.yaml and depth_init.yaml."""
from claims import Claim, gap, level, lowest

L = "model.num_layers"
SETTING = ("model.activation", "model.output_activation")


def alignment(rows):
    """Each run's target alignment, by (rule, L, seed)."""
    return rows.set_index(["rule", L, "seed"])["target_alignment"]


def failed(rows):
    """1 where a run's step moved the output away from the target (TA < 0), by (rule, L, seed)."""
    return (alignment(rows) < 0).astype(float)


def by_setting(keys):
    """Each run's target alignment, by (*keys, rule, L, seed)."""
    return lambda rows: rows.set_index([*keys, "rule", L, "seed"])["target_alignment"]


def with_init(name, keys=()):
    """Each run's target alignment with weights initialised by `name`, by (*keys, rule, L, seed)."""
    return lambda rows: by_setting(keys)(rows[rows["model.init.name"] == name])


XAVIER, ORTHOGONAL = with_init("xavier_uniform"), with_init("orthogonal", ["optimizer.lr"])


def pc_above_bp(means):
    """The smallest PC − BP mean TA over the depths > 1 (and any settings before the rule level)."""
    outer = means.index.names[:means.index.names.index("rule")]
    groups = means.groupby(level=outer) if outer else [((), means)]
    return lowest(-gap(group.droplevel(outer) if outer else group, depth)
                  for _, group in groups for depth in sorted(set(level(means, L)) - {1}))


def deepest(means, rule):
    return means.loc[(rule, level(means, L).max())]


def tp_at(*depths):
    return lambda means: lowest(means.loc[("tp", depth)] for depth in depths)


CLAIMS = [
    Claim("fig3e.one_layer", "With one weight layer PC and BP take the same step",
          "|PC − BP| mean TA at L = 1 (below 1e-4)", lambda means: abs(gap(means, 1)), (None, 1e-4),
          paper="0 (both 1.0)", seeds=27, config="target_alignment/fig3e", per_seed=alignment),
    Claim("fig3e.pc_above_bp", "At every depth PC's step points nearer the target than BP's",
          "smallest PC − BP mean TA over L > 1", pc_above_bp, (0, None),
          paper="PC mostly 0.8–1.0, BP ≈0.8 → 0.3", seeds=27, config="target_alignment/fig3e", per_seed=alignment),
    Claim("fig3e.pc_high", "PC's target alignment stays high at every depth",
          "smallest PC mean TA over L > 1", lambda means: lowest(means.loc[("pc", d)] for d in set(level(means, L)) - {1}),
          (0.8, None), paper="mostly 0.8–1.0", seeds=27, config="target_alignment/fig3e", per_seed=alignment),
    Claim("fig3e.bp_falls", "BP's target alignment falls with depth", "BP's mean TA at the deepest L",
          lambda means: deepest(means, "bp"), (None, 0.5), paper="≈0.3–0.4 (median, L = 20–25)", seeds=27,
          config="target_alignment/fig3e", per_seed=alignment),
    Claim("ta_depth_tp.tp_shallow", "Target propagation moves the output straight to the target at L = 1 and 2",
          "TP's lower mean TA at L = 1, 2", tp_at(1, 2), (0.999, None), paper="1.0", config="target_alignment/depth_tp",
          per_seed=alignment),
    Claim("ta_depth_tp.tp_deep", "Target propagation reaches the target at L = 5 (as published)",
          "TP's mean TA at L = 5", tp_at(5), (0.999, None), paper="1.0 (3 seeds)", quick=False,
          note="the quick profile's TP runs fail at L = 5 too", config="target_alignment/depth_tp", per_seed=alignment),
    Claim("ta_depth_tp.tp_fails_often", "At L = 4 and 5 TP's pseudo-inverse often blows the step up (TA ≈ −1):"
          " a frequent failure, not a one-off", "share of TP runs with TA < 0 at L = 4, 5",
          lambda means: (means.loc[("tp", 4)] + means.loc[("tp", 5)]) / 2, (0.1, None),
          paper="1 of 3 seeds at L = 4 (FIGURES.md, 30 seeds: 10/30 at L = 4, 13/30 at L = 5)",
          config="target_alignment/depth_tp", per_seed=failed),
    Claim("ta_depth_tp.pc_above_bp", "PC aligns better than BP at L = 2, 4, 5", "smallest PC − BP mean TA over L > 1",
          pc_above_bp, (0, None), paper="PC ≈0.99 → 0.90, BP 0.92 → 0.82", config="target_alignment/depth_tp",
          per_seed=alignment),
    Claim("ta_depth_activation.pc_above_bp", "With identity or tanh, PC aligns better than BP at every depth > 1",
          "smallest PC − BP mean TA over activations and L > 1", pc_above_bp, (0, None),
          paper="tanh: PC 0.93–0.73, BP 0.76–0.50", config="target_alignment/depth_activation",
          per_seed=by_setting(SETTING)),
    Claim("ta_depth_init.orthogonal", "With orthogonal weights both rules align perfectly at every depth",
          "smallest mean TA of any orthogonal (rule, lr, L)", lambda means: means.min(), (0.999, None),
          paper="1.0", config="target_alignment/depth_init", per_seed=ORTHOGONAL),
    Claim("ta_depth_init.xavier_pc_above_bp", "With Xavier weights PC aligns better than BP at every depth > 1",
          "smallest PC − BP mean TA over L > 1 (Xavier-uniform)",
          pc_above_bp, (0, None), paper="PC ≈0.9–0.99, BP 0.92 → 0.39", config="target_alignment/depth_init",
          per_seed=XAVIER),
    Claim("ta_depth_init.xavier_bp_falls", "With Xavier weights BP's alignment falls to ≈0.4 at L = 15",
          "BP's mean TA at the deepest L (Xavier-uniform)",
          lambda means: deepest(means, "bp"), (None, 0.5), paper="≈0.39", config="target_alignment/depth_init",
          per_seed=XAVIER),
]
