"""Regenerate a paper figure from an experiment's results.

    python analysis_v1.py -c experiments/<exp>/<config>.yaml [--profile quick] [-o key=value]
                          [--out DIR] [--partial]
    python analysis_v1.py --report [--profile quick] [--out DIR]   # the reproduction report (report.py)

Finds the run home from the same -c/--profile/-o as main.py and reads its current (complete) run:
the tidy rows and run.json. The figure function is the experiment's own: the YAML's `analysis.figure`
(an experiments.<experiment>.<module>:<function> the project defines, checked by name before it is
imported), never a name read from the results. Calls it, writes <panel>.png/.pdf and
source_data/<panel>.csv (file names carry `-<profile>` for non-default profiles and the overrides'
hash for runs with -o), and prints the key numbers beside the paper's values (also written to
<panel>-summary.txt). The training code is not loaded.
"""
import argparse
import sys
from pathlib import Path

try:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from analysis_utils import Panel, set_style
    from cli import add_config_options
    import results
    from terminal import ReaderGone, last_line, printable
    from utils import ConfigError, about, experiment_attribute, load_document, resolve_config_path
except ModuleNotFoundError as missing:   # e.g. the system's python instead of the project's venv
    import deps
    deps.exit_missing(missing, "analysis_v1.py")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog="-c, --profile and -o name the run as main.py was given them")
    add_config_options(parser, required=False)
    parser.add_argument("--report", action="store_true",
                        help="the reproduction report of every experiment (report/REPORT.md, report/index.html)")
    parser.add_argument("--out", help="output folder (default: experiments/<exp>/figures; report/ for --report)")
    parser.add_argument("--partial", action="store_true",
                        help="without a complete run, plot what the newest run has")
    args = parser.parse_args(argv)
    if bool(args.config) == args.report:
        parser.error("give either -c CONFIG or --report")
    if args.report and (args.override or args.partial):
        parser.error("--report reads the current runs: no -o or --partial")
    return args


def figure_function(config, profile, overrides):
    """(name, function) of the experiment's figure: the `analysis.figure` of its YAML with this profile
    and these overrides, a function an experiment of the project defines."""
    with about(config):
        analysis = load_document(config, profile, overrides).get("analysis") or {}
        spec = analysis.get("figure") if isinstance(analysis, dict) else None
        if spec is None:
            raise ConfigError("analysis.figure: missing; name the figure function, "
                              "experiments.<experiment>.<module>:<function>")
        return spec, experiment_attribute(spec, "analysis.figure", "function")


def find_run(config, profile, overrides, partial):
    """The run to plot: the home's current run; without one, the newest run if `partial`."""
    home = results.run_home(config, profile, overrides)
    current = results.check_home(home)
    if current is not None:
        results.read_info(current)   # the record of what it ran must be readable
    try:
        newest, info = results.newest_run(home)
    except ConfigError as error:   # e.g. a damaged run.json: the current run may still be fine
        if current is None:
            raise
        print(f"note: {printable(error)}; plotting the current run", file=sys.stderr)
        return current
    if newest is not None and info["status"] != results.COMPLETE:
        missing = results.unfinished_trials(newest)
        state = f"the newest run {newest} is {info['status']}, {len(missing)} unfinished trials: {summarise(missing)}"
        if current:
            print(f"note: {state}; plotting the current run", file=sys.stderr)
        elif partial:
            print(f"warning: {state}; plotting what it has", file=sys.stderr)
            return newest
        else:
            raise FileNotFoundError(f"{home.name}: no complete run yet; {state}; "
                                    "continue it with main.py --resume or plot it with --partial")
    if current is None:
        raise FileNotFoundError(f"no results at {home}; run main.py with the same -c/--profile/-o first")
    return current


def summarise(labels, shown=4):
    more = f"; and {len(labels) - shown} more" if len(labels) > shown else ""
    return "; ".join(labels[:shown]) + more


def figure_panels(config, figure, run, df):
    """The panels the experiment's figure (name, function) draws from the run's rows."""
    spec, function = figure
    try:
        panels = function(df)
    except (KeyError, ValueError) as error:   # e.g. the rows lack a column the figure plots
        raise ConfigError(f"{run / results.ROWS_FILE}: {spec} cannot plot these rows ({last_line(error)}); "
                          f"its columns: {summarise(list(map(str, df.columns)), 8)}") from None
    if not (isinstance(panels, list) and all(isinstance(p, Panel) for p in panels)):
        raise ConfigError(f"{config}: analysis.figure: {spec} returned {type(panels).__name__}, "
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


def write_report(args):
    """The reproduction report (report.py); 0, or 2 with the reason on stderr."""
    import report
    try:
        md, page, panels = report.write(args.profile, args.out)
    except (ConfigError, OSError) as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return 2
    print(f"{len(panels)} panels, {sum(len(p.verdicts) for p in panels)} claims -> {md}, {page}")
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return write_report(args)
    try:
        config = resolve_config_path(args.config)
        figure = figure_function(config, args.profile, args.override)
        run = find_run(config, args.profile, args.override, args.partial)
        df = results.load_rows(run)
        if df.empty:
            raise FileNotFoundError(f"{run}: no trial has reported yet")
        set_style()
        panels = figure_panels(config, figure, run, df)
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else config.parent / "figures"
    suffix = (f"-{args.profile}" if args.profile else "") + results.override_tag(args.override)
    print(f"results: {run}")
    for panel in panels:
        try:
            print(write_panel(panel, out, panel.name + suffix))
        except OSError as error:
            print(f"error: --out {printable(out)}: cannot write the figures ({error.strerror or error}); "
                  "give a folder you can write", file=sys.stderr)
            return 2
        print(f"  -> {out / panel.name}{suffix}.png", flush=True)
        pyplot.close(panel.figure)
    return 0


if __name__ == "__main__":
    sys.stdout = ReaderGone(sys.stdout)
    sys.exit(main())
