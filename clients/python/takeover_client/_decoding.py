"""Answers read in full or not at all: every field present and of its type, else
UnreadableAnswer. Fields the client does not know are ignored, so a newer server's
additions do not break an older client."""

from __future__ import annotations

import dataclasses
import json
import types
from datetime import date, datetime
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from takeover_client._errors import UnreadableAnswer

Answer = TypeVar("Answer")


def decode(kind: type[Answer], body: bytes) -> Answer:
    """`body`, a 200's JSON text, as the dataclass `kind`."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past any stack
        raise _unreadable("answer", "not JSON") from None
    decoded: Answer = _decode(kind, value, "answer")
    return decoded


@cache
def _fields(kind: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) of each field of the dataclass `kind`."""
    hints = get_type_hints(kind)
    return tuple(
        (field.name, hints[field.name], field.default is dataclasses.MISSING)
        for field in dataclasses.fields(kind)
    )


def _decode(kind: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind, value, where)
    if origin in (Union, types.UnionType):  # X | None
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _decode(inner, value, where)
    if origin is Literal:
        # By type too: 1 == True, but 1 is not the literal True.
        if any(type(value) is type(arg) and value == arg for arg in args):
            return value
        raise _unreadable(where, f"not one of {', '.join(map(repr, args))}")
    if origin is tuple:  # tuple[X, ...]: a JSON array
        if not isinstance(value, list):
            raise _unreadable(where, "not an array")
        return tuple(_decode(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if kind is datetime:
        return _time(value, where)
    if kind is date:
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise _unreadable(where, "not a date") from None
    if kind is float and type(value) in (int, float):
        return float(value)
    if kind in (str, int, bool) and type(value) is kind:  # bool is not an int here
        return value
    raise _unreadable(where, f"not {getattr(kind, '__name__', kind)}")


def _dataclass(kind: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise _unreadable(where, "not an object")
    fields: dict[str, Any] = {}
    for name, field_type, required in _fields(kind):
        if name in value:
            fields[name] = _decode(field_type, value[name], f"{where}.{name}")
        elif required:
            raise _unreadable(f"{where}.{name}", "missing")
    return kind(**fields)


def _time(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _unreadable(where, "not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _unreadable(where, "a time without its offset")
    return moment


def _unreadable(where: str, problem: str) -> UnreadableAnswer:
    return UnreadableAnswer(200, "unreadable_answer", f"The {where} is {problem}.")
