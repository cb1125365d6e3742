"""The claims of the fear-conditioning panels (FIGURES.md: fear_conditioning), decided from the rows
of fear_conditioning.yaml: each rule's seed means mapped to the rats' group means by k·v + b, at the
lr triple that fits best (refitted in every seed batch)."""
import numpy as np

from claims import Claim, by_key, level, lowest
from experiments.fear_conditioning.figures import GROUPS, LRS, MAIN_INIT_STD, load_data, tidy

RATS = load_data().groupby("group")["fear_to_N"].mean()[GROUPS].to_numpy()


def per_seed(rows):
    """Each run's fear to N at test, by (rule, init_std, lr triple, group, seed)."""
    return tidy(rows).set_index(["rule", "init_std", *LRS, "group", "seed"])["fear_to_N"]


def fitted(means, rule, init_std=MAIN_INIT_STD):
    """The rule's fitted fear to N per group [groups, batches] at its best-fitting lr triple."""
    values = by_key(means.loc[(rule, init_std)], "group", GROUPS)              # triples × batches × groups
    centred = values - values.mean(-1, keepdims=True)
    norm = (centred ** 2).sum(-1)
    scale = np.where(norm > 0, (centred * (RATS - RATS.mean())).sum(-1) / np.where(norm > 0, norm, 1), 0)
    offset = RATS.mean() - scale * values.mean(-1)
    fits = scale[..., None] * values + offset[..., None]
    best = np.argmin(((fits - RATS) ** 2).sum(-1), axis=0)                   # per batch
    return fits[best, np.arange(means.shape[1])].T


def recovery(rule, init_std=MAIN_INIT_STD):
    """Fitted fear to N after extinguishing L (LN+,L−) minus without (LN+)."""
    return lambda means: fitted(means, rule, init_std)[2] - fitted(means, rule, init_std)[1]


def overshadowing(means):
    """PC's fitted fear to N after N+ minus after LN+."""
    return fitted(means, "pc")[0] - fitted(means, "pc")[1]


CONFIG = "fear_conditioning/fear_conditioning"
CLAIMS = [
    Claim("fear_conditioning.pc_overshadowing", "PC: the light overshadows the noise (less fear of N after LN+ than N+)",
          "PC's fitted N+ − LN+", overshadowing, (0, None), paper="≈19 (45 vs 26; rats 18.5)", seeds=8,
          config=CONFIG, per_seed=per_seed),
    Claim("fear_conditioning.pc_recovery", "PC: extinguishing the light brings the fear of the noise back",
          "PC's fitted (LN+,L−) − LN+", recovery("pc"), (0, None), paper="≈16 (42 vs 26; rats 17.3)", seeds=8,
          config=CONFIG, per_seed=per_seed),
    Claim("fear_conditioning.bp_no_recovery", "BP cannot recover: extinguishing L leaves N's pathway unchanged",
          "|BP's fitted (LN+,L−) − LN+| (below 0.5)", lambda means: abs(recovery("bp")(means)), (None, 0.5),
          paper="0 (34.5 vs 34.5)", seeds=8, config=CONFIG, per_seed=per_seed),
    Claim("fear_conditioning_init_std.pc_recovery", "PC's recovery is robust over the init_std of the readout",
          "smallest PC recovery over init_std, refitted per init_std",
          lambda means: lowest(recovery("pc", std)(means) for std in sorted(set(level(means, "init_std")))),
          (0, None), paper="robust over init_std ∈ {0.01, 0.05, 0.1, 0.5}", seeds=8, config=CONFIG,
          per_seed=per_seed),
]
