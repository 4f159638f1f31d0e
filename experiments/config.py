"""Typed, frozen experiment configs: presets, TOML files and `--set key=value` overrides.

An experiment declares a frozen dataclass whose `__post_init__` validates each field (raising a
ConfigError naming the key and the allowed values) and a dict of presets. `build_config` starts
from a preset, applies a TOML file and then the overrides, coercing each value to the field's type.
A TOML file holds top-level keys only (no sections); its `preset = "..."` key picks the preset its
other keys override. `dump_toml` writes a config back as such a file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A bad config key or value; the message names the key and what is allowed."""


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _parse_literal(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def coerce(key: str, value: Any, kind: Any) -> Any:
    """Coerce `value` (from TOML or the command line) to the annotated type `kind`."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return coerce(key, value, inner[0])
    if origin is tuple:
        item = args[0]
        if isinstance(value, str):
            parsed = _parse_literal(value)
            value = parsed if isinstance(parsed, list) else [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(coerce(key, v, item) for v in value)
    if isinstance(value, str) and kind is not str:
        value = _parse_literal(value)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            raise TypeError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ConfigError(f"config key {key!r} must be of type {getattr(kind, '__name__', kind)}, got {value!r}")


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def read_config_file(file: str | Path) -> dict[str, Any]:
    """The top-level table of a TOML config file; a ConfigError naming the file if unreadable."""
    try:
        return tomllib.loads(Path(file).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read config file {file}: {err}") from None


def resolve_config(
    cls,
    presets: Mapping[str, Mapping[str, Any]],
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: list[str] | None = None,
):
    """(config, preset name): preset → TOML file → overrides, each key checked against the fields.

    The preset is `preset` if given, else the file's `preset = "..."` key, else "default"; a file
    naming another preset than an explicit `preset` is an error, not a silent choice."""
    kinds = _field_types(cls)
    data: dict[str, Any] = {}
    if file is not None:
        data = read_config_file(file)
        if "preset" in data:
            named = data.pop("preset")
            if not isinstance(named, str):
                raise ConfigError(f"config key 'preset' in {file} must be a preset name (one of {sorted(presets)}), got {named!r}")
            if named not in presets:
                raise ConfigError(f"config key 'preset' in {file} must be one of {sorted(presets)}, got {named!r}")
            if preset is not None and preset != named:
                raise ConfigError(f"option --preset {preset!r} contradicts preset = {named!r} in {file}; give the preset once")
            preset = named
    if preset is None:
        preset = "default"
    if preset not in presets:
        raise ConfigError(f"preset must be one of {sorted(presets)}, got {preset!r}")
    values: dict[str, Any] = dict(presets[preset])

    def apply(source: Mapping[str, Any], where: str):
        for key, value in source.items():
            if isinstance(value, dict):
                raise ConfigError(f"unknown section [{key}] in {where}; a config file holds top-level keys only: {sorted(kinds)}")
            if key not in kinds:
                raise ConfigError(f"unknown config key {key!r} in {where}; allowed keys: {sorted(kinds)}")
            values[key] = coerce(key, value, kinds[key])

    apply(data, str(file))
    apply(parse_overrides(overrides or []), "--set")
    values = {k: coerce(k, v, kinds[k]) for k, v in values.items()}
    try:
        return cls(**values), preset
    except TypeError as err:
        raise ConfigError(str(err)) from None


def build_config(
    cls,
    presets: Mapping[str, Mapping[str, Any]],
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: list[str] | None = None,
):
    """preset → TOML file → overrides, each key checked against the dataclass's fields (see
    `resolve_config`; `preset=None` lets the file's `preset = "..."` choose)."""
    return resolve_config(cls, presets, preset, file, overrides)[0]


def field_types(cls) -> dict[str, Any]:
    """Field name → annotated type, in declaration order."""
    return _field_types(cls)


def type_name(kind: Any) -> str:
    """`int`, `float`, `tuple[int, ...]`, `str | None`: a field's type as a user reads it."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " | ".join(type_name(a) for a in args)
    if origin is tuple:
        return f"tuple[{type_name(args[0])}, ...]" if len(args) == 2 and args[1] is Ellipsis else f"tuple[{', '.join(type_name(a) for a in args)}]"
    if kind is type(None):
        return "None"
    return getattr(kind, "__name__", str(kind))


def toml_value(value: Any) -> str:
    """One config value as a TOML literal that `coerce` reads back to the same value (None is
    written as "none", which an optional field reads as None)."""
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def config_values(config) -> dict[str, Any]:
    """Field name → value of a config dataclass, in declaration order (no deep copy)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def dump_toml(config, *, preset: str | None = None, comments: list[str] = ()) -> str:
    """The config as a TOML file `--config` reads back to an equal config: every key, plus
    `preset = "..."` when given (the file's keys then override that preset's)."""
    lines = [f"# {c}" if c else "#" for text in comments for c in str(text).splitlines()]
    if preset is not None:
        lines.append(f"preset = {toml_value(preset)}")
    lines += [f"{key} = {toml_value(value)}" for key, value in config_values(config).items()]
    return "\n".join(lines) + "\n"


def check_choice(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"config key {key!r} must be one of {list(allowed)}, got {value!r}")


def check_choices(key: str, values, allowed) -> None:
    if not values:
        raise ConfigError(f"config key {key!r} must list at least one of {list(allowed)}")
    for value in values:
        if value not in allowed:
            raise ConfigError(f"config key {key!r} must list values from {list(allowed)}, got {value!r}")


def check_range(key: str, value, low=None, high=None, low_open=False, high_open=False) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {key!r} must be a finite number, got {value!r}")
    bad = (low is not None and (value <= low if low_open else value < low)) or (
        high is not None and (value >= high if high_open else value > high)
    )
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(
            f"config key {key!r} must lie in {lo}{'-inf' if low is None else low}, "
            f"{'inf' if high is None else high}{hi}, got {value!r}"
        )
