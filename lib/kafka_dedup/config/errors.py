"""ConfigError, and pydantic's validation errors turned into one line naming the key and the fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from kafka_dedup.errors import UserError

_UNSET: Any = object()
# What a value should have been, by pydantic error type, for errors no validator of ours raised.
EXPECTED = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "float_parsing": "a number",
    "float_type": "a number",
    "dict_type": "a table of key = value",
    "list_type": "a list of strings",
    "tuple_type": "a list of strings",
    "dataclass_type": "a table",
    "dataclass_args_type": "a table",
}


class ConfigError(UserError):
    """A configuration value is invalid; the message is one line naming the key and the fix."""


class InvalidValueError(ValueError):
    """A validator's verdict: the fix, the value to show (if any), and a sub-key it concerns."""

    def __init__(self, fix: str, value: Any = _UNSET, key: str = "") -> None:
        super().__init__(fix)
        self.fix, self.value, self.key = fix, value, key


def unknown_key(known: Iterable[str], raw: Mapping[str, Any]) -> str | None:
    """The first key of raw (sorted) that is not known, or None."""
    unknown = sorted(str(key) for key in raw if key not in set(known))
    return unknown[0] if unknown else None


def reject_unknown_keys(known: list[str], data: Any) -> Any:
    """data itself, when it is not a table or holds only known keys; else the one-line verdict."""
    unknown = unknown_key(known, data) if isinstance(data, Mapping) else None
    if unknown is not None:
        raise InvalidValueError(f"unknown key {unknown!r}; known keys: {', '.join(sorted(known))}")
    return data


def one_line(exc: ValidationError, section: str, raw: Any) -> ConfigError:
    """The first of pydantic's errors as '<section>.<key> = <value>: <fix>'."""
    error = exc.errors()[0]
    where = _where(section, error["loc"], raw)
    problem = error.get("ctx", {}).get("error")
    if error["type"] == "missing":
        return ConfigError(f"{where}: required")
    if not isinstance(problem, InvalidValueError):
        expected = EXPECTED.get(error["type"], error["msg"].lower())
        return ConfigError(f"{where} = {error['input']!r}: expected {expected}")
    if problem.key:
        where = f"{where}.{problem.key}"
    if problem.value is _UNSET:
        return ConfigError(f"{where}: {problem.fix}")
    return ConfigError(f"{where} = {problem.value!r}: {problem.fix}")


def _where(section: str, loc: tuple[int | str, ...], raw: Any) -> str:
    """'reconcile.sources[payments].format' for loc ('sources', 0, 'format') in section."""
    where, node = section, raw
    for i, step in enumerate(loc):
        node = _child(node, step)
        if isinstance(step, str):
            where = f"{where}.{step}"
            continue
        # an entry of a list of tables is named by its `name` while that is not what is wrong
        name = node.get("name") if isinstance(node, Mapping) else getattr(node, "name", None)
        named = isinstance(name, str) and name and loc[i + 1 : i + 2] != ("name",)
        where = f"{where}[{name if named else step}]"
    return where


def _child(node: Any, step: int | str) -> Any:
    if isinstance(node, Mapping):
        return node.get(step)
    if isinstance(node, (list, tuple)) and isinstance(step, int) and step < len(node):
        return node[step]
    return getattr(node, str(step), None)
