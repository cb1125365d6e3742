"""Every benchmark in one command: writes each one's markdown table (and CSV where it has one) into a
folder, and an index of them.

    python benchmarks/run.py [--out benchmarks/measured/<machine>] [--max-members 4096] [--skip NAME ...]

In order (each is also a command of its own, run with this interpreter):
  step_cost    PC step, BP step and their bare batched matmuls, paper shapes x members, CPU and GPU
  op_overhead  where a tiny network's PC step spends its time on the CPU
  cnn_cost     the Fig. 4i CNN per batch and per epoch (CIFAR-10 shapes)
  dqn          the Fig. 4k DQN per environment step and per episode, and the grid's estimate
  figures      whole-figure wall time of every quick profile and of Fig. 3e at paper scale, split
               into Ray start, scheduling, compute and collection (the longest: about 20 minutes)
The machine should be otherwise idle: the numbers are wall-clock times.
"""
import argparse
from datetime import datetime, timezone
from pathlib import Path
import platform
import subprocess
import sys

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def commands(out, max_members):
    """name -> (command line, the markdown file its output is written to)."""
    python = sys.executable
    return {
        "step_cost": [python, HERE / "step_cost.py", "--max-members", str(max_members), "--out", out / "step_cost.csv"],
        "op_overhead": [python, HERE / "op_overhead.py"],
        "cnn_cost": [python, HERE / "cnn_cost.py", "--batches", "2"],
        "dqn": [python, "-m", "experiments.dqn.benchmark"],
        "figures": [python, HERE / "figure_time.py", "--out", out],
    }


def machine():
    import torch
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {gpu}; "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "measured" / platform.node())
    parser.add_argument("--max-members", type=int, default=4096)
    parser.add_argument("--skip", nargs="*", default=[], help="names of benchmarks not to run")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    index = [f"# Benchmarks, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "", machine(), "",
             f"`python benchmarks/run.py {' '.join(argv or sys.argv[1:])}`", ""]
    for name, command in commands(args.out, args.max_members).items():
        if name in args.skip:
            continue
        print(f"== {name}", flush=True)
        table = args.out / f"{name}.md"
        with open(table, "w") as f:
            done = subprocess.run([str(c) for c in command], cwd=ROOT, stdout=f, text=True)
        print(table.read_text(), flush=True)
        index.append(f"- [{name}]({table.name})" + ("" if done.returncode == 0 else f" (failed: exit {done.returncode})"))
    (args.out / "README.md").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
