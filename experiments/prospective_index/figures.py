"""Figures of the prospective index: per hidden layer for the two weight schedules, and vs depth for
both rules in the Fig. 3e setting."""
import matplotlib.pyplot as plt
import seaborn as sns

from analysis_utils import RULE_MARKERS, RULE_ORDER, Comparison, Panel, rule_label

SCHEDULES = {"w'": "w' (one weight step at 100)", "w*": "w* (weight steps 100..199, x frozen)"}


def by_layer(df, keys):
    """The prospective_index_<l> columns as rows: `keys`, layer l (0-based hidden layer), PI."""
    long = df.melt(id_vars=keys, value_vars=[c for c in df if c.startswith("prospective_index_")],
                   var_name="layer", value_name="prospective_index").dropna(subset=["prospective_index"])
    return long.assign(layer=long["layer"].str.rsplit("_", n=1).str[1].astype(int))


def schedule_of(df):
    """w' where the weights learn at one listed step, w* where they learn over a range of steps."""
    return df["pc.update_p_at.range"].isna().map({True: "w'", False: "w*"})


def prospective_index_layers(df):
    """PI per hidden layer, one marker per seed, hue = weight schedule (the published strip plot)."""
    data = by_layer(df.assign(schedule=schedule_of), ["schedule", "seed"])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    sns.stripplot(data=data.assign(Schedule=data["schedule"].map(SCHEDULES)), x="layer", y="prospective_index",
                  hue="Schedule", hue_order=list(SCHEDULES.values()), marker="D", size=9, alpha=0.45,
                  jitter=0.15, ax=ax)
    ax.set(xlabel="hidden layer l", ylabel="prospective index")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), fontsize="small", frameon=False)   # below the points
    grouped = data.groupby(["schedule", "layer"])["prospective_index"]
    comparisons = [Comparison(f"w* mean at layer {l}", v, "≈1.00") for (s, l), v in grouped.mean().items() if s == "w*"]
    comparisons += [Comparison(f"w' min at layer {l}", v, "≥0.97, falling slightly with depth")
                    for (s, l), v in grouped.min().items() if s == "w'"]
    source = data.sort_values(["schedule", "layer", "seed"]).reset_index(drop=True)
    return [Panel("prospective_index_layers", fig, source, comparisons)]


def prospective_index_depth(df):
    """The PI averaged over a net's hidden layers, one dot per seed vs depth, hue and marker = rule."""
    data = by_layer(df.rename(columns={"model.num_layers": "num_layers"}), ["rule", "num_layers", "seed"])
    per_seed = data.groupby(["rule", "num_layers", "seed"])["prospective_index"].mean().reset_index()
    per_seed = rule_label(per_seed)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sns.scatterplot(data=per_seed, x="num_layers", y="prospective_index", hue="Rule", hue_order=RULE_ORDER,
                    style="Rule", style_order=RULE_ORDER, markers=RULE_MARKERS, alpha=0.8, ax=ax)
    ax.set(xlabel="number of layers", ylabel="prospective index (mean over hidden layers)")
    means = per_seed.groupby(["Rule", "num_layers"])["prospective_index"].mean()
    comparisons = [Comparison(f"{rule} mean at L={depth}", value, "–")   # the paper has no such panel
                   for (rule, depth), value in means.items()]
    source = data.sort_values(["rule", "num_layers", "seed", "layer"]).reset_index(drop=True)
    return [Panel("prospective_index_depth", fig, source, comparisons)]
