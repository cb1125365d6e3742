"""An experiment: its YAML loaded into the trials it runs, the trainables it may name, and
`--show-config`.

The YAML is read and merged with a profile and the `-o` overrides (utils.load_document), validated as
a `schema.Document`, expanded over its `grid_search` axes (every grid point is validated by the
trainable's config model, `schema.SupervisedConfig` for `supervised`) and grouped into trials whose
members differ only in the packable values. Bad input is one line naming the file, the key path and
what is allowed there. Validated member configs are plain dicts with every default filled in.
"""
from dataclasses import dataclass
import importlib
import json
from pathlib import Path

from pydantic import BaseModel
import yaml

from config_errors import validate
from rules import packable
from schema import Document, SupervisedConfig
from utils import (ConfigError, about, check_pack_axes, expand_variants, experiment_attribute, load_document,
                   pack_trials, resolve_config_path)


# ---------------------------------------------------------------------------------------------
# Trainables and loading
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trainable:
    """What the loader needs of a trainable: where Ray finds it (module:attribute, a registered or
    checked name), its config model, its packable paths."""
    path: str
    schema: type
    packable: tuple

    def function(self):
        """The Ray trainable itself."""
        module, attribute = self.path.split(":")
        return getattr(importlib.import_module(module), attribute)


TRAINABLES = {"supervised": Trainable("trainables:supervised", SupervisedConfig, packable())}


def resolve_trainable(spec):
    """A registered trainable (TRAINABLES) or an experiment's own function carrying `schema` and
    `packable` (utils.experiment_attribute)."""
    if spec in TRAINABLES:
        return TRAINABLES[spec]
    if ":" not in spec:
        raise ConfigError(f"trainable: {spec!r} is not allowed; allowed: {', '.join(TRAINABLES)}, or an "
                          "experiment's own experiments.<experiment>.<module>:<function>")
    trainable = experiment_attribute(spec, "trainable", "function")
    schema = getattr(trainable, "schema", None)
    if not (isinstance(schema, type) and issubclass(schema, BaseModel) and hasattr(trainable, "packable")):
        raise ConfigError(f"trainable: {spec} needs a `schema` (a pydantic model of its config) "
                          f"and `packable` (the config paths members of a trial may differ in)")
    return Trainable(spec, schema, tuple(trainable.packable))


@dataclass
class Experiment:
    """A validated experiment: the resolved document, its trainable and the trials it expands to."""
    path: Path
    profile: str
    overrides: tuple
    doc: dict
    trainable: Trainable
    trials: list


def load_experiment(name, profile=None, overrides=()):
    """Load, merge, validate, expand and pack an experiment YAML; raises ConfigError on bad input."""
    path = resolve_config_path(name)
    with about(path):
        return _load(path, profile, tuple(overrides))


def _load(path, profile, overrides):
    doc = validate(Document, load_document(path, profile, overrides))
    trainable = resolve_trainable(doc["trainable"])
    configs = [validate(trainable.schema, c, "config") for c in expand_variants(doc)]
    check_pack_axes(doc["pack"], trainable.packable)
    if doc["packs_per_trial"] > 1 and any(c.get("save_weights") for c in configs):
        raise ConfigError("packs_per_trial: a run that keeps its weights (save_weights) needs one pack a trial")
    return Experiment(path, profile, overrides, doc, trainable,
                      pack_trials(configs, doc["pack"], doc["max_members"], doc["packs_per_trial"]))


# ---------------------------------------------------------------------------------------------
# Showing the resolved config
# ---------------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block mappings, except grids; lists of plain values on one line; folded long text."""


_Dumper.add_representer(dict, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data, flow_style=list(data) == ["grid_search"]))
_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=not any(isinstance(v, dict) for v in data)))
_Dumper.add_representer(str, lambda dumper, data: dumper.represent_scalar(
    "tag:yaml.org,2002:str", data, style=">" if "\n" in data else None))


def show_config(experiment):
    """The resolved document as YAML with every default filled in. Config values appear as the file
    writes them (grids included); what it leaves out appears as its value in every member, or, where
    that differs between members (derived from a grid, or set by variants), as the grid of its values."""
    members = [m for trial in experiment.trials for m in trial["members"]]
    doc = {k: v for k, v in experiment.doc.items() if k != "profiles"}
    doc["config"] = _shown(experiment.doc["config"], members)
    command = [str(experiment.path)] + ([f"--profile {experiment.profile}"] if experiment.profile else [])
    header = (f"# {' '.join(command + [f'-o {o}' for o in experiment.overrides])}\n"
              f"# {len(members)} member configs in {len(experiment.trials)} trials; defaults filled in\n")
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def _shown(written, members):
    """The mapping `written`, completed from the members' values of the same mapping."""
    shown = {}
    for key, value in members[0].items():
        section = isinstance(value, dict) and not _is_grid(written.get(key))
        if key in written and not section:
            shown[key] = written[key]
        elif section:
            shown[key] = _shown(written.get(key) or {}, [m[key] for m in members])
        else:
            values = list({json.dumps(m[key]): m[key] for m in members}.values())
            shown[key] = values[0] if len(values) == 1 else {"grid_search": values}
    return shown


def _is_grid(value):
    return isinstance(value, dict) and "grid_search" in value
