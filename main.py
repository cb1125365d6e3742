"""Run an experiment YAML as Ray Tune trials.

    python main.py -c experiments/<exp>/<config>.yaml [--profile quick] [-o key.path=value ...]
                   [--address ADDR] [--resume] [--quiet] [--progress-every SECONDS]
    python main.py -c <exp>/<config>             # the original shorthand
    python main.py -c ... --show-config          # the resolved config, defaults filled in; no run
    python main.py -c ... --dry-run              # check everything, show the trials and the packing,
                                                 # estimate time and memory here; no Ray, no run

Without an address (or RAY_ADDRESS) an embedded local Ray on loopback is started; under
`ray job submit` the job's cluster is used. Each launch writes a new run (Ray's trial folders,
rows.parquet, run.json with the resolved config) into the home
$RESULTS_DIR/<experiment>/<config>[-<profile>][+<overrides hash>]/ and becomes the home's current run
when all its trials complete (see results.py); earlier runs are kept. One launch at a time runs in a
home (a lock naming its pid). The launch itself: launch_plan.py (what runs, checked first),
launcher.py (the runs on Ray Tune), ray_session.py (Ray's start and shutdown).

Prerequisites: runs this one needs (the runs whose saved weights its members start from, and those
listed under `requires:`) are looked up first: a complete one is reused; a missing one is run first,
with its own profile, and said so. They are named <experiment>/<run name>: runs of the project's own
configs under experiments/ (launch_plan.py).

Data files missing on this machine are fetched with --download (never in a dry run), before any run.
SIGTERM stops a launch as Ctrl-C does.

Each run.json records `timings`: where the launch's wall time went, in phases (launcher.Timings).

Exit codes: 0 every trial of every run completed; 1 a trial failed or did not finish; 2 bad input or
environment, reported in one line before anything runs (nothing is changed).
"""
import time
STARTED = time.time()   # the launch's wall time counts from here, before the imports below

import argparse
import logging
import os
import sys

import deps   # the standard library only
try:
    from cli import add_config_options
    from ray_session import ray_is_up, start_ray, stop_on_sigterm
    from terminal import ReaderGone, printable
    from utils import ConfigError
except ModuleNotFoundError as missing:   # e.g. the system's python instead of the project's venv
    deps.exit_missing(missing, "main.py")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_config_options(parser)
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or local)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest run of this config (and of a missing prerequisite) "
                             "if it did not complete")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved config with every default filled in, and exit")
    parser.add_argument("--dry-run", action="store_true",
                        help="check everything, print the trials, members per trial and packing, and "
                             "estimate wall time and memory on this machine; starts no Ray, runs nothing")
    parser.add_argument("--download", action="store_true",
                        help="fetch data files missing on this machine from their official sources (checked "
                             "against their published MD5) before any run; not with --dry-run")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--progress-every", type=float, default=30.0, metavar="SECONDS",
                        help="when the output is not a terminal, a progress line this often (default 30)")
    return parser.parse_args(argv)


def main(argv=None, started=None):
    """The command line; `started` is when the launch began (default: now), for its timings."""
    started, had_ray = time.time() if started is None else started, ray_is_up()
    args = parse_args(argv)
    try:   # torch, Ray and pandas come with these: not before the arguments are read (--help needs none)
        import launch_plan
        import launcher
        import results
        from loader import show_config
    except ModuleNotFoundError as missing:
        deps.exit_missing(missing, "main.py")
    timings = launcher.Timings(start=started)
    say = (lambda line: None) if args.quiet else (lambda line: print(printable(line), flush=True))
    try:
        if args.download and args.dry_run:
            raise ConfigError("--download: not with --dry-run, which fetches and changes nothing (without the data, "
                              "it names the missing files)")
        steps = launch_plan.plan(args.config, args.profile, args.override, args.resume)
        if args.show_config:
            print(show_config(steps[-1].experiment), end="")
            return 0
        pending = {step.ref for step in steps if step.action != "reuse"}
        local = not (args.address or os.environ.get("RAY_ADDRESS"))
        for step in steps:
            if step.action != "reuse":
                if not args.dry_run:
                    results.ensure_free(step.home)
                launch_plan.prepare(step.experiment, pending, local, args.download)
        if args.dry_run:
            print(launch_plan.preview(steps))
            return 0
        if not local:   # a cluster that refuses this driver (e.g. no token) is reported before a run starts
            timings.setup_done()
            with timings.phase("ray_start"):
                start_ray(args.address, quiet=args.quiet)
        return launcher.launch(steps, args, say, timings, had_ray)
    except ConfigError as error:   # bad config, data, results or environment: before anything ran
        print(f"error: {printable(error)}", file=sys.stderr)
        return 2
    except launcher.RunError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:   # Ctrl-C before Tune took over, or a second one (the first stops Tune cleanly)
        print("interrupted: a run that started is left unfinished; --resume continues it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.stdout = ReaderGone(sys.stdout)
    stop_on_sigterm()
    code = main(started=STARTED)
    if not ray_is_up():
        # Everything is written and Ray is shut down: skip the interpreter's teardown of torch and
        # Ray's modules (about a second on 2 cores).
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)
