"""Generic config utilities: YAML files, merging, overrides, grid expansion, packing, seeds, and
the names by which a config may point at an experiment's own code.

A YAML experiment is data: read as plain YAML (its nesting and size limited before anything is built,
a key given twice refused), merged with a profile and with `-o` overrides, expanded over its
`grid_search` axes (counted before they are built) and grouped into trials whose members differ only
in the `pack` axes. What the keys mean and how they are checked is schema.py's business.
"""
import ast
import contextlib
import copy
import functools
import hashlib
import importlib
import itertools
import json
import math
from pathlib import Path
import re
import zlib

import numpy as np
import yaml

from terminal import last_line, printable

PROJECT_ROOT = Path(__file__).resolve().parent
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"
YAML_MAX_DEPTH = 64          # nesting of mappings and lists in a YAML file or -o value
YAML_MAX_VALUES = 100_000    # values (scalars, mappings, lists) of one, its aliases expanded
# <experiment>/<config> (requires:) or <experiment>/<run name> (a pretrained init's run): plain names
REF_PATTERN = r"^[A-Za-z0-9_][\w.-]*/[A-Za-z0-9_][\w.@+-]*$"


class ConfigError(ValueError):
    """A bad experiment file, key or value; the message is one line meant for the user."""


def _fail(path, message):
    raise ConfigError(f"{path}: {message}")


@contextlib.contextmanager
def about(path):
    """A ConfigError raised in the block names the file `path` first (unless it does already)."""
    try:
        yield
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


# ---------------------------------------------------------------------------------------------
# Loading, profiles, overrides
# ---------------------------------------------------------------------------------------------
def resolve_config_path(name):
    """A YAML path, or the original shorthand `<experiment>/<config>` under experiments/."""
    name = str(name)
    short = EXPERIMENTS_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")
    try:
        for path in (Path(name), short):
            if path.is_file():
                return path.resolve()
    except OSError as error:   # e.g. a name longer than the file system allows
        raise ConfigError(f"{printable(name[:80])}: not a readable file name ({error.strerror})") from None
    return project_config(name)


def project_config(ref):
    """The YAML of `<experiment>/<config>` under experiments/ (never a file elsewhere: a config's
    `requires` and a run's producer name the project's own configs only)."""
    short = EXPERIMENTS_DIR / (ref if ref.endswith(".yaml") else f"{ref}.yaml")
    if re.fullmatch(REF_PATTERN, ref.removesuffix(".yaml")) and short.is_file():
        return short.resolve()
    folder = short.parent
    known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    hint = f"; configs in {folder}: {', '.join(known)}" if known else ""
    raise ConfigError(f"{printable(ref)}: no such file (also looked for {printable(short)}){hint}")


def config_names(path):
    """(experiment, config name) of a YAML, the start of its run home's path: the folder and stem of
    experiments/<experiment>/<config>.yaml; for any other file, its folder and stem with `@` and 12
    hex digits of a hash of its content, so that no file elsewhere shares a home with the project's
    configs or with a different file."""
    path = Path(path).resolve()
    if path.parent.parent == EXPERIMENTS_DIR:
        return path.parent.name, path.stem
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    return path.parent.name or "_", f"{path.stem}@{digest}"


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
        value = parse_yaml(raw, f"-o {key}")
    except yaml.YAMLError as error:
        raise ConfigError(f"-o {assignment}: the value is not valid YAML ({yaml_problem(error)}); write YAML "
                          "data, quoted for the shell, e.g. -o 'key=[1, 2]'") from None
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
    """The mapping a YAML file holds (parse_yaml); a ConfigError naming the file otherwise."""
    try:
        doc = parse_yaml(Path(path).read_text(), path)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it ({last_line(error)})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


