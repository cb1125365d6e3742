"""What a launch will cost on this machine, measured before it starts (`main.py --dry-run`; no Ray).

Trials that differ only in packable values (seeds, learning rates, ...) cost the same, so each kind
of trial is measured once: its packed training is built as a trial builds it (engine.PackedTraining, with the
trial's data, threads and device; a pretrained init is replaced by a drawn one of the same shapes)
and run briefly, on the task's costliest iterations (tasks.Task.play_costliest: a DQN member's
episode at the step limit, with its updates; for other tasks, the iterations). The rule's learning steps are timed until a small budget is spent; after that a
step is only counted, so an iteration goes on cheaply to its end while the rest (the task's own
work, the evaluations) is timed for real. Per iteration

    seconds = (measured seconds outside the steps) + (steps) x (seconds per step),

averaged over the iterations that fit the budget (at least one), times the run's iterations, plus
the build and what the first step of each batch shape took beyond the others (with `pc.fused`, the
compilation, or its load from the cache). A run with `pc.fused` on a CPU is measured unfused as well, and the preview
says whether the fused step repays its compilation.
Memory: how much this process's resident memory grows while the trial is built and run (on a GPU,
torch's peak allocation), on top of a worker's own (this process's, torch and data loaded).

The wall time places the trials in grid order on the slots the machine has (CPUs / cpu per trial,
GPUs / gpu per trial), each free slot taking the next trial, as Tune's FIFO scheduler does. Ray's
start-up (seconds) and trials slowing each other down (shared memory bandwidth) are not included.
"""
from dataclasses import dataclass, replace
import gc
import json
import os
import time

import torch

import engine
import results
from progress import count, duration
from utils import trial_packs


@dataclass
class TrialCost:
    """The measured cost of one trial: seconds in all, bytes it adds to its worker (None: unknown),
    and of the seconds, those of compiling (pc.fused)."""
    seconds: float
    memory: int | None
    compile: float = 0.0


@dataclass
class Estimate:
    """A run's trials' costs (grid order) and what they add up to on this machine."""
    trials: list
    slots: int
    cpus: int
    gpus: int
    device: str
    worker: int | None
    wall: float
    memory: int | None
    measured_in: float
    unfused: "Estimate | None" = None   # the same run with pc.fused off, where it is on


def machine():
    """(CPUs this process may use, GPUs torch sees): what a local Ray offers the trials."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cpus, torch.cuda.device_count()


def slots(resources, trials, cpus, gpus):
    """How many trials run at once: as many as the CPUs and GPUs asked per trial allow."""
    at_once = trials
    for asked, have in ((resources["cpu"], cpus), (resources["gpu"], gpus)):
        if asked > 0:
            at_once = min(at_once, int(have // asked))
    return at_once


def makespan(seconds, slots):
    """Wall time of trials taken in order by `slots` workers, each taking the next when free."""
    free = [0.0] * max(slots, 1)
    for s in seconds:
        i = free.index(min(free))
        free[i] += s
    return max(free)


def resident():
    """This process's resident memory in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class StepTimer:
    """A rule's step that runs (and is timed) while less than `budget` seconds of steps were spent,
    and is only counted after that (the parameters then stay as they are). The first step of each
    batch shape warms up (with pc.fused it compiles that shape: a trial pays it once, e.g. for an
    epoch's last, smaller batch): its time is kept apart from the steps'."""

    def __init__(self, step, budget, sync):
        self.step, self.budget, self.sync = step, budget, sync
        self.times, self.warmups, self.shapes = [], [], set()
        self.skipped, self.inside, self.peak = 0, 0.0, resident()

    def __call__(self, params, optimizer, s, t, *args, **kwargs):
        start = time.perf_counter()
        shape = None if s is None else tuple(s.shape)
        warms_up = shape not in self.shapes
        if warms_up or not self.times or sum(self.times) < self.budget:
            self.shapes.add(shape)
            loss = self.step(params, optimizer, s, t, *args, **kwargs)
            self.sync()
            (self.warmups if warms_up else self.times).append(time.perf_counter() - start)
            self.peak = max(self.peak or 0, resident() or 0) or None
        else:
            loss = params.weights[0].new_zeros(params.weights[0].shape[0])
            self.skipped += 1
        self.inside += time.perf_counter() - start
        return loss

    @property
    def count(self):
        return len(self.times) + len(self.warmups) + self.skipped

    @property
    def per_step(self):
        timed = self.times or self.warmups
        return sum(timed) / len(timed) if timed else 0.0

    @property
    def warmup_extra(self):
        """What the warm-up steps took beyond later ones: compilations (pc.fused), paid once a trial."""
        return sum(max(0.0, w - self.per_step) for w in self.warmups) if self.times else 0.0


