"""Checks of single constructor arguments. Each raises `BadValue` naming the argument, so the
constructor that owns a value is the one place that checks it (the entry points add the config
group to the name)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from predrnn.errors import BadValue


def integer(key: str, value: Any, example: object, minimum: int | None = None, odd: bool = False) -> int:
    """An int (not a bool or float) of at least `minimum`, odd if asked."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(key, value, "must be an integer", example)
    if minimum is not None and value < minimum:
        raise BadValue(key, value, f"must be at least {minimum}", example)
    if odd and value % 2 == 0:
        raise BadValue(key, value, "must be odd (for 'same' padding)", example)
    return value


def number(
    key: str, value: Any, example: object, minimum: float | None = None, positive: bool = False,
    below: float | None = None, maximum: float | None = None,
) -> float:  # fmt: skip
    """A real number (int or float, not a bool or string) in the given range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadValue(key, value, "must be a number", example)
    value = float(value)
    if value != value:
        raise BadValue(key, value, "must be a number, not NaN", example)
    if positive and value <= 0:
        raise BadValue(key, value, "must be positive", example)
    if minimum is not None and value < minimum:
        raise BadValue(key, value, f"must be >= {minimum}", example)
    if maximum is not None and value > maximum:
        raise BadValue(key, value, f"must be <= {maximum}", example)
    if below is not None and value >= below:
        raise BadValue(key, value, f"must be < {below}", example)
    return value


def choice(key: str, value: Any, options: Iterable[Any], example: object | None = None) -> Any:
    """One of `options` (None among them where null is allowed)."""
    options = tuple(options)
    if value not in options:
        shown = ", ".join("null" if o is None else str(o) for o in options)
        raise BadValue(key, value, f"is unknown: use one of {shown}", example)
    return value


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue(key, value, "must be true or false", "true")
    return value


def pair(key: str, value: Any, example: object) -> tuple[int, int]:
    """An int n (meaning n × n) or [height, width] of positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    try:
        values = tuple(integer(key, v, example, minimum=1) for v in value)
    except TypeError:
        raise BadValue(key, value, "must be an int or [height, width]", example) from None
    if len(values) != 2:
        raise BadValue(key, list(value), "must be an int or [height, width]", example)
    return values  # type: ignore[return-value]
