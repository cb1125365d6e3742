"""The claims of Fig. 4k (FIGURES.md: dqn), decided from the rows of fig4k.yaml: the episode reward
(the running mean of the last 200 returns) at each (rule, environment)'s best stable lr."""
from claims import Claim, at_best_lr, gap, lowest, member_means
from experiments.dqn.figures import ENV, LR, RUN, with_reward

EARLY = 1000       # episodes: the published CartPole curves have BP ahead until ≈1,600–1,700


def per_seed(rows):
    """Each run's mean reward over all episodes and over the first 1,000, by (part, rule, env, lr,
    seed); (rule, env, lr) where a member diverged or its environment failed are left out."""
    data = with_reward(rows)
    data = data[~data.groupby(["rule", ENV, LR])["unstable"].transform("any")]
    return member_means(data, {"all": lambda r: r, "early": lambda r: r[r["iteration"] < EARLY]},
                     keys=RUN[:-1], metric="reward")


def at_best(means, part):
    """Per (rule, env): `part`'s mean reward at the lr with the highest mean reward over all episodes."""
    return at_best_lr(-means.loc["all"], means.loc[part], by=[ENV])


def pc_above_bp(means):
    """The smallest over the environments of PC − BP best-lr mean reward."""
    best = at_best(means, "all")
    return lowest(-gap(best, env) for env in sorted(set(best.index.get_level_values(ENV))))


CLAIMS = [
    Claim("fig4k.pc_above_bp", "PC learns to control better than BP in all three environments",
          "smallest over the environments of PC − BP mean episode reward, best lr each", pc_above_bp, (0, None),
          paper="Acrobot ≈−105 vs ≈−170, CartPole ≈415 vs ≈335, MountainCar ≈−185 vs ≈−198 (late)", quick=False,
          note="the quick profile's 400 CartPole episodes end long before PC overtakes BP", config="dqn/fig4k",
          per_seed=per_seed),
    Claim("fig4k.pc_above_bp_cartpole", "PC learns to control CartPole better than BP (the CartPole part of "
          "the claim above, from the paper-scale CartPole run)",
          "PC − BP mean CartPole episode reward, best lr each", pc_above_bp, (0, None),
          paper="CartPole ≈415 vs ≈335 (late)", quick=False,
          note="the quick profile's 400 CartPole episodes end long before PC overtakes BP",
          config="dqn/fig4k@cartpole", per_seed=per_seed),
    Claim("fig4k.early_bp_ahead", "Early on CartPole BP is ahead of PC (the published curves, read exactly)",
          "BP − PC mean episode reward over the first 1,000 CartPole episodes, best lr each",
          lambda means: gap(at_best(means, "early"), "CartPole-v1"), (0, None),
          paper="at 1,000 episodes BP ≈73 vs PC ≈32; PC overtakes at ≈1,700", config="dqn/fig4k@cartpole",
          per_seed=per_seed),
]
