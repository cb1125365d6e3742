"""Whole figures: the wall time of main.py launches, split into the phases main.py records.

    python benchmarks/figure_time.py [--only TEXT ...] [--repeat N] [--out DIR] [--results DIR]

Launches `main.py` as a user does (a subprocess, a fresh RESULTS_DIR each time) on the quick profile
of every experiment YAML that has one, and on Fig. 3e at paper scale; `--only` keeps the launches
whose name (e.g. `fig3e paper`, `interference/fig3a quick`) contains one of the texts.
Each launch's phases are read from the run.json files it wrote (launcher.Timings; a prerequisite run
by the launch counts to it). `wall` is measured from outside, interpreter start and exit included;
`exit` is the part main.py's own record leaves out (interpreter start and teardown). Writes
figure_time.csv (one row per launch) and figure_time.md (per config: the median of each column over
the repeats, and the fastest wall) into --out (default: the current folder).
"""
import argparse
import csv
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
PAPER = [("target_alignment/fig3e paper", ROOT / "experiments" / "target_alignment" / "fig3e.yaml", None)]
PHASES = ["setup", "ray_start", "scheduling", "compute", "collection", "shutdown", "other"]
COLUMNS = ["launch", "repeat", "status", "wall", *PHASES, "exit", "compute_trials"]


def launches(only=()):
    """(name, YAML, profile) of every quick profile and of the paper-scale figures, filtered by `only`."""
    import yaml
    found = [(f"{path.parent.name}/{path.stem} quick", path, "quick")
             for path in sorted((ROOT / "experiments").glob("*/*.yaml"))
             if "quick" in ((yaml.safe_load(path.read_text()) or {}).get("profiles") or {})] + PAPER
    return [launch for launch in found if not only or any(text in launch[0] for text in only)]


def time_launch(path, profile, results):
    """Run main.py on the YAML (quietly, RESULTS_DIR=`results`); its measured wall and recorded phases."""
    command = [sys.executable, "main.py", "-c", str(path), "--quiet", *(["--profile", profile] if profile else [])]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "RESULTS_DIR": str(results)},
                          capture_output=True, text=True)
    wall = time.perf_counter() - began
    records = [json.loads(p.read_text()) for p in Path(results).glob("*/*/*/run.json")]
    phases = {name: sum(r.get("timings", {}).get(name, 0.0) for r in records)
              for name in [*PHASES, "wall", "compute_trials"]}
    status = "complete" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
    return {"status": status, "wall": wall, **phases, "exit": wall - phases.pop("wall")}


def table(rows):
    """The markdown table: per launch the median of each column over its repeats, and the fastest wall."""
    lines = ["| launch | wall (min / median) | " + " | ".join(PHASES) + " | exit |",
             "|---|---|" + "---|" * (len(PHASES) + 1)]
    for name in dict.fromkeys(row["launch"] for row in rows):
        mine = [row for row in rows if row["launch"] == name]
        median = {key: statistics.median(row[key] for row in mine) for key in ["wall", *PHASES, "exit"]}
        failed = "" if all(row["status"] == "complete" for row in mine) else " (failed)"
        lines.append(f"| {name}{failed} | {min(row['wall'] for row in mine):.1f} / {median['wall']:.1f} | "
                     + " | ".join(f"{median[key]:.1f}" for key in [*PHASES, "exit"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", default=(), metavar="TEXT", help="launches whose name contains TEXT")
    parser.add_argument("--repeat", type=int, default=1, help="launches of each config (default 1)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for figure_time.csv and .md")
    parser.add_argument("--results", type=Path, help="keep the runs under this folder (default: a temporary one)")
    args = parser.parse_args(argv)
    chosen = launches(args.only)
    if not chosen:
        print(f"no launch matches {' '.join(args.only)}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        base = args.results or Path(scratch)
        for name, path, profile in chosen:
            for repeat in range(args.repeat):
                base.mkdir(parents=True, exist_ok=True)
                folder = tempfile.mkdtemp(prefix=f"{name.replace('/', '_').replace(' ', '-')}-{repeat}-", dir=base)
                row = {"launch": name, "repeat": repeat, **time_launch(path, profile, folder)}
                rows.append(row)
                print(f"{name} #{repeat}: {row['wall']:.1f} s wall, {row['status']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "figure_time.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    (args.out / "figure_time.md").write_text(table(rows))
    print(table(rows), end="")
    return 0 if all(row["status"] == "complete" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
