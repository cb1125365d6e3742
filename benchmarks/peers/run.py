"""Side by side with PCX: the project's PC step and PCX's on the same work, in fresh processes.

    python benchmarks/peers/run.py [--cases a b c] [--repeats 3] [--steps plain fused]
                                   [--pcx-python PATH] [--no-pin] [--out benchmarks/measured/peers.md]

One command: it creates PCX's own virtual environment the first time (benchmarks/peers/.venv-pcx,
from requirements-pcx.txt; PCX and JAX are never the project's dependencies), writes each case's
work (initial weights, batches, settings) once, then runs every case on every side in a fresh
process per run, the sides alternating (project, PCX, project, PCX, ...; the order flips each
round), `--repeats` times unpinned and as often pinned to one core (both sides on core 0). Each run
reports the CPU-seconds and the wall time of the whole case (after its compilation, which is
reported apart) and its final weights; the table gives min and median, the ratio project / PCX of
the medians, and how far the final weights of the two sides are apart.

Cases (the same PC on both sides: value nodes on the pre-activations, T energy evaluations per
batch, T-1 moves of the value nodes with the discounted inference rate, then one SGD step of the
weights; float32; one thread each):
  a  MLP 784-128-128-10 tanh, batch 64, T = 20: one epoch of 4,992 MNIST digits (78 batches)
  b  the same at batch 1: 500 digits
  c  27 packed members (3 seeds x 9 lrs) of a 64-wide 10-layer linear net, batch 1, T = 128,
     100 updates on random N(0, 1) inputs and targets
MNIST comes from $DATA_DIR (data_utils; `/work/shared/tools/fetch_datasets.sh DEST` or the
project's download); without it cases a and b use random inputs of the same shapes (and say so).

Equivalence: besides the timed float32 runs (whose weights also differ where E_k and E_(k-1) tie
within float32 rounding, flipping a discount), each case's first 3 batches run once in float64 on
both sides: the weights must agree to 1e-9 (relative to their largest), i.e. the two sides compute
the same function.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
import data_utils  # noqa: E402
import network  # noqa: E402

CASES = {
    "a": dict(sizes=[784, 128, 128, 10], activation="tanh", bias=True, members=1, batch=64, batches=78,
              T=20, lr=[1e-3], data="mnist"),
    "b": dict(sizes=[784, 128, 128, 10], activation="tanh", bias=True, members=1, batch=1, batches=500,
              T=20, lr=[1e-2], data="mnist"),
    "c": dict(sizes=[64] * 11, activation="identity", bias=False, members=27, batch=1, batches=100, T=128,
              lr=list(np.geomspace(1e-4, 3e-3, 9)) * 3, seeds=[0] * 9 + [1] * 9 + [2] * 9, data="random"),
}
INFERENCE_LR, DISCOUNT = 0.1, 0.5
EQUIVALENCE_BATCHES, EQUIVALENCE_TOL = 3, 1e-9


def pcx_python(path):
    """The PCX environment's python, created with its pinned requirements if missing."""
    if path:
        return Path(path)
    env = HERE / ".venv-pcx"
    python = env / "bin" / "python"
    if not python.exists():
        print(f"creating PCX's environment in {env} (once)", flush=True)
        venv.create(env, with_pip=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", HERE / "requirements-pcx.txt"], check=True)
    return python


def digits(count):
    """(inputs [count, 784] in [0, 1], one-hot targets [count, 10]) of the first MNIST training
    digits, or random ones of the same shapes when MNIST is not at hand; and which."""
    try:
        images = data_utils.load_dataset("mnist", "train")
    except (OSError, ValueError):
        g = torch.Generator().manual_seed(0)
        labels = torch.randint(0, 10, (count,), generator=g)
        return torch.rand(count, 784, generator=g), torch.eye(10)[labels], "random (MNIST not found)"
    return images.x[:count], torch.eye(10)[images.y[:count]], "MNIST"


def work(case, dtype, batches=None):
    """The case's arrays for both sides ({name: numpy array}) and the data's description."""
    spec = CASES[case]
    members, batch, n = spec["members"], spec["batch"], batches or spec["batches"]
    seeds = spec.get("seeds", [0] * members)
    init = {"name": "torch_default"} if spec["bias"] else {"name": "xavier_normal", "gain": 1.0}
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    params = network.init_params(network.dense_shapes(spec["sizes"]), [init] * members, spec["bias"], generators)
    if spec["data"] == "mnist":
        x, y, source = digits(n * batch)
        s, t = x.view(n, 1, batch, -1), y.view(n, 1, batch, -1)
    else:
        g = torch.Generator().manual_seed(1)
        s = torch.randn(n, members, batch, spec["sizes"][0], generator=g)
        t = torch.randn(n, members, batch, spec["sizes"][-1], generator=g)
        source = "random N(0, 1)"
    arrays = {f"W{l}": w for l, w in enumerate(params.weights)}
    arrays.update({f"b{l}": b[:, 0] for l, b in enumerate(params.biases) if b is not None})
    arrays.update(s=s, t=t, inference_lr=torch.full((members,), INFERENCE_LR),
                  x_lr_discount=torch.full((members,), DISCOUNT), lr=torch.tensor(spec["lr"]))
    out = {k: v.to(dtype).numpy() for k, v in arrays.items()}
    out.update(T=np.array(spec["T"]), activation=np.array(spec["activation"]))
    return out, source


def run_side(command, pin):
    """Run one side in a fresh process (pinned to core 0 if `pin`); returns its report, with the
    machine's load average (1 minute) as it started."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        subprocess.run([str(c) for c in command] + [out], check=True, env=env,
                       preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None)
        return dict(json.loads(out.read_text()), load=load)


def commands(python_pcx, work_file, steps, weights_dir):
    """{side: command line} of the project's steps and PCX on one work file."""
    sides = {f"project ({step})": [sys.executable, HERE / "project_side.py", work_file, "--step", step,
                                   "--weights", weights_dir / f"{step}.npz"] for step in steps}
    sides["pcx"] = [python_pcx, HERE / "pcx_side.py", work_file, "--weights", weights_dir / "pcx.npz"]
    return sides


def max_difference(a_file, b_file):
    """max |a - b| over all weights, relative to the largest |a|."""
    a, b = np.load(a_file), np.load(b_file)
    diff = max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a.files)
    return diff / max(float(np.abs(a[k]).max()) for k in a.files)


