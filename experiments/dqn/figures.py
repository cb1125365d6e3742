"""Fig. 4k: deep Q-learning, the episode reward over training at each (environment, rule)'s best lr.

The paper's "episode reward" is the running mean of the last 200 episode returns (fewer in the first
199 episodes), computed here from the task's per-episode `episode_return`. The best lr of an
(environment, rule) is the one whose running mean, averaged over all episodes and then over seeds, is
highest; an lr where a member diverged or its environment failed is eligible only when every lr has
such a member. Curves: every 100th episode at 10,000 episodes (one point in a hundred of the run), the
mean over seeds with its 68% bootstrap interval (about +-1 SEM), as the original's plots.
"""
import math

import matplotlib.pyplot as plt
import seaborn as sns

from analysis_utils import Comparison, Panel, RULE_ORDER, rule_label

LR, ENV = "optimizer.lr", "data.env"
RUN = ["rule", ENV, LR, "seed"]
WINDOW = 200                      # episodes in the running mean
LATE = 0.1                        # "late in training": the last 10% of the episodes
ENVS = ["Acrobot-v1", "CartPole-v1", "MountainCar-v0"]     # the published panel's order
# FIGURES.md, read off the published panel and the authors' per-lr plots: (PC, BP).
PAPER_LATE = {"Acrobot-v1": ("≈-100…-115", "≈-160…-180"), "CartPole-v1": ("≈400–430", "≈300–370"),
              "MountainCar-v0": ("≈-180…-190", "≈-197…-200")}
PAPER_PEAK = {"CartPole-v1": ("≈480", "≈370")}
# Early training, read off the published CartPole curves pixel by pixel (every 100th episode):
# the episode reward at an episode, and the first plotted episode where it reaches 100.
PAPER_EARLY = {"CartPole-v1": {500: ("≈22", "≈47"), 1000: ("≈32", "≈73"), 1500: ("≈78", "≈93")}}
PAPER_REACH = {"CartPole-v1": ("≈1,700", "≈1,600")}
REACH = 100                       # the reward level whose first episode is compared
BAND = ("ci", 68)                 # the original's error band: 68% bootstrap interval of the mean
# The best lrs in units of 1e-4 (a summary prints three decimals): PC 0.005, BP 0.0005 on CartPole, ...
PAPER_LR = {"Acrobot-v1": ("10", "10"), "CartPole-v1": ("50", "5"), "MountainCar-v0": ("50", "5–10")}


def with_reward(df):
    """The rows with `reward`: each run's running mean of its last WINDOW episode returns."""
    df = df.sort_values(RUN + ["iteration"])
    df = df.assign(reward=df.groupby(RUN, dropna=False)["episode_return"]
                   .transform(lambda r: r.rolling(WINDOW, min_periods=1).mean()))
    unstable = df["diverged"].astype(bool) | (df["env_failed"] > 0 if "env_failed" in df else False)
    df = df.assign(unstable=unstable)
    return df.assign(unstable=df.groupby(RUN, dropna=False)["unstable"].transform("any"))


def lr_table(df):
    """Per (rule, env, lr): the mean over seeds of each seed's mean reward over all episodes, and
    whether any of its members diverged or failed."""
    runs = df.groupby(RUN, dropna=False).agg(reward=("reward", "mean"), unstable=("unstable", "any"))
    return (runs.groupby(["rule", ENV, LR]).agg(reward=("reward", "mean"), unstable=("unstable", "any"))
            .reset_index())


def best_lrs(table):
    """The chosen lr per (rule, env): the highest mean reward among the stable lrs (or among all
    lrs where none is stable)."""
    def pick(group):
        stable = group[~group["unstable"]]
        candidates = stable if len(stable) else group
        return candidates.loc[candidates["reward"].idxmax(), LR]
    return {key: pick(group) for key, group in table.groupby(["rule", ENV])}


def best_lr_rows(df):
    """(rows of every (rule, env)'s best lr with `reward`, {(rule, env): lr}, the lr table)."""
    df = with_reward(df)
    table = lr_table(df)
    chosen = best_lrs(table)
    keep = [chosen.get((rule, env)) == lr for rule, env, lr in zip(df["rule"], df[ENV], df[LR])]
    return df[keep], chosen, table


def plotted(best):
    """The points of the curves: every episode whose index is a multiple of 1/100 of the run."""
    episodes = best["iteration"].max() + 1
    stride = max(1, round(episodes / 100))
    return best[best["iteration"] % stride == 0]


def fig4k(df):
    return curves(df) + lr_panel(df)


def envs_of(df):
    return [e for e in ENVS if e in set(df[ENV])] + sorted(set(df[ENV]) - set(ENVS))


