"""The protocol's side of the settings: read from the client, and the JSON schema.

The settings themselves are `incls.reading.settings.Settings`; the VS Code extension's
contributed settings mirror `json_schema()` (print it with
`python -m incls.lsp.settings --json`). Clients send them as initializationOptions
or workspace/didChangeConfiguration, nested (`{"incls": {"severity": "hint"}}`),
flat (`{"severity": "hint"}`) or dotted (`{"incls.severity": "hint"}`). Unknown keys
and values of the wrong type (NaN and infinities included) are ignored and reported,
never fatal. An unknown key is reported with the nearest known name when it is ours:
under the `incls` section, or flat and close to one of our names (other tools' settings
travel in the same object, and are not ours to judge).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import sys

from ..reading.messages import QUOTE, quoted, shortened
from ..reading.settings import Settings, default_value

SECTION = "incls"
# the VS Code extension's own settings (vscode-client/src/client-settings.json), sent along in the section
CLIENT_KEYS = frozenset({"server", "languages", "trace"})


_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object"}


class Problem(str):
    """A value that was ignored: the message (`incls.NAME: ...`, the client's values quoted
    short), and `setting`, the name it is about (the server shows one popup per setting)."""

    setting: str

    def __new__(cls, setting: str, message: str) -> Problem:
        problem = super().__new__(cls, f"{SECTION}.{message}")
        problem.setting = setting
        return problem


def _merge_map(f: dataclasses.Field, value: dict, problems: list[Problem]) -> dict:
    """A {kind: mode} setting over its default: unknown kinds and modes are reported and skipped."""
    merged = default_value(f)
    keys, values = f.metadata.get("keys"), f.metadata["values"]
    for key, mode in value.items():
        if keys is not None and key not in keys:
            problems.append(Problem(f.name, f"{f.name}: unknown kind {quoted(key)} (one of {list(keys)})"))
        elif mode not in values:
            problems.append(
                Problem(f.name, f"{f.name}.{shortened(str(key))}: expected one of {list(values)}, got {quoted(mode)}")
            )
        else:
            merged[key] = mode
    return merged


def _flatten(raw: object) -> dict:
    """Accept nested, flat or dotted keys; return {name: (value, ours)} without the section
    prefix, `ours` saying that the key came under our section."""
    if not isinstance(raw, dict):
        return {}
    flat = {}
    for key, value in raw.items():
        if key == SECTION and isinstance(value, dict):
            flat.update({k: (v, True) for k, v in value.items()})
        elif isinstance(key, str) and key.startswith(SECTION + "."):
            flat[key[len(SECTION) + 1 :]] = (value, True)
        else:
            flat[key] = (value, False)
    return flat


def _unknown(key: object, ours: bool, names: list[str]) -> Problem | None:
    """The problem with a key that is no setting of ours, or None if it is not ours to judge."""
    if not isinstance(key, str) or key.split(".")[0] in CLIENT_KEYS:
        return None
    near = difflib.get_close_matches(key[: 4 * QUOTE], names, n=1, cutoff=0.75 if ours else 0.85)
    if not ours and not near:
        return None
    hint = f"; did you mean {SECTION}.{near[0]}?" if near else ""
    return Problem(shortened(key), f"{shortened(key)}: unknown setting{hint}")


def merge(base: Settings, raw: object) -> tuple[Settings, list[Problem]]:
    """`base` updated by the client's values; also the list of values that were ignored, and why."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    changes: dict = {}
    problems: list[Problem] = []
    for key, (value, ours) in _flatten(raw).items():
        f = fields.get(key)
        if f is None:
            if (problem := _unknown(key, ours, list(fields))) is not None:
                problems.append(problem)
            continue
        kind = type(default_value(f))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is float and isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(key, f"{key}: expected a finite number, got {quoted(value)}"))
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(Problem(key, f"{key}: expected a {_TYPES[kind]}, got {quoted(value)}"))
            continue
        if kind is dict:
            changes[key] = _merge_map(f, value, problems)
            continue
        if "enum" in f.metadata and value not in f.metadata["enum"]:
            problems.append(Problem(key, f"{key}: expected one of {list(f.metadata['enum'])}, got {quoted(value)}"))
            continue
        low, high = f.metadata.get("minimum"), f.metadata.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            problems.append(Problem(key, f"{key}: {quoted(value)} is out of range"))
            continue
        changes[key] = value
    return base.replace(**changes), problems


def from_environment(base: Settings = Settings()) -> Settings:
    """INCLS_FULL_RECOMPUTE=1 forces full recompute (the latency benchmark's baseline)."""
    if os.environ.get("INCLS_FULL_RECOMPUTE", "") not in ("", "0"):
        base = base.replace(fullRecompute=True)
    return base


def json_schema() -> dict:
    """The settings as VS Code's `contributes.configuration` expects them."""
    properties = {}
    for f in dataclasses.fields(Settings):
        default = default_value(f)
        entry = {"type": _TYPES[type(default)], "default": default, "description": f.metadata["description"]}
        if isinstance(default, dict):
            mode = {"type": "string", "enum": list(f.metadata["values"])}
            if "keys" in f.metadata:
                entry["properties"] = {k: mode for k in f.metadata["keys"]}
                entry["additionalProperties"] = False
            else:
                entry["additionalProperties"] = mode
        for key in ("enum", "minimum", "maximum"):
            if key in f.metadata:
                entry[key] = list(f.metadata[key]) if key == "enum" else f.metadata[key]
        properties[f"{SECTION}.{f.name}"] = entry
    return {"title": "incls", "type": "object", "properties": properties}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    schema = json_schema()
    if "--json" in argv:
        print(json.dumps(schema, indent=2))
    else:
        for name, entry in schema["properties"].items():
            print(f"{name} ({entry['type']}, default {entry['default']!r}): {entry['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