def load_document(path, profile=None, overrides=()):
    """The experiment YAML at `path` merged with its profile `profile` and the `-o` overrides (in
    their order), not validated yet."""
    raw = load_yaml(path)
    profiles = raw.get("profiles") or {}
    if profile is not None:
        if not isinstance(profiles, dict) or profile not in profiles:
            available = ", ".join(map(str, profiles)) if isinstance(profiles, dict) else ""
            raise ConfigError(f"profiles: no profile {profile!r}; available: {available or 'none'}")
        if not isinstance(profiles[profile], dict):
            raise ConfigError(f"profiles.{profile}: expected a mapping of the entries it changes")
        raw = deep_merge(raw, profiles[profile])
    for assignment in overrides:
        apply_override(raw, assignment)
    return raw


def parse_yaml(text, where):
    """The data of a YAML text, as yaml.safe_load reads it, except that a key given twice in a
    mapping is an error, and text nested deeper than YAML_MAX_DEPTH or holding more than
    YAML_MAX_VALUES values with its aliases expanded is refused before anything is built (an alias
    bomb of a few hundred bytes would expand to billions); `where` names the text in the error."""
    _check_shape(text, where)
    return yaml.load(text, Loader=_Loader)


def yaml_problem(error):
    """What a YAML error says is wrong, and where (line and column), in one line."""
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return " ".join(str(getattr(error, "problem", None) or error).split()) + where


def _check_shape(text, where):
    """Refuse YAML too deep or too large, from the parser's events: an anchored node's size is
    counted once, and each alias to it adds that size (`sizes` also records the size of the last
    node without an anchor, under None, which no alias names)."""
    open_nodes, sizes, count = [], {}, 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            count += sizes.get(event.anchor, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append((event.anchor, count))
            count += 1
            if len(open_nodes) > YAML_MAX_DEPTH:
                raise ConfigError(f"{where}: nested more than {YAML_MAX_DEPTH} levels deep (line "
                                  f"{event.start_mark.line + 1}); at most {YAML_MAX_DEPTH} (utils.YAML_MAX_DEPTH: "
                                  "raise it there for a config that needs more)")
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = open_nodes.pop()
            sizes[anchor] = count - start
        elif isinstance(event, yaml.ScalarEvent):
            sizes[event.anchor] = 1
            count += 1
        if count > YAML_MAX_VALUES:
            raise ConfigError(f"{where}: more than {YAML_MAX_VALUES:,} values once its aliases are expanded; "
                              f"at most {YAML_MAX_VALUES:,} (utils.YAML_MAX_VALUES: raise it there for a "
                              "config that needs more)")


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, refusing a mapping that gives a key twice (the later would silently
    win)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":   # `<<: *defaults` merges, then keys override
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:   # an unhashable key: SafeLoader's own error follows
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                        f"found the key {key!r} twice", key_node.start_mark)
        return super().construct_mapping(node, deep)


