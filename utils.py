"""Generic config utilities: YAML files, merging, overrides, grid expansion, packing, seeds.

A YAML experiment is data: read with yaml.safe_load, merged with a profile and with `-o` overrides,
expanded over its `grid_search` axes and grouped into trials whose members differ only in the
`pack` axes. What the keys mean and how they are checked is schema.py's business.
"""
import copy
import importlib
import itertools
import json
from pathlib import Path
import zlib

import numpy as np
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"


class ConfigError(ValueError):
    """A bad experiment file, key or value; the message is one line meant for the user."""


def last_line(error):
    """The last non-empty line of an exception's message (where a wrapped traceback ends), or its type."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _fail(path, message):
    raise ConfigError(f"{path}: {message}")


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


# ---------------------------------------------------------------------------------------------
# Loading, profiles, overrides
# ---------------------------------------------------------------------------------------------
def resolve_config_path(name):
    """A YAML path, or the original shorthand `<experiment>/<config>` under experiments/."""
    path = Path(name)
    if path.is_file():
        return path.resolve()
    short = EXPERIMENTS_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")
    if short.is_file():
        return short.resolve()
    folder = short.parent
    known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    hint = f"; configs in {folder}: {', '.join(known)}" if known else ""
    raise ConfigError(f"{name}: no such file (also looked for {short}){hint}")


def run_names(path, profile=None):
    """(experiment, run name) for a YAML: its folder name and its stem, plus `-<profile>`."""
    path = Path(path)
    return path.parent.name, path.stem + (f"-{profile}" if profile else "")


def deep_merge(base, overrides):
    """A copy of `base` with `overrides` merged in recursively (mappings merge, the rest replaces)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if (isinstance(value, dict) and isinstance(out.get(key), dict) and "grid_search" not in value
                and "grid_search" not in out[key]):   # a grid is replaced, not merged into
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_override(doc, assignment):
    """Apply one `key.path=value` (value parsed as YAML data) to the document in place."""
    if "=" not in assignment:
        raise ConfigError(f"-o {assignment}: expected key.path=value")
    key, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at column {mark.column + 1}" if mark else ""
        raise ConfigError(f"-o {assignment}: the value is not valid YAML ({getattr(error, 'problem', error)}"
                          f"{where}); write YAML data, quoted for the shell, e.g. -o 'key=[1, 2]'") from None
    if not key.strip() or "" in key.strip().split("."):
        raise ConfigError(f"-o {assignment}: expected key.path=value with a non-empty key path")
    parts = key.strip().split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"-o {assignment}: {'.'.join(parts[:i + 1])} is not a mapping")
        node = node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"-o {assignment}: {'.'.join(parts[:-1])} is not a mapping")


def load_yaml(path):
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


# ---------------------------------------------------------------------------------------------
# Grids and packing
# ---------------------------------------------------------------------------------------------
def expand_grid(node, path=""):
    """All concrete values of `node`: every {grid_search: [...]} at any depth is a product axis;
    {grid_search: {range: [start, stop(, step)]}} stands for the integers of Python's range."""
    if isinstance(node, dict):
        if set(node) == {"grid_search"}:
            options = grid_values(node["grid_search"], _join(path, "grid_search"))
            return [v for option in options for v in expand_grid(option, path)]
        keys = list(node)
        choices = [expand_grid(node[k], _join(path, k)) for k in keys]
        return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]
    if isinstance(node, list):
        choices = [expand_grid(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return [list(combo) for combo in itertools.product(*choices)]
    return [node]


def grid_values(options, path):
    """The values of a grid axis: a non-empty list, or {range: [start, stop(, step)]} of integers."""
    if isinstance(options, dict) and set(options) == {"range"}:
        bounds = options["range"]
        if not (isinstance(bounds, list) and 2 <= len(bounds) <= 3
                and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)):
            _fail(_join(path, "range"), f"expected [start, stop] or [start, stop, step] of integers, got {bounds!r}")
        options = list(range(*bounds)) if bounds[2:] != [0] else []
    if not isinstance(options, list) or not options:
        _fail(path, "expected a non-empty list of values, or {range: [start, stop(, step)]}")
    return options


def expand_variants(doc):
    """The grid points of `config`, or the union over `variants` of the grids of config + variant."""
    variants = doc["variants"] or [{}]
    return [point for variant in variants
            for point in expand_grid(deep_merge(doc["config"], variant), "config")]


def _without(config, paths):
    """`config` with the given dotted paths removed (only the mappings on those paths are copied)."""
    out = dict(config)
    for dotted in paths:
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            if not isinstance(node.get(part), dict):
                break
            node[part] = node = dict(node[part])
        else:
            node.pop(last, None)
    return out


def check_pack_axes(pack, packable):
    """Each pack axis must be a path (or lie under a path) that the trainable can vary per member."""
    for axis in pack:
        if not any(axis == p or axis.startswith(p + ".") for p in packable):
            _fail("pack", f"{axis!r} cannot differ between members of one trial; "
                          f"packable: {', '.join(sorted(packable))}")


def pack_trials(configs, pack, max_members=0, packs_per_trial=1):
    """Group configs that are equal outside the `pack` axes; each group (split at max_members) is a
    pack, trained as one tensor program. A trial is {"members": [config, ...]}: one pack, or with
    packs_per_trial > 1 that many consecutive packs, trained one after another, with "packs": their
    sizes. Order follows the grid."""
    groups = {}
    for config in configs:
        key = json.dumps(_without(config, pack), sort_keys=True)
        groups.setdefault(key, []).append(config)
    packs = []
    for members in groups.values():
        size = max_members or len(members)
        packs += [members[i:i + size] for i in range(0, len(members), size)]
    if packs_per_trial == 1:
        return [{"members": members} for members in packs]
    chunks = [packs[i:i + packs_per_trial] for i in range(0, len(packs), packs_per_trial)]
    return [{"members": [m for p in chunk for m in p], "packs": [len(p) for p in chunk]} for chunk in chunks]


def trial_packs(trial):
    """The packs of a trial (pack_trials): lists of members, each trained as one tensor program."""
    members, sizes = trial["members"], trial.get("packs", [len(trial["members"])])
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [members[start:start + size] for start, size in zip(starts, sizes)]


def flatten(config, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': 1}; lists become JSON strings so they fit one table cell."""
    out = {}
    for key, value in config.items():
        name = _join(prefix, key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = json.dumps(value) if isinstance(value, list) else value
    return out


# ---------------------------------------------------------------------------------------------
# Components by name, seeds
# ---------------------------------------------------------------------------------------------
def import_attribute(spec, what):
    """`module:attribute` -> the object (a clear ConfigError if either is missing)."""
    if ":" not in spec:
        raise ConfigError(f"{what}: {spec!r} is neither a registered name nor module:attribute")
    module_name, attribute = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{what}: cannot import {module_name!r} ({error})") from None
    if not hasattr(module, attribute):
        raise ConfigError(f"{what}: module {module_name!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


def derive_seed(seed, stream):
    """An independent 63-bit seed for a named random stream ('init', 'data', ...) of a member."""
    state = np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(2, np.uint32)
    return int(state[0]) << 31 ^ int(state[1])
