"""Regenerate a paper figure from an experiment's results.

    python analysis_v1.py -c experiments/<exp>/<config>.yaml [--profile quick] [-o key=value]
                          [--out DIR] [--partial]

Finds the run home from the same -c/--profile/-o as main.py, reads its current (complete) run: the
tidy rows and run.json, whose resolved config names the figure function (`analysis.figure`). Calls
it, writes <panel>.png/.pdf and source_data/<panel>.csv (file names carry `-<profile>` for
non-default profiles and the overrides' hash for runs with -o), and prints the key numbers beside
the paper's values (also written to <panel>-summary.txt). Neither the experiment nor the training
code is loaded.
"""
import argparse
import sys
from pathlib import Path

try:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from analysis_utils import Panel, set_style
    import results
    from utils import ConfigError, import_attribute, last_line, resolve_config_path
except ModuleNotFoundError as missing:   # e.g. the system's python instead of the project's venv
    import deps
    deps.exit_missing(missing, "analysis_v1.py")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", required=True, help="experiment YAML or <exp>/<config>")
    parser.add_argument("--profile", help="the profile the run used, e.g. quick")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                        help="the overrides the run used")
    parser.add_argument("--out", help="output folder (default: experiments/<exp>/figures)")
    parser.add_argument("--partial", action="store_true",
                        help="without a complete run, plot what the newest run has")
    return parser.parse_args(argv)


def find_run(config, profile, overrides, partial):
    """The run to plot: the home's current run; without one, the newest run if `partial`."""
    home = results.run_home(config, profile, overrides)
    current, found = results.current_run(home), results.runs(home)
    status = results.read_info(found[-1])["status"] if found else results.COMPLETE
    if status != results.COMPLETE:
        missing = results.unfinished_trials(found[-1])
        state = f"the newest run {found[-1]} is {status}, {len(missing)} unfinished trials: {summarise(missing)}"
        if current:
            print(f"note: {state}; plotting the current run", file=sys.stderr)
        elif partial:
            print(f"warning: {state}; plotting what it has", file=sys.stderr)
            return found[-1]
        else:
            raise FileNotFoundError(f"{home.name}: no complete run yet; {state}; "
                                    "continue it with main.py --resume or plot it with --partial")
    if current is None:
        raise FileNotFoundError(f"no results at {home}; run main.py with the same -c/--profile/-o first")
    return current


def summarise(labels, shown=4):
    more = f"; and {len(labels) - shown} more" if len(labels) > shown else ""
    return "; ".join(labels[:shown]) + more


def figure_panels(run, df):
    """The panels of the figure function that run.json's resolved config names (`analysis.figure`),
    drawn from the rows; a ConfigError if it names no figure function."""
    info = results.read_info(run)
    where = f"{run / results.INFO_FILE} (from {info['config_file']}): analysis.figure"
    spec = (info["resolved"].get("analysis") or {}).get("figure")
    if spec is None:
        raise ConfigError(f"{where}: missing; name the figure function (module:attribute)")
    function = import_attribute(spec, where)
    if not callable(function):
        raise ConfigError(f"{where}: {spec} is not a function")
    try:
        panels = function(df)
    except (KeyError, ValueError) as error:   # e.g. the rows lack a column the figure plots
        raise ConfigError(f"{run / results.ROWS_FILE}: {spec} cannot plot these rows ({last_line(error)}); "
                          f"its columns: {summarise(list(map(str, df.columns)), 8)}") from None
    if not (isinstance(panels, list) and all(isinstance(p, Panel) for p in panels)):
        raise ConfigError(f"{where}: {spec} returned {type(panels).__name__}, "
                          "not a list of analysis_utils.Panel")
    return panels


def write_panel(panel, out, stem):
    """Write one panel's figure (PNG, PDF), source data (CSV) and summary; returns the summary text."""
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
        config = resolve_config_path(args.config)
        run = find_run(config, args.profile, args.override, args.partial)
        df = results.load_rows(run)
        if df.empty:
            raise FileNotFoundError(f"{run}: no trial has reported yet")
        set_style()
        panels = figure_panels(run, df)
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else config.parent / "figures"
    suffix = (f"-{args.profile}" if args.profile else "") + results.override_tag(args.override)
    print(f"results: {run}")
    for panel in panels:
        try:
            print(write_panel(panel, out, panel.name + suffix))
        except OSError as error:
            print(f"error: --out {out}: cannot write the figures ({error.strerror or error}); "
                  "give a folder you can write", file=sys.stderr)
            return 2
        print(f"  -> {out / panel.name}{suffix}.png", flush=True)
        pyplot.close(panel.figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