def equivalence(case, python_pcx, steps, folder):
    """{side: relative weight difference to PCX} after EQUIVALENCE_BATCHES batches in float64."""
    arrays, _ = work(case, torch.float64, EQUIVALENCE_BATCHES)
    work_file = folder / f"{case}-float64.npz"
    np.savez(work_file, **arrays)
    weights = folder / f"{case}-float64"
    weights.mkdir(exist_ok=True)
    for command in commands(python_pcx, work_file, steps, weights).values():
        run_side(command, pin=False)
    return {step: max_difference(weights / "pcx.npz", weights / f"{step}.npz") for step in steps}


def measure(case, python_pcx, steps, repeats, pin, folder):
    """{side: [reports]} of `repeats` alternating rounds, and the data's description."""
    arrays, source = work(case, torch.float32)
    work_file = folder / f"{case}.npz"
    np.savez(work_file, **arrays)
    reports = {}
    for round_ in range(repeats):
        weights = folder / f"{case}-{round_}"
        weights.mkdir(exist_ok=True)
        sides = list(commands(python_pcx, work_file, steps, weights).items())
        for side, command in sides if round_ % 2 == 0 else sides[::-1]:
            report = run_side(command, pin)
            report["weights_vs_pcx"] = None
            reports.setdefault(side, []).append(report)
            print(f"case {case}{' pinned' if pin else ''} round {round_}: {side}: {report['cpu_s']:.2f} CPU-s, "
                  f"{report['wall_s']:.2f} s wall, compile {report['compile_s']:.1f} s, load {report['load']:.1f}",
                  flush=True)
        for step in steps:
            reports[f"project ({step})"][-1]["weights_vs_pcx"] = max_difference(weights / "pcx.npz",
                                                                               weights / f"{step}.npz")
    return reports, source


def table(results, equivalences, sources, note):
    """The markdown table of all cases."""
    lines = [f"# Side by side with PCX ({note})", "",
             "CPU-seconds and wall seconds of the whole case after compilation (min / median of the "
             "runs), the ratio project / PCX of the median CPU-seconds, the compilation (median, wall "
             "seconds: PCX's jit; the fused step's torch.compile or C kernel, from the persistent cache where it holds "
             "the shapes), and the largest weight difference to PCX relative to the largest weight "
             "(float32 runs: median; float64 equivalence run of 3 batches), and the load average (1 minute, "
             "min-max) as the side's runs started.", "",
             "| case | data | pinned | side | CPU-s min / median | wall min / median | ratio to PCX (CPU) | "
             "compile s | weights vs PCX float32 | float64 | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (case, pin), reports in results.items():
        pcx_cpu = statistics.median(r["cpu_s"] for r in reports["pcx"])
        for side, runs in reports.items():
            cpu = [r["cpu_s"] for r in runs]
            wall = [r["wall_s"] for r in runs]
            diffs = [r["weights_vs_pcx"] for r in runs if r.get("weights_vs_pcx") is not None]
            loads = [r["load"] for r in runs]
            step = side[len("project ("):-1] if side.startswith("project") else None
            lines.append(
                f"| {case} | {sources[case]} | {'core 0' if pin else 'no'} | {side} | {min(cpu):.2f} / "
                f"{statistics.median(cpu):.2f} | {min(wall):.2f} / {statistics.median(wall):.2f} | "
                f"{statistics.median(cpu) / pcx_cpu:.2f} | {statistics.median(r['compile_s'] for r in runs):.1f} | "
                f"{f'{statistics.median(diffs):.1e}' if diffs else ''} | "
                f"{f'{equivalences[case][step]:.1e}' if step else ''} | {min(loads):.1f}-{max(loads):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", nargs="*", default=["plain", "fused"], choices=["plain", "fused"])
    parser.add_argument("--pcx-python", help="a python with PCX installed (default: create benchmarks/peers/.venv-pcx)")
    parser.add_argument("--no-pin", action="store_true", help="skip the runs pinned to one core")
    parser.add_argument("--note", default=f"{os.cpu_count()} CPUs, load average at start "
                                          f"{os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "measured" / "peers.md"))
    args = parser.parse_args(argv)
    python_pcx = pcx_python(args.pcx_python)
    results, equivalences, sources = {}, {}, {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for case in args.cases:
            equivalences[case] = equivalence(case, python_pcx, args.steps, folder)
            print(f"case {case}: float64 weights vs PCX {equivalences[case]}", flush=True)
            for pin in ([False] if args.no_pin else [False, True]):
                results[case, pin], sources[case] = measure(case, python_pcx, args.steps, args.repeats, pin, folder)
    text = table(results, equivalences, sources, args.note)
    bad = {case: e for case, e in equivalences.items() if max(e.values()) > EQUIVALENCE_TOL}
    if bad:
        text += f"\n**Equivalence check failed** (float64 weights differ by more than {EQUIVALENCE_TOL}): {bad}\n"
    Path(args.out).write_text(text)
    print(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