def per_env(data, envs, x, ylabel, **line):
    """One panel per environment of `data` (columns env, Rule, x, reward): a line per rule.
    Returns the figure and [(axis, the environment's rows)]."""
    fig, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 4.5), squeeze=False)
    order = [r for r in RULE_ORDER if r in set(data["Rule"])]
    out = []
    for ax, env in zip(axes[0], envs):
        here = data[data["env"] == env]
        sns.lineplot(data=here, x=x, y="reward", hue="Rule", hue_order=order, style="Rule",
                     style_order=order, ax=ax, **line)
        ax.set(title=f"Env = {env}", ylabel=ylabel if ax is axes[0][0] else "")
        out.append((ax, here))
    return fig, out


def curves(df):
    """Fig. 4k: the episode reward over episodes at each (env, rule)'s best lr."""
    best, chosen, _ = best_lr_rows(df)
    points = rule_label(plotted(best)).rename(columns={ENV: "env", LR: "lr", "iteration": "episode"})
    envs = envs_of(df)
    fig, _ = per_env(points, envs, "episode", "Episode Reward", errorbar=BAND, seed=0)
    fig.tight_layout()
    source = points[["env", "rule", "lr", "seed", "episode", "episode_return", "reward"]].reset_index(drop=True)
    return [Panel("fig4k", fig, source, comparisons(best, chosen, envs))]


def seed_mean_curve(best, rule, env):
    """The mean over seeds of the reward per episode, of one (rule, env)'s best lr."""
    rows = best[(best["rule"] == rule) & (best[ENV] == env)]
    return rows.groupby("iteration")["reward"].mean()


def first_reaching(curve, level):
    """The first episode at which `curve` (indexed by episode) is at least `level`; NaN if never."""
    reached = curve.index[curve >= level]
    return float(reached[0]) if len(reached) else math.nan


def early_comparisons(curve, env, rule, k):
    """The reward at the published early episodes the run reached, and the first episode at REACH."""
    out = [Comparison(f"{env} {rule.upper()} reward at episode {episode}", curve.loc[episode], paper[k])
           for episode, paper in PAPER_EARLY.get(env, {}).items() if episode in curve.index]
    if env in PAPER_REACH:
        out.append(Comparison(f"{env} {rule.upper()} first episode with reward >= {REACH}",
                              first_reaching(curve, REACH), PAPER_REACH[env][k]))
    return out


def comparisons(best, chosen, envs):
    out = []
    for env in envs:
        late = {}
        for rule in ("pc", "bp"):
            curve = seed_mean_curve(best, rule, env)
            if curve.empty:
                continue
            k = RULE_ORDER.index(rule.upper())
            out += early_comparisons(curve, env, rule, k)
            late[rule] = curve.iloc[-max(1, int(len(curve) * LATE)):].mean()
            out.append(Comparison(f"{env} {rule.upper()} late reward (last 10% of episodes)", late[rule],
                                  PAPER_LATE.get(env, ("–", "–"))[k]))
            if env in PAPER_PEAK:
                out.append(Comparison(f"{env} {rule.upper()} peak reward", curve.max(), PAPER_PEAK[env][k]))
            out.append(Comparison(f"{env} {rule.upper()} best lr (x 1e-4)", chosen[(rule, env)] * 1e4,
                                  PAPER_LR.get(env, ("–", "–"))[k]))
        if len(late) == 2:
            out.append(Comparison(f"{env} PC - BP late reward", late["pc"] - late["bp"], "> 0"))
    return out


def lr_panel(df):
    """The selection behind Fig. 4k: the mean episode reward over all episodes for every lr."""
    table = lr_table(with_reward(df))
    data = rule_label(table).rename(columns={ENV: "env", LR: "lr"})
    envs = envs_of(df)
    fig, panels = per_env(data, envs, "lr", "mean episode reward", markers=True, dashes=False)
    for ax, here in panels:
        unstable = here[here["unstable"]]
        ax.scatter(unstable["lr"], unstable["reward"], s=250, facecolors="none", edgecolors="black",
                   label="a member diverged" if len(unstable) else None, zorder=3)
        ax.legend(fontsize="x-small")
        ax.set(xscale="log")
    fig.tight_layout()
    source = data[["env", "rule", "lr", "reward", "unstable"]]
    unstable = [Comparison(f"{env} {rule.upper()} lrs with a diverged or failed member",
                           float(data[(data["env"] == env) & (data["rule"] == rule)]["unstable"].sum()), "–")
                for env in envs for rule in ("pc", "bp")]
    return [Panel("fig4k_lrs", fig, source, unstable)]

