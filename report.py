"""The reproduction report: for every experiment and panel of the paper, our figure, the published
numbers, and whether each of the paper's claims holds on our runs, how robustly, at what scale and cost.

    python analysis_v1.py --report [--profile quick] [--out DIR]      (make report)

Reads the current run of every config that a claim names (the paper-scale run where one exists, else
the quick profile's, labelled as such; with --profile quick, the quick runs only) and writes
REPORT.md (figures linked: the committed PNGs under experiments/*/figures) and a self-contained
index.html (figures embedded) into report/ (file names carry -quick with --profile quick). Configs
without a run are listed with the command that makes them.

From results alone: the experiments and their claims are the project's own (experiments/*/claims.py,
found in the checkout, never named by a results folder); a run is read through results.py (private
folders only, rows and run.json as data). No training code is imported.
"""
import base64
from dataclasses import dataclass, field
from datetime import datetime, timezone
import hashlib
import html
import importlib
import io
import os
from pathlib import Path
import subprocess

import claims
import results
from terminal import last_line, printable
from utils import EXPERIMENTS_DIR, PROJECT_ROOT, ConfigError, resolve_config_path

QUICK = "quick"
PAPER, QUICK_SCALE = "paper scale", "quick profile"
UNDECIDABLE = "cannot be decided"


# The experiments in the paper's order (FIGURES.md); any other follows, by name.
PAPER_ORDER = ["interference", "target_alignment", "prospective_index", "search_depth", "batch_size", "forgetting",
               "concept_drift", "small_data", "cnn", "dqn", "sensorimotor", "reversal", "fear_conditioning",
               "less_erratic", "example_122"]


def experiments():
    """The experiments of the checkout (the packages under experiments/), in the paper's order."""
    found = {path.name for path in EXPERIMENTS_DIR.iterdir() if (path / "__init__.py").is_file()}
    return [name for name in PAPER_ORDER if name in found] + sorted(found - set(PAPER_ORDER))


def experiment_claims(experiment):
    """The CLAIMS an experiment declares in its claims.py ([] without one)."""
    if not (EXPERIMENTS_DIR / experiment / "claims.py").is_file():
        return []
    return importlib.import_module(f"experiments.{experiment}.claims").CLAIMS


@dataclass
class Run:
    """One config's run as the report uses it (`folder` None: not run); `profile` the profile it ran
    with (None: the config as it stands)."""
    config: str
    scale: str = ""
    folder: Path = None
    info: dict = field(default_factory=dict)
    checksum: str = "–"
    problem: str = ""
    profile: str = None

    def command(self):
        return f"python main.py -c {self.config}" + (f" --profile {self.profile}" if self.profile else "")

    @property
    def label(self):
        """The config as claims name it: with its paper-scale profile, if any (<config>@<profile>)."""
        return f"{self.config}@{self.profile}" if self.profile and self.profile != QUICK else self.config


def find_run(claim_config, profile):
    """The current run a claim's config names: paper scale (the config as it stands, or a paper-scale
    profile named as <config>@<profile>, e.g. dqn/fig4k@cartpole) unless `profile` is quick, else the
    quick profile's."""
    config, _, paper_profile = claim_config.partition("@")
    tried = []
    for scale, run_profile in ((PAPER, paper_profile or None), (QUICK_SCALE, QUICK)):
        if profile == QUICK and scale == PAPER:
            continue
        try:
            home = results.run_home(resolve_config_path(config), run_profile)
            folder = results.check_home(home)
            if folder is not None:
                return Run(config, scale, folder, results.read_info(folder), checksum(folder), profile=run_profile)
            tried.append(unfinished(home, run_profile))
        except ConfigError as error:
            tried.append(printable(last_line(error)))
    scale, run_profile = (QUICK_SCALE, QUICK) if profile == QUICK else (PAPER, paper_profile or None)
    return Run(config, scale, problem="; ".join(filter(None, tried)), profile=run_profile)


def unfinished(home, profile):
    """How far a home's newest run got when it has not completed ('' when there is none)."""
    run, info = results.newest_run(home)
    if run is None or info["status"] == results.COMPLETE:
        return ""
    labels = info.get("trial_labels") or []
    done = len(labels) - len(results.unfinished_trials(run))
    scale = f"{profile} profile" if profile else "paper scale"
    return f"{scale}: run {run.name} unfinished, {done} of {len(labels)} trials done (--resume continues it)"


def checksum(folder):
    """sha256 (first 16 hex digits) of the run's rows.parquet, '–' without one."""
    rows = Path(folder) / results.ROWS_FILE
    return hashlib.sha256(rows.read_bytes()).hexdigest()[:16] if rows.is_file() else "–"


