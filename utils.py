"""Configuration: loading, validation, overrides, grid expansion, packing into trials, seeding, paths.

A YAML experiment is data. It is read with yaml.safe_load, merged with a profile and with `-o`
overrides, checked against a typed schema (unknown keys, wrong types and impossible values are
errors naming the file, the key path and what is allowed), expanded over its `grid_search` axes and
grouped into trials whose members differ only in the `pack` axes.
"""
from dataclasses import dataclass, field
import copy
import importlib
import itertools
import json
import os
from pathlib import Path
import zlib

import numpy as np
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"
REQUIRED = object()


class ConfigError(ValueError):
    """A bad experiment file, key or value; the message is one line meant for the user."""


# ---------------------------------------------------------------------------------------------
# Schema: small typed nodes. Each `check(value, path)` returns the normalised value or raises.
# ---------------------------------------------------------------------------------------------
def _fail(path, message):
    raise ConfigError(f"{path}: {message}")


def _parse_float(value):
    """YAML 1.1 reads 1e-5 (no dot) as a string; accept such strings as numbers."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass
class Node:
    default: object = REQUIRED
    doc: str = ""


@dataclass
class Int(Node):
    min: int = None
    max: int = None

    def check(self, value, path):
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(path, f"expected an integer, got {value!r}")
        if self.min is not None and value < self.min:
            _fail(path, f"must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            _fail(path, f"must be <= {self.max}, got {value}")
        return value


@dataclass
class Float(Node):
    min: float = None
    max: float = None
    min_exclusive: bool = False

    def check(self, value, path):
        number = _parse_float(value)
        if number is None:
            _fail(path, f"expected a number, got {value!r}")
        if self.min is not None and (number < self.min or (self.min_exclusive and number == self.min)):
            _fail(path, f"must be {'>' if self.min_exclusive else '>='} {self.min}, got {number}")
        if self.max is not None and number > self.max:
            _fail(path, f"must be <= {self.max}, got {number}")
        return number


@dataclass
class Bool(Node):
    def check(self, value, path):
        if not isinstance(value, bool):
            _fail(path, f"expected true or false, got {value!r}")
        return value


@dataclass
class Str(Node):
    choices: tuple = None

    def check(self, value, path):
        if not isinstance(value, str):
            _fail(path, f"expected a string, got {value!r}")
        if self.choices is not None and value not in self.choices:
            _fail(path, f"{value!r} is not allowed; allowed: {', '.join(map(str, self.choices))}")
        return value


@dataclass
class List(Node):
    item: Node = None
    min_len: int = 0

    def check(self, value, path):
        if not isinstance(value, list):
            _fail(path, f"expected a list, got {value!r}")
        if len(value) < self.min_len:
            _fail(path, f"needs at least {self.min_len} entries, got {len(value)}")
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]


@dataclass
class AnyOf(Node):
    """The first alternative that accepts the value wins; the error lists what each expected."""
    options: tuple = ()

    def check(self, value, path):
        messages = []
        for option in self.options:
            try:
                return option.check(value, path)
            except ConfigError as error:
                messages.append(str(error).split(": ", 1)[1])
        _fail(path, " or ".join(messages))


@dataclass
class Map(Node):
    """A mapping with free keys (e.g. profiles); values are checked later."""
    def check(self, value, path):
        if not isinstance(value, dict):
            _fail(path, f"expected a mapping, got {value!r}")
        return value


@dataclass
class Struct(Node):
    fields: dict = field(default_factory=dict)

    def check(self, value, path):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            _fail(path, f"expected a mapping with keys {', '.join(self.fields)}, got {value!r}")
        unknown = sorted(set(value) - set(self.fields))
        if unknown:
            _fail(_join(path, unknown[0]), f"unknown key; allowed: {', '.join(sorted(self.fields))}")
        out = {}
        for key, node in self.fields.items():
            sub = _join(path, key)
            if key in value and not (value[key] is None and node.default is None):
                out[key] = node.check(value[key], sub)
            elif node.default is REQUIRED:
                _fail(sub, "missing required key" + (f" ({node.doc})" if node.doc else ""))
            else:   # defaults are checked too, so a mapping's default gets its own defaults
                    # (an explicit null stands for a default of None)
                out[key] = None if node.default is None else node.check(copy.deepcopy(node.default), sub)
        return out


@dataclass
class Named(Node):
    """A mapping whose `name` picks one of several structs: {name: X, ...X's keys}."""
    variants: dict = field(default_factory=dict)

    def check(self, value, path):
        if not isinstance(value, dict) or "name" not in value:
            _fail(_join(path, "name"), f"missing; allowed: {', '.join(self.variants)}")
        name = Str(choices=tuple(self.variants)).check(value["name"], _join(path, "name"))
        rest = {k: v for k, v in value.items() if k != "name"}
        return {"name": name, **self.variants[name].check(rest, path)}


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


# ---------------------------------------------------------------------------------------------
# The document around the trainable's own `config` section.
# ---------------------------------------------------------------------------------------------
def document_schema():
    """Schema of a whole experiment YAML; `config` is checked per grid point by the trainable."""
    return Struct(fields={
        "description": Str(default=""),
        "figures": List(item=Str(), default=[]),
        "trainable": Str(default="supervised", doc="registered name or module:attribute"),
        "stop": Struct(fields={"training_iteration": Int(min=1, doc="number of iterations")}),
        "resources_per_trial": Struct(fields={"cpu": Float(min=0, default=1.0),
                                              "gpu": Float(min=0, default=0.0)}, default={}),
        "pack": List(item=Str(), default=[]),
        "max_members": Int(min=0, default=0, doc="split packs larger than this (0: no limit)"),
        "report_every": Int(min=0, default=0, doc="iterations per Tune report (0: automatic)"),
        "config": Map(),
        "variants": List(item=Map(), default=None,
                         doc="a union of grids: each entry is merged into config, then expanded"),
        "analysis": Struct(fields={"figure": Str(doc="module:attribute of the figure function")},
                           default=None),
        "profiles": Map(default={}),
    })


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
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "grid_search" not in value:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_override(doc, assignment):
    """Apply one `key.path=value` (value parsed as YAML data) to the document in place."""
    if "=" not in assignment:
        raise ConfigError(f"-o {assignment}: expected key.path=value")
    key, raw = assignment.split("=", 1)
    value = yaml.safe_load(raw)
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


@dataclass
class Experiment:
    """A validated experiment: the resolved document and the trials it expands to."""
    path: Path
    profile: str
    doc: dict
    trainable: object
    trials: list

    @property
    def names(self):
        return run_names(self.path, self.profile)


def load_experiment(name, profile=None, overrides=()):
    """Load, merge, validate, expand and pack an experiment YAML; raises ConfigError on bad input."""
    path = resolve_config_path(name)
    try:
        return _load(path, profile, overrides)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def _load(path, profile, overrides):
    raw = load_yaml(path)
    profiles = raw.get("profiles") or {}
    if profile is not None:
        if profile not in profiles:
            _fail("profiles", f"no profile {profile!r}; available: {', '.join(profiles) or 'none'}")
        raw = deep_merge(raw, profiles[profile])
    for assignment in overrides:
        apply_override(raw, assignment)
    trainable = resolve_trainable(raw.get("trainable", "supervised"))
    doc = document_schema().check(raw, "")
    configs = [trainable.schema.check(c, "config") for c in expand_variants(doc)]
    check_pack_axes(doc["pack"], trainable.packable)
    return Experiment(path, profile, doc, trainable, pack_trials(configs, doc["pack"], doc["max_members"]))


# ---------------------------------------------------------------------------------------------
# Grids and packing
# ---------------------------------------------------------------------------------------------
def expand_grid(node, path=""):
    """All concrete values of `node`: every {grid_search: [...]} at any depth is a product axis."""
    if isinstance(node, dict):
        if set(node) == {"grid_search"}:
            options = node["grid_search"]
            if not isinstance(options, list) or not options:
                _fail(_join(path, "grid_search"), "expected a non-empty list of values")
            return [v for option in options for v in expand_grid(option, path)]
        keys = list(node)
        choices = [expand_grid(node[k], _join(path, k)) for k in keys]
        return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]
    if isinstance(node, list):
        choices = [expand_grid(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return [list(combo) for combo in itertools.product(*choices)]
    return [node]


def expand_variants(doc):
    """The grid points of `config`, or the union over `variants` of the grids of config + variant."""
    variants = doc["variants"] or [{}]
    return [point for variant in variants
            for point in expand_grid(deep_merge(doc["config"], variant), "config")]


def _without(config, paths):
    """A copy of `config` with the given dotted paths removed."""
    out = copy.deepcopy(config)
    for dotted in paths:
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def check_pack_axes(pack, packable):
    """Each pack axis must be a path (or lie under a path) that the trainable can vary per member."""
    for axis in pack:
        if not any(axis == p or axis.startswith(p + ".") for p in packable):
            _fail("pack", f"{axis!r} cannot differ between members of one trial; "
                          f"packable: {', '.join(sorted(packable))}")


def pack_trials(configs, pack, max_members=0):
    """Group configs that are equal outside the `pack` axes; each group (split at max_members) is a
    trial: {"members": [config, ...]}. Order follows the grid."""
    groups = {}
    for config in configs:
        key = json.dumps(_without(config, pack), sort_keys=True)
        groups.setdefault(key, []).append(config)
    trials = []
    for members in groups.values():
        size = max_members or len(members)
        trials += [{"members": members[i:i + size]} for i in range(0, len(members), size)]
    return trials


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
# Components by name, seeds, paths
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


def resolve_trainable(spec):
    """A trainable by registered name (see bp_trainable.TRAINABLES) or module:attribute."""
    from bp_trainable import TRAINABLES
    if not isinstance(spec, str):
        _fail("trainable", f"expected a string, got {spec!r}")
    if spec in TRAINABLES:
        return TRAINABLES[spec]
    trainable = import_attribute(spec, "trainable")
    if not hasattr(trainable, "schema") or not hasattr(trainable, "packable"):
        _fail("trainable", f"{spec} lacks the `schema` and `packable` attributes a trainable needs")
    return trainable


def derive_seed(seed, stream):
    """An independent 63-bit seed for a named random stream ('init', 'data', ...) of a member."""
    state = np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(2, np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def results_dir():
    """$RESULTS_DIR, default ./results (absolute)."""
    return Path(os.environ.get("RESULTS_DIR", "results")).resolve()


def run_dir(experiment):
    """Where an experiment's Tune run and tidy tables live."""
    exp_name, run_name = experiment.names
    return results_dir() / exp_name / run_name
