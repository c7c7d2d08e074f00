"""Records back from their `to_json()` form, for replay: every field checked against
its type, so a foreign or damaged line is an error here and never a crash later in
a model or a pane."""

from __future__ import annotations

import functools
import math
import types
import typing
from dataclasses import MISSING, fields
from typing import Any

from bpftop.core.histogram import LatencySummary
from bpftop.core.records import (
    ProbeStatus,
    Record,
    SyscallRow,
)

# Every record type by its JSON "type" (records.py: each class names its own).
RECORD_TYPES: dict[str, type] = {cls.TYPE: cls for cls in typing.get_args(Record)}
LIMIT = 2**63  # no field holds more; bigger (or NaN, inf) is a damaged or foreign line


class DecodeError(ValueError):
    pass


def record_from_json(obj: object) -> Record:
    if not isinstance(obj, dict):
        raise DecodeError("not a JSON object")
    kind = obj.get("type")
    cls = RECORD_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DecodeError(f"unknown record type {kind!r}")
    if cls is ProbeStatus and isinstance(obj.get("skipped"), dict):
        obj = {**obj, "skipped": [list(kv) for kv in obj["skipped"].items()]}
    return typing.cast(Record, _build(cls, obj))


def _build(cls: type, obj: dict[str, Any]) -> Any:
    hints = _hints(cls)
    values = {}
    for f in fields(cls):
        if f.name in obj:
            values[f.name] = _convert(obj[f.name], hints[f.name], f.name)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise DecodeError(f"{cls.__name__} without {f.name!r}")
    return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, tp: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, name)
            except DecodeError as exc:
                errors.append(str(exc))
        raise DecodeError(errors[0] if errors else f"{name}: bad value")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < LIMIT:
            return value
    elif tp is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and math.isfinite(value) and abs(value) < LIMIT:
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is LatencySummary:
        if isinstance(value, dict):
            return _build(LatencySummary, value)
    elif tp is SyscallRow:
        if isinstance(value, dict):
            return _build(SyscallRow, value)
    elif origin is tuple and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], name) for v in value)
        if len(value) == len(args):
            return tuple(_convert(v, a, name) for v, a in zip(value, args, strict=True))
    elif origin is list and isinstance(value, list):
        return [_convert(v, args[0], name) for v in value]
    elif origin is dict and isinstance(value, dict):
        return {_convert(k, args[0], name): _convert(v, args[1], name) for k, v in value.items()}
    raise DecodeError(f"{name}: expected {getattr(tp, '__name__', tp)}, got {_kind(value)}")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