# ---------------------------------------------------------------------------------------------
# Grids and packing
# ---------------------------------------------------------------------------------------------
def expand_grid(node, path=""):
    """All concrete values of `node`: every {grid_search: [...]} at any depth is a product axis;
    {grid_search: {range: [start, stop(, step)]}} stands for the integers of Python's range."""
    if isinstance(node, dict):
        if set(node) == {"grid_search"}:
            options = grid_axis(node["grid_search"], _join(path, "grid_search"))
            return [v for option in options for v in expand_grid(option, path)]
        keys = list(node)
        choices = [expand_grid(node[k], _join(path, k)) for k in keys]
        return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]
    if isinstance(node, list):
        choices = [expand_grid(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return [list(combo) for combo in itertools.product(*choices)]
    return [node]


def grid_size(node, path=""):
    """How many values expand_grid(node) gives, counted without making them."""
    if isinstance(node, dict):
        if set(node) == {"grid_search"}:
            options = grid_axis(node["grid_search"], _join(path, "grid_search"))
            return _length(options) if isinstance(options, range) else sum(grid_size(o, path) for o in options)
        return math.prod(grid_size(value, _join(path, key)) for key, value in node.items())
    if isinstance(node, list):
        return math.prod(grid_size(value, f"{path}[{i}]") for i, value in enumerate(node))
    return 1


def grid_axis(options, path):
    """The values of a grid axis: a non-empty list, or for {range: [start, stop(, step)]} of
    integers a non-empty range."""
    if isinstance(options, dict) and set(options) == {"range"}:
        bounds = options["range"]
        if not (isinstance(bounds, list) and 2 <= len(bounds) <= 3
                and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)):
            _fail(_join(path, "range"), f"expected [start, stop] or [start, stop, step] of integers, got {bounds!r}")
        options = range(*bounds) if bounds[2:] != [0] else []
    if not isinstance(options, (list, range)) or not _length(options):
        _fail(path, "expected a non-empty list of values, or {range: [start, stop(, step)]}")
    return options


def _length(values):
    """len() of a list or range, also of a range longer than len() can count."""
    if isinstance(values, range):
        return max(0, (values.stop - values.start + values.step - (1 if values.step > 0 else -1)) // values.step)
    return len(values)


def expand_variants(doc):
    """The grid points of `config`, or the union over `variants` of the grids of config + variant;
    a ConfigError before any is made if they are more than `max_grid_points`."""
    grids = [deep_merge(doc["config"], variant) for variant in doc["variants"] or [{}]]
    points, limit = sum(grid_size(grid, "config") for grid in grids), doc["max_grid_points"]
    if points > limit:
        raise ConfigError(f"config: {points:,} grid points, more than max_grid_points ({limit:,}); make the grid "
                          f"smaller, or raise the limit (max_grid_points: {points} in the YAML, or "
                          f"-o max_grid_points={points})")
    return [point for grid in grids for point in expand_grid(grid, "config")]


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
# An experiment's own code by name, seeds
# ---------------------------------------------------------------------------------------------
OWN_NAME = re.compile(r"experiments\.([A-Za-z]\w*)\.([A-Za-z]\w*):([A-Za-z]\w*)", re.ASCII)
DEFINITIONS = {"class": ast.ClassDef, "function": ast.FunctionDef}


@functools.cache
def experiment_attribute(spec, what, kind):
    """The class or function (`kind`) that experiments/<experiment>/<module>.py defines, named
    `experiments.<experiment>.<module>:<name>` in a config (`what` says where). The name is checked
    against that file's source, for a top-level `class <name>` or `def <name>`, before the module is
    imported: a config can name the project's experiment code, and nothing else runs because of it.
    A ConfigError otherwise."""
    match = OWN_NAME.fullmatch(spec) if isinstance(spec, str) else None
    expected = f"experiments.<experiment>.<module>:<{kind} name>, a {kind} an experiment defines"
    if match is None:
        raise ConfigError(f"{what}: {spec!r} is not allowed; expected {expected}")
    experiment, module, name = match.groups()
    source = EXPERIMENTS_DIR / experiment / f"{module}.py"
    if not (source.is_file() and (source.parent / "__init__.py").is_file()):
        raise ConfigError(f"{what}: {spec}: the project has no experiment module {source}; expected {expected}")
    defined = _defined(source, kind)
    if name not in defined:
        raise ConfigError(f"{what}: {spec}: {source} defines no {kind} {name!r}; its {kind}s: "
                          f"{', '.join(defined) or 'none'}")
    return getattr(importlib.import_module(f"experiments.{experiment}.{module}"), name)


def _defined(source, kind):
    """The public classes or functions (`kind`) defined at the top level of a Python file."""
    tree = ast.parse(source.read_text(), str(source))
    return [node.name for node in tree.body if isinstance(node, DEFINITIONS[kind]) and not node.name.startswith("_")]


def derive_seed(seed, stream):
    """An independent 63-bit seed for a named random stream ('init', 'data', ...) of a member."""
    state = np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(2, np.uint32)
    return int(state[0]) << 31 ^ int(state[1])