def measure_trial(members, iterations, threads, device, budget=0.25):
    """The cost of one trial of `members` run for `iterations` iterations on `threads` CPU threads
    and `device`, measured within about `budget` seconds of steps (and 4 x budget in all)."""
    members = [stand_in(member, device) for member in members]
    if any(fused(m) for m in members):
        torch._dynamo.reset()   # as in a fresh trial worker: traced again, compiled code from the cache
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = resident()
    try:
        start = time.perf_counter()
        training = engine.PackedTraining.build(members)
        sync()
        build = time.perf_counter() - start
        timer = StepTimer(training.learner.rule.step, budget, sync)
        training.learner.rule = replace(training.learner.rule, step=timer)
        outside, steps = [], []
        for iteration in range(iterations):
            begin, inside, count = time.perf_counter(), timer.inside, timer.count
            training.iterate(iteration, costliest=True)
            sync()
            outside.append(time.perf_counter() - begin - (timer.inside - inside))
            steps.append(timer.count - count)
            if time.perf_counter() - start > 4 * budget and timer.times:   # a step beside the warm-up
                break   # separates a compilation (the warm-up's extra) from the steps
        per_iteration = sum(o + n * timer.per_step for o, n in zip(outside, steps)) / len(outside)
        if device == "cuda":
            memory = torch.cuda.max_memory_allocated()
        else:
            memory = None if before is None else max(0, max(timer.peak or 0, resident() or 0) - before)
        del training
        return TrialCost(build + timer.warmup_extra + iterations * per_iteration, memory, timer.warmup_extra)
    finally:
        torch.set_num_threads(previous_threads)
        gc.collect()


def stand_in(member, device):
    """The member as the measurement runs it: on `device`, and with a pretrained init (whose run may
    not exist yet) replaced by drawn weights of the same shapes."""
    model = member["model"]
    if engine.is_pretrained(model["init"]):
        model = dict(model, init={"name": "xavier_normal", "gain": 1.0})
    return dict(member, model=model, device=device)


def kind(members):
    """Trials of one kind cost the same: equal outside the packable values, as many members."""
    return json.dumps(engine.shared_config(members[0]), sort_keys=True, default=str), len(members)


def trial_device(experiment):
    """The device the trials would use here (engine.trial_device): Ray gives them a GPU when they ask
    for one and torch sees one."""
    wanted = experiment.doc["resources_per_trial"]["gpu"] > 0
    given = list(range(torch.cuda.device_count())) if wanted else []
    return engine.trial_device(experiment.trials[0]["members"][0]["device"], given, torch.cuda.is_available())


def fused(member):
    """Whether a member asks for the fused PC step (fused.py)."""
    return member["rule"] == "pc" and member["pc"]["fused"]


def unfused(member):
    """The member with pc.fused off."""
    return dict(member, pc=dict(member["pc"], fused=False))


