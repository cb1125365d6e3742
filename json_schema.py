"""JSON Schema of an experiment YAML, for editors (validation, completion); the YAMLs point at it.

    python json_schema.py > experiments/schema.json
"""
import json

from schema import Document, SupervisedConfig
from utils import OWN_NAME


_GRID = {"$ref": "#/$defs/Grid"}
_OWN_TASK = {"type": "object", "description": "an experiment's own task: its Config (checked by "
             "main.py) says which other keys it takes",
             "properties": {"name": {"type": "string", "pattern": "^" + OWN_NAME.pattern + "$"}}}


def json_schema():
    """JSON Schema of an experiment YAML for the supervised trainable: the document, whose `config`,
    variants and profiles are partial configs (no key required) where any value may be a grid."""
    doc, config = Document.model_json_schema(), SupervisedConfig.model_json_schema()
    defs = {name: _partial(d, grid=True) for name, d in config.pop("$defs").items()}
    defs["SupervisedConfig"] = _partial(config, grid=True)
    defs["SupervisedConfig"]["properties"]["data"]["anyOf"][0]["anyOf"].append(_OWN_TASK)
    properties = doc["properties"]
    properties["config"] = {"description": properties["config"]["description"],
                            "$ref": "#/$defs/SupervisedConfig"}
    properties["variants"]["anyOf"][0]["items"] = {"$ref": "#/$defs/SupervisedConfig"}
    defs["Profile"] = _partial({**doc, "properties": {k: v for k, v in properties.items() if k != "profiles"}},
                               grid=False)
    properties["profiles"]["additionalProperties"] = {"$ref": "#/$defs/Profile"}
    defs.update(doc.pop("$defs"), Grid={
        "type": "object", "required": ["grid_search"], "additionalProperties": False,
        "description": "an axis of the grid: one config per value, or per integer of a range",
        "properties": {"grid_search": {"anyOf": [
            {"type": "array", "minItems": 1},
            {"type": "object", "required": ["range"], "additionalProperties": False,
             "properties": {"range": {"type": "array", "items": {"type": "integer"},
                                      "minItems": 2, "maxItems": 3}}}]}}})
    return _standard_bounds({"$schema": "https://json-schema.org/draft/2020-12/schema", **doc, "$defs": defs})


_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _standard_bounds(schema):
    """Pydantic writes the bounds of an annotated `Number` as gt/ge/lt/le: JSON Schema's names."""
    if isinstance(schema, list):
        return [_standard_bounds(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {_BOUNDS.get(k, k) if not isinstance(v, (dict, list)) else k: _standard_bounds(v)
            for k, v in schema.items()}


def _partial(schema, grid):
    """An object schema without required keys; with `grid`, every value may also be a grid."""
    out = {k: v for k, v in schema.items() if k != "required"}
    if grid and "properties" in out:
        out["properties"] = {key: _or_grid(value) for key, value in out["properties"].items()}
    return out


def _or_grid(schema):
    shared = {k: schema[k] for k in ("title", "description", "default") if k in schema}
    return {**shared, "anyOf": [_grids_inside({k: v for k, v in schema.items() if k not in shared}), _GRID]}


def _grids_inside(schema):
    """A value schema whose list items (at any depth) may also be grids, as expand_grid allows."""
    if "oneOf" in schema:   # partial choices may match several alternatives (and name no discriminator)
        schema = {**{k: v for k, v in schema.items() if k != "oneOf"}, "anyOf": schema["oneOf"]}
    out = dict(schema)
    if "anyOf" in out:
        out["anyOf"] = [_grids_inside(option) for option in out["anyOf"]]
    if isinstance(out.get("items"), dict):
        out["items"] = {"anyOf": [_grids_inside(out["items"]), _GRID]}
    return out


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2))