def verdicts(run, config_claims):
    """The verdict of each claim on the run's rows; claims sharing a `per_seed` reduce the rows once."""
    if run.folder is None:
        return [claims.decide(claim, None) for claim in config_claims]
    try:
        rows, reduced, out = results.load_rows(run.folder), {}, []
    except ConfigError as error:   # e.g. a damaged rows.parquet
        return [undecided(claim, error) for claim in config_claims]
    for claim in config_claims:
        try:
            if claim.per_seed not in reduced:
                reduced[claim.per_seed] = claim.per_seed(rows)
            out.append(claims.decide(claim, rows, quick=run.scale == QUICK_SCALE, reduced=reduced[claim.per_seed]))
        except (KeyError, ValueError, IndexError, TypeError) as error:   # e.g. a profile without that lr
            out.append(undecided(claim, error))
    return out


def undecided(claim, error):
    return claims.Verdict(claim, float("nan"), float("nan"), 0, f"{UNDECIDABLE} ({printable(last_line(error))})")


def figure_file(experiment, panel, run):
    """The committed figure of a panel (the -<profile> one for a run of a profile), or None (also when the
    panel's config has no run)."""
    if run.folder is None:
        return None
    suffix = f"-{run.profile}" if run.profile else ""
    path = EXPERIMENTS_DIR / experiment / "figures" / f"{panel}{suffix}.png"
    return path if path.is_file() else None


def summary_text(figure):
    """The analysis's summary beside the figure (our numbers beside the published ones), or ''."""
    summary = figure.with_name(figure.stem + "-summary.txt") if figure else None
    return summary.read_text() if summary and summary.is_file() else ""


@dataclass
class Panel:
    """A panel of the paper in the report: its run, the verdicts of its claims, our figure and summary."""
    experiment: str
    name: str
    run: Run
    verdicts: list
    figure: Path = None
    summary: str = ""


def collect(profile=None):
    """(panels, runs by config) of every experiment's claims."""
    panels, runs = [], {}
    for experiment in experiments():
        declared = experiment_claims(experiment)
        for config in dict.fromkeys(claim.config for claim in declared):
            run = runs[config] = find_run(config, profile)
            decided = verdicts(run, [claim for claim in declared if claim.config == config])
            for name in dict.fromkeys(verdict.claim.panel for verdict in decided):
                figure = figure_file(experiment, name, run)
                panels.append(Panel(experiment, name, run, [v for v in decided if v.claim.panel == name],
                                    figure, summary_text(figure)))
    return panels, runs


# ---------------------------------------------------------------------------------------------
# Rendering: one list of blocks, written as markdown and as HTML
# ---------------------------------------------------------------------------------------------
def number(value, digits=4):
    return "–" if value != value else f"{value:.{digits}g}"


def claim_row(verdict, with_panel=False):
    claim = verdict.claim
    row = [claim.id] if with_panel else [claim.id.split(".", 1)[1]]
    row += [claim.text + (f" ({claim.note})" if claim.note and verdict.state == claims.NOT_EXPECTED else ""),
            claim.quantity, claim.band_text(), number(verdict.value), claim.paper, verdict.state,
            number(verdict.robustness, 3), f"{verdict.seeds} (paper {claim.seeds})"]
    return row


CLAIM_HEADER = ["claim", "the paper says", "quantity", "holds when", "ours", "published", "verdict",
                f"robustness ({claims.BATCHES} paper-sized seed batches)", "seeds"]


def run_facts(run):
    """[(fact, value)] of a run: its scale, id, status, wall time, data read, git revision, rows checksum,
    command."""
    info = run.info
    return [["scale", run.scale], ["run id", run.folder.name], ["status", str(info.get("status"))],
            ["wall time", wall_time_text(info)], ["data", data_text(info)],
            ["git revision", str(info.get("git_revision", "–"))[:12]], ["rows sha256", run.checksum],
            ["command", run.command()]]


def data_text(info):
    """The data sets a run read and their files' published MD5s (each file is checked against it as
    it is read); '–' where the record predates `data` or the run read no data set."""
    data = info.get("data")
    if not data:
        return "–"
    return "; ".join(f"{name}: " + (", ".join(f"{file} {md5}" for file, md5 in files.items())
                                    if files else "bundled with its library, no files")
                     for name, files in data.items())


def wall_time_text(info):
    """A run's wall time over all its launches, saying how many there were and any unrecorded."""
    seconds, launches, unrecorded = results.wall_time(info)
    if not isinstance(seconds, (int, float)):
        return "–"
    if launches is None:
        return f"{seconds:.0f} s (its last launch)"
    text = f"{seconds:.0f} s" + (f" over {launches} launches" if launches > 1 else "")
    return text + (f", {unrecorded} killed before recording theirs" if unrecorded else "")


RUN_HEADER = ["config", "scale", "run id", "wall time", "data", "git revision", "rows sha256"]


def run_row(run):
    if run.folder is None:
        return [run.label, "not run", *["–"] * (len(RUN_HEADER) - 2)]
    facts = dict(run_facts(run), data=", ".join(run.info.get("data") or ["–"]))   # the table names the sets
    return [run.label, *(facts[key] for key in RUN_HEADER[1:])]


