"""Progress of a launch, for people: one live line in a terminal, a plain line now and then otherwise.

    trials 3/18 done, 2 running, 0 failed, 13 pending | runs 24/144 done | 1m12s elapsed, ~5m40s left

`Progress` counts trials by state from the run's trial records (results.trial_progress: how far each
trial's last report got) and decides when to print; `watching(run, progress)` does it from a thread
while Tune runs the trials. What is left is extrapolated from this launch's own pace.
"""
import contextlib
import sys
import threading
import time

import results

STATES = ("done", "running", "failed", "pending")


class Progress:
    """Counts and prints the progress of one run of `members` (number of members of each trial)
    trained for `iterations` iterations. In a terminal (`live`) the line is rewritten every second;
    otherwise a plain line is printed every `every` seconds. Nothing is printed before `delay`
    seconds, so a short run prints no progress at all."""

    def __init__(self, members, iterations, out=None, live=None, every=30.0, delay=3.0, clock=time.monotonic):
        self.members, self.iterations = list(members), iterations
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.every, self.delay, self.clock = (1.0 if self.live else every), delay, clock
        self.start = clock()
        self.last_shown = None
        self.first_fraction = 0.0

    def begin(self, trials):
        """Where the run starts from (a resumed run starts part-way)."""
        self.first_fraction = self.tally(trials)[1]

    def due(self):
        """Whether the next line is due."""
        now = self.clock()
        return now - self.start >= self.delay and (self.last_shown is None or now - self.last_shown >= self.every)

    def update(self, trials, final=False):
        """Print the line for `trials`, (trial index, state, iterations done) of the trials that
        started; `final` ends a live line (a plain one is not repeated at the end)."""
        if final and not (self.live and self.last_shown is not None):
            return
        now = self.clock()
        line = self.line(*self.tally(trials), now)
        self.out.write("\r\033[K" + line + ("\n" if final else "") if self.live else line + "\n")
        self.out.flush()
        self.last_shown = now

    def tally(self, trials):
        """({state: trials, "runs": members of finished trials}, fraction of the work done)."""
        counts = dict.fromkeys(STATES, 0)
        seen, runs, work = set(), 0, 0.0
        for index, state, iterations_done in trials:
            seen.add(index)
            counts[state] += 1
            runs += self.members[index] if state == "done" else 0
            work += 1.0 if state in ("done", "failed") else min(iterations_done / max(self.iterations, 1), 1.0)
        counts["pending"] += len(self.members) - len(seen)   # not started yet
        counts["runs"] = runs
        return counts, work / max(len(self.members), 1)

    def line(self, counts, fraction, now):
        elapsed = now - self.start
        gained = fraction - self.first_fraction
        if fraction >= 1:
            left = "all finished"
        else:
            left = f"~{duration(elapsed * (1 - fraction) / gained)} left" if gained > 0 else "time left unknown yet"
        return (f"trials {counts['done']}/{len(self.members)} done, {counts['running']} running, "
                f"{counts['failed']} failed, {counts['pending']} pending | runs {counts['runs']}/"
                f"{sum(self.members)} done | {duration(elapsed)} elapsed, {left}")


@contextlib.contextmanager
def watching(run, progress, poll=0.5):
    """Show `progress` of the run folder `run` while the block runs (Tune fills in the trial records)."""
    progress.begin(results.trial_progress(run))
    stop = threading.Event()

    def loop():
        while not stop.wait(poll):
            if progress.due():
                progress.update(results.trial_progress(run))

    thread = threading.Thread(target=loop, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        progress.update(results.trial_progress(run), final=True)


def duration(seconds):
    """0.4s, 45s, 12m05s, 3h04m."""
    if seconds < 9.95:
        return f"{seconds:.1g}s" if seconds < 1 else f"{seconds:.1f}s".replace(".0s", "s")
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def count(n, noun):
    """'1 trial', '3 trials'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
