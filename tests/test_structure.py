"""The module structure: the project's modules import each other without cycles, and a command
line's --help loads no heavy module."""
import ast
import re
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


def project_imports():
    """{module: project modules it imports anywhere in its source} for the top-level modules and
    the experiments' modules."""
    files = {p.stem: p for p in ROOT.glob("*.py")}
    files.update({".".join(p.relative_to(ROOT).with_suffix("").parts): p
                  for p in (ROOT / "experiments").rglob("*.py")})
    graph = {}
    for name, path in files.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
        graph[name] = {m for m in imported if m in files and m != name}
    return graph


def find_cycle(graph):
    """A list of modules forming an import cycle, or None."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for nxt in sorted(graph[module]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


def test_the_project_modules_import_each_other_without_a_cycle():
    assert find_cycle(project_imports()) is None


def test_the_cycle_finder_finds_a_cycle_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_generic_config_utilities_and_datasets_import_no_project_module_but_their_own_parts():
    graph = project_imports()
    assert graph["utils"] == {"terminal"} and graph["terminal"] == set()
    assert imported_by("data_utils", graph) == {"data_files", "data_formats"}


def test_every_test_file_is_in_exactly_one_group_and_every_group_is_a_marker():
    import configparser
    from conftest import GROUPS
    files = sorted(p.stem for p in (ROOT / "tests").glob("test_*.py"))
    grouped = [module for modules in GROUPS.values() for module in modules]
    assert sorted(grouped) == files
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    markers = {line.split(":")[0].strip() for line in ini["pytest"]["markers"].splitlines() if line.strip()}
    assert set(GROUPS) | {"slow", "gpu"} <= markers


@pytest.mark.parametrize("script", ["main.py", "analysis_v1.py"])
def test_a_command_lines_help_imports_neither_torch_nor_ray(script):
    check = (f"import runpy, sys\nsys.argv = [{script!r}, '--help']\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "except SystemExit as done:\n    assert done.code == 0, done.code\n"
             "print('heavy:', sorted({'torch', 'ray'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: " in done.stdout and done.stdout.splitlines()[-1] == "heavy: []"


def imported_by(module, graph):
    """Every project module that `module` imports, directly or through the modules it imports."""
    seen, todo = set(), [module]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_config_language_imports_no_engine_and_the_engine_no_rule_and_no_results_store():
    graph = project_imports()
    for config_module in ("schema", "loader", "json_schema"):
        assert not {"engine", "trainables", "main", "launcher", "launch_plan"} & imported_by(config_module, graph)
    assert not {"pc_trainable", "bp_trainable", "tp_trainable", "results", "results_homes", "results_trials"} & graph["engine"]


def test_the_import_closure_follows_the_modules_through():
    assert imported_by("a", {"a": {"b"}, "b": {"c"}, "c": set()}) == {"b", "c"}


def layout_rows():
    """The modules of each row of README.md's Layout table, bottom layer first: every `name.py` a row
    names (its parts too)."""
    text = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n\n`experiments/`", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return [set(re.findall(r"`(\w+)\.py`", row)) for row in rows]


def test_the_readmes_layout_lists_every_module_below_those_that_import_it():
    rows, graph = layout_rows(), project_imports()
    placed = {module: level for level, row in enumerate(rows) for module in row}
    assert set(placed) == {p.stem for p in ROOT.glob("*.py")}, "README's Layout misses or names modules"
    above = {(module, imported) for module in placed for imported in graph[module] if placed[imported] > placed[module]}
    assert not above, f"modules that import one listed above them in README's Layout: {sorted(above)}"
