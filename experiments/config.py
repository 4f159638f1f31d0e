"""Typed, frozen experiment configs: presets, TOML files and `--set key=value` overrides.

An experiment declares a frozen dataclass whose `__post_init__` validates each field (raising a
ConfigError naming the key and the allowed values) and a dict of presets. `build_config` starts
from a preset, applies a TOML file and then the overrides, coercing each value to the field's type.
"""

from __future__ import annotations

import dataclasses
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


def build_config(
    cls,
    presets: Mapping[str, Mapping[str, Any]],
    preset: str = "default",
    file: str | Path | None = None,
    overrides: list[str] | None = None,
):
    """preset → TOML file → overrides, each key checked against the dataclass's fields."""
    if preset not in presets:
        raise ConfigError(f"preset must be one of {sorted(presets)}, got {preset!r}")
    kinds = _field_types(cls)
    values: dict[str, Any] = dict(presets[preset])

    def apply(source: Mapping[str, Any], where: str):
        for key, value in source.items():
            if key not in kinds:
                raise ConfigError(f"unknown config key {key!r} in {where}; allowed keys: {sorted(kinds)}")
            values[key] = coerce(key, value, kinds[key])

    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise ConfigError(f"cannot read config file {file}: {err}") from None
        data.pop("preset", None)
        apply(data, str(file))
    apply(parse_overrides(overrides or []), "--set")
    values = {k: coerce(k, v, kinds[k]) for k, v in values.items()}
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(str(err)) from None


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
