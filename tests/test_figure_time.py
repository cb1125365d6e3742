"""benchmarks/figure_time.py: which launches it times, and its table (the launches themselves are
main.py runs, whose timings test_operations.py checks)."""
from pathlib import Path

import figure_time   # benchmarks/, importable through conftest

ROOT = Path(__file__).resolve().parents[1]


def test_every_yaml_with_a_quick_profile_is_timed_and_fig3e_at_paper_scale_and_only_filters_them():
    names = [name for name, _, _ in figure_time.launches()]
    assert len(names) == len(list((ROOT / "experiments").glob("*/*.yaml"))) + 1   # every YAML has a quick profile
    assert "interference/fig3a quick" in names and names[-1] == "target_alignment/fig3e paper"
    assert [(n, p) for n, _, p in figure_time.launches(["fig3e"])] == [
        ("target_alignment/fig3e quick", "quick"), ("target_alignment/fig3e paper", None)]


def test_the_table_gives_the_fastest_and_median_wall_and_each_phases_median():
    phases = dict.fromkeys(figure_time.PHASES, 1.0)
    rows = [{"launch": "a", "status": "complete", "wall": wall, **phases, "exit": 0.5} for wall in (9.0, 7.0, 8.0)]
    assert figure_time.table(rows).splitlines()[-1] == "| a | 7.0 / 8.0 | " + "1.0 | " * 7 + "0.5 |"