def blocks(panels, runs, profile, results_folder):
    """The report as blocks: ('h', level, text), ('p', text), ('table', header, rows), ('figure', path),
    ('pre', text)."""
    counts = {}
    for panel in panels:
        for verdict in panel.verdicts:
            counts[verdict.state] = counts.get(verdict.state, 0) + 1
    missing = [run for run in runs.values() if run.folder is None]
    out = [("h", 1, "Reproduction report: Song et al., Nature Neuroscience 2024 (prospective configuration)"),
           ("p", f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from the runs in {results_folder}"
                 f" by code revision {revision()}; " + ("quick profiles only." if profile == QUICK else
                 "paper-scale runs where they exist, else the quick profile (labelled).")),
           ("p", "A claim holds when its quantity, on all of the run's seeds, lies in its band; its robustness is "
                 f"the fraction of {claims.BATCHES} random batches of the paper's number of seeds for which it still "
                 f"holds (any lr selection made again in each batch); below {claims.ROBUST} it is fragile. "
                 "Claims not expected on a quick profile are marked so, never given a looser band."),
           ("p", "Verdicts: " + ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) + "."),
           ("h", 2, "Runs"),
           ("table", RUN_HEADER, [run_row(run) for run in runs.values()]),
           ("h", 2, "Every claim"),
           ("table", CLAIM_HEADER, [claim_row(v, True) for panel in panels for v in panel.verdicts])]
    if missing:
        out += [("h", 2, "Not run yet"),
                ("table", ["config", "the command that makes it", "why"],
                 [[run.label, run.command(), run.problem or "no complete run"] for run in missing])]
    for experiment in dict.fromkeys(panel.experiment for panel in panels):
        out.append(("h", 2, experiment))
        for panel in (p for p in panels if p.experiment == experiment):
            out.append(("h", 3, f"{panel.name} ({panel.run.label}, {panel.run.scale if panel.run.folder else 'not run'})"))
            if panel.figure:
                out.append(("figure", panel.figure))
            elif panel.run.folder:
                out.append(("p", "No figure of this run committed: python analysis_v1.py -c "
                                 + panel.run.command().split(" -c ", 1)[1]))
            out.append(("table", CLAIM_HEADER, [claim_row(v) for v in panel.verdicts]))
            if panel.run.folder:
                out.append(("table", ["run", ""], run_facts(panel.run)))
            if panel.summary:
                out.append(("pre", "Our numbers beside the published ones (the analysis's summary):\n" + panel.summary))
    return out


def revision():
    """The checkout's git revision (12 digits), or 'unknown'."""
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report, out):
    lines = []
    for block in report:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "table":
            lines += ["| " + " | ".join(map(cell, block[1])) + " |", "|" + "---|" * len(block[1])]
            lines += ["| " + " | ".join(map(cell, row)) + " |" for row in block[2]] + [""]
        elif kind == "figure":
            lines += [f"![{block[1].stem}]({Path(os.path.relpath(block[1], out.resolve())).as_posix()})", ""]
        else:
            lines += ["```", block[1].rstrip(), "```", ""]
    return "\n".join(lines)


STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}table{border-collapse:collapse;"
         "font-size:85%;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
         "img{max-width:700px}pre{background:#f5f5f5;padding:0.5em;font-size:80%;white-space:pre-wrap}"
         ".holds{background:#d9f2d9}.fragile{background:#fff3c4}.does-not-hold{background:#f8d0d0}")


def embedded(figure, width=900):
    """A PNG's bytes, scaled down to `width` pixels where it is wider (the page stays small)."""
    from PIL import Image
    with Image.open(figure) as image:
        if image.width <= width:
            return figure.read_bytes()
        image.thumbnail((width, image.height))
        buffer = io.BytesIO()
        image.save(buffer, "PNG", optimize=True)
        return buffer.getvalue()


def html_cell(text):
    """A table cell; a verdict's cell is coloured by its class."""
    text = str(text)
    verdict = f" class='{text.replace(' ', '-')}'" if text in (claims.HOLDS, claims.FRAGILE, claims.FAILS) else ""
    return f"<td{verdict}>{html.escape(text)}</td>"


def html_page(report):
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Reproduction report</title>"
             f"<style>{STYLE}</style></head><body>"]
    for block in report:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(html_cell(c) for c in row) + "</tr>" for row in block[2])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind == "figure":
            data = base64.b64encode(embedded(block[1])).decode()
            parts.append(f"<img alt='{e(block[1].stem)}' src='data:image/png;base64,{data}'>")
        else:
            parts.append(f"<pre>{e(block[1])}</pre>")
    return "\n".join(parts + ["</body></html>"]) + "\n"


def write(profile=None, out=None):
    """Collect, decide and write the report; returns (REPORT.md path, index.html path, panels)."""
    out = Path(out) if out else PROJECT_ROOT / "report"
    panels, runs = collect(profile)
    report = blocks(panels, runs, profile, results.results_dir())
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if profile == QUICK else ""
    md, page = out / f"REPORT{suffix}.md", out / f"index{suffix}.html"
    md.write_text(markdown(report, out) + "\n")
    page.write_text(html_page(report))
    return md, page, panels
