"""Regenerate a paper figure from an experiment's results.

    python analysis_v1.py -c experiments/<exp>/<config>.yaml [--profile quick] [-o key=value] [--out DIR]

Loads the run's tidy table into pandas, calls the figure function the YAML names
(`analysis.figure`), writes <panel>.png/.pdf and source_data/<panel>.csv (file names carry
`-<profile>` for non-default profiles), and prints the key numbers beside the paper's values
(also written to <panel>-summary.txt).
"""
import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from analysis_utils import load_results, set_style  # noqa: E402
from utils import ConfigError, import_attribute, load_experiment, run_dir  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True, help="experiment YAML or <exp>/<config>")
    parser.add_argument("--profile", help="the profile the run used, e.g. quick")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="output folder (default: experiments/<exp>/figures)")
    return parser.parse_args(argv)


def write_panel(panel, out, profile):
    """Write one panel's figure (PNG, PDF), source data (CSV) and summary; returns the summary text."""
    stem = panel.name + (f"-{profile}" if profile else "")
    (out / "source_data").mkdir(parents=True, exist_ok=True)
    panel.figure.savefig(out / f"{stem}.png", dpi=150, bbox_inches="tight")
    panel.figure.savefig(out / f"{stem}.pdf", bbox_inches="tight", metadata={"CreationDate": None})
    panel.source_data.to_csv(out / "source_data" / f"{stem}.csv", index=False)
    lines = [f"{panel.name}: {c.quantity}: ours {c.ours:.3f}, paper {c.paper}" for c in panel.comparisons]
    text = "\n".join(lines) or f"{panel.name}: (no numbers to compare)"
    (out / f"{stem}-summary.txt").write_text(text + "\n")
    return text


def main(argv=None):
    args = parse_args(argv)
    try:
        experiment = load_experiment(args.config, args.profile, args.override)
        if experiment.doc["analysis"] is None:
            raise ConfigError(f"{experiment.path}: analysis.figure: missing; name the figure function")
        figure_fn = import_attribute(experiment.doc["analysis"]["figure"], "analysis.figure")
        df = load_results(run_dir(experiment))
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    set_style()
    out = Path(args.out) if args.out else experiment.path.parent / "figures"
    for panel in figure_fn(df):
        print(write_panel(panel, out, args.profile))
        print(f"  -> {out / panel.name}{'-' + args.profile if args.profile else ''}.png", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
