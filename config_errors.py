"""Pydantic's validation errors as one line: the key path in the file, what is wrong, what is allowed.

A model's own checks raise `error_at(key, message)`; `validate` turns the first error pydantic
collects into `<key path>: <message>` (e.g. `config.model.activation: 'relU' is not allowed; allowed:
identity, sigmoid, ...`), raised as a ConfigError that the loader prefixes with the file.
"""
import re

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from utils import ConfigError


def error_at(key, message):
    """A validation error at `key`, a dotted path below the value being validated ('' for itself)."""
    return PydanticCustomError("config", "{message}", {"key": key, "message": message})


_MESSAGES = {
    "int_type": "expected an integer, got {input!r}",
    "float_type": "expected a number, got {input!r}",
    "bool_type": "expected true or false, got {input!r}",
    "string_type": "expected a string, got {input!r}",
    "list_type": "expected a list, got {input!r}",
    "dict_type": "expected a mapping, got {input!r}",
    "literal_error": "{input!r} is not allowed; allowed: {allowed}",
    "greater_than": "must be > {gt}, got {input}",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "too_short": "needs at least {min_length} entries, got {actual_length}",
    "string_pattern_mismatch": "must match the pattern {pattern}, got {input!r}",
}


def validate(model, value, root=""):
    """`value` checked by `model` and dumped as a plain dict with every default filled in; a
    ConfigError naming the key path (below `root`) otherwise."""
    try:
        return model.model_validate(value).model_dump()
    except ValidationError as error:
        raise ConfigError(_describe(error.errors(), value, root)) from None


def _describe(errors, value, root):
    """The first error in one line. A union's alternatives that all failed on their type are
    joined with 'or'; otherwise the alternative that got furthest speaks."""
    located = [(*_locate(e, value), e) for e in errors]
    path, branch, first = located[0]
    if branch is not None:
        alternatives = [(p, e) for p, b, e in located if b == branch]
        specific = [(p, e) for p, e in alternatives if not _is_mismatch(e) or len(p) > len(branch)]
        if specific:
            path, first = specific[0]
        else:
            messages = dict.fromkeys(_message(e) for _, e in alternatives)
            return f"{_join(root, branch)}: {' or '.join(messages)}"
    return f"{_join(root, path)}: {_message(first)}"


def _locate(error, value):
    """(dotted key path, path of the first union it went through or None) of a pydantic error.

    Pydantic's location also names union alternatives ('float', 'list[...]', a stream's name);
    walking the input tells them from keys."""
    parts, branch, node = [], None, value
    for i, part in enumerate(error["loc"]):
        if isinstance(node, dict) and part in node or (
                isinstance(node, list) and isinstance(part, int) and part < len(node)):
            parts.append(part)
            node = node[part]
        elif isinstance(node, dict) and node.get("name") == part:
            continue                                                 # the choice `name` made
        elif (node is None or isinstance(node, dict)) and i == len(error["loc"]) - 1 and not _is_label(part):
            parts.append(part)                                       # a key not given
        elif branch is None:
            branch = _dotted(parts)                                  # an alternative of a union
    key = (error.get("ctx") or {}).get("key")
    return _join(_dotted(parts), key) if key else _dotted(parts), branch


def _is_label(part):
    """Whether a location part names a union alternative ("literal['last','all']", a model's class
    name such as "StepRange"), not a key."""
    return isinstance(part, str) and (any(c in part for c in "[]'") or part[:1].isupper() and part[1:2].islower())


def _is_mismatch(error):
    return error["type"].endswith("_type") or error["type"] == "literal_error"


def _message(error):
    template = _MESSAGES.get(error["type"])
    if template is None:
        return error["msg"]
    ctx = error.get("ctx") or {}
    allowed = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    return template.format(input=error["input"], allowed=allowed, **ctx)


def _dotted(parts):
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
    return path


def _join(path, key):
    return f"{path}.{key}" if path and key else path or str(key)