def estimate(experiment, budget=0.25, as_asked=True):
    """Measure each kind of the experiment's trials and add them up for this machine; where they ask
    for the fused PC step on a CPU, measure them unfused too (`Estimate.unfused`; `as_asked=False`
    measures only that)."""
    start = time.perf_counter()
    resources = experiment.doc["resources_per_trial"]
    iterations = experiment.doc["stop"]["training_iteration"]
    device = trial_device(experiment)
    worker = resident()
    measured = {}
    costs = []
    for trial in experiment.trials:
        packs = []
        for members in trial_packs(trial):
            members = members if as_asked else [unfused(m) for m in members]
            key = kind(members)
            if key not in measured:
                measured[key] = measure_trial(members, iterations, resources["cpu"], device, budget)
            packs.append(measured[key])
        memories = [c.memory for c in packs]
        costs.append(TrialCost(sum(c.seconds for c in packs), None if None in memories else max(memories),
                               sum(c.compile for c in packs)))
    cpus, gpus = machine()
    at_once = slots(resources, len(costs), cpus, gpus)
    memories = sorted((c.memory for c in costs if c.memory is not None), reverse=True)
    memory = None if worker is None or not memories else (
        at_once * (0 if device == "cuda" else worker) + sum(memories[:at_once]))
    asks_fused = as_asked and device == "cpu" and any(fused(m) for t in experiment.trials for m in t["members"])
    plain = estimate(experiment, budget, as_asked=False) if asks_fused else None
    return Estimate(costs, at_once, cpus, gpus, device, worker, makespan([c.seconds for c in costs], at_once),
                    memory, time.perf_counter() - start, plain)


def size(n):
    """Bytes for people: 740 kB, 12 MB, 1.4 GB."""
    if n is None:
        return "unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:.0f} {unit}"
    return f"{n} B"


def preview(experiment, cost, shown=12):
    """The dry run's lines for one run: its trials, members, packing, and the estimate."""
    doc, trials = experiment.doc, experiment.trials
    members = [len(t["members"]) for t in trials]
    keys = results.trial_keys(trials)
    sizes = sorted(set(members), reverse=True)
    per_trial = ", ".join(f"{m} (x{members.count(m)})" for m in sizes) if len(sizes) > 1 else f"{sizes[0]} each"
    packing = f"pack: {', '.join(doc['pack']) or 'nothing'}" + (
        f", at most {doc['max_members']} members a trial" if doc["max_members"] else "")
    lines = [f"{count(len(trials), 'trial')}, {count(sum(members), 'run')}; members per trial: {per_trial}; "
             f"{packing}",
             f"  {'trial':<48} {'members':>7} {'time':>8} {'memory':>8}"]
    for i, (trial, trial_cost) in enumerate(zip(trials, cost.trials)):
        if i == shown:
            lines.append(f"  ... and {len(trials) - shown} more trials")
            break
        label = results.trial_label(trial, keys)
        label = label if len(label) <= 48 else label[:45] + "..."
        lines.append(f"  {label:<48} {len(trial['members']):>7} {duration(trial_cost.seconds):>8} "
                     f"{size(trial_cost.memory):>8}")
    resources = doc["resources_per_trial"]
    asked = f"{resources['cpu']:g} CPU" + (f", {resources['gpu']:g} GPU" if resources["gpu"] else "")
    memory = ("GPU memory at once" if cost.device == "cuda" else
              f"memory at once (workers of ~{size(cost.worker)} each, with their trials)")
    trial_time = sum(c.seconds for c in cost.trials)
    lines.append(f"  estimate on this machine ({cost.cpus} CPUs, {cost.gpus} GPUs; {asked} a trial, so "
                 f"{cost.slots} at a time, on {cost.device}): ~{duration(cost.wall)} wall ({duration(trial_time)} "
                 f"of trials in all), plus Ray's start-up; ~{size(cost.memory)} {memory}; measured in "
                 f"{duration(cost.measured_in)}")
    if cost.unfused is not None:
        lines.append(fused_verdict(cost))
    return lines


def fused_verdict(cost):
    """The preview's line on a run with pc.fused: its compilation, and whether it repays it."""
    compiling = sum(c.compile for c in cost.trials)
    verdict = ("repays its compilation" if cost.wall < cost.unfused.wall else
               "does not repay its compilation here (-o config.pc.fused=false)")
    return (f"  pc.fused: ~{duration(compiling)} of the trials' time is compiling (or loading compiled code "
            f"from the cache); unfused ~{duration(cost.unfused.wall)} wall, so the fused step {verdict}")
