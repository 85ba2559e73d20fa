"""Checks of user settings: the type and range of each, with an error that
names the setting. spaCy validates a config against the factory's type hints
but passes the values on unconverted ("4" stays a string where an int
belongs), so a component checks its own settings when it is made.
"""

import math
from typing import Any, Iterable, Optional


class SettingError(ValueError):
    """A setting of the wrong type, out of range or unknown; `setting` names
    it, so that a caller (the server's 422) can point at the field."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """An integer (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(name, f"{name} must be an integer, not {describe(value)}")
    if value < minimum:
        raise SettingError(name, f"{name} must be at least {minimum}, not {value}")


def check_at_most(
    name: str, value: Any, limit_name: str, limit: Any, *, context: str = ""
) -> None:
    """A setting no greater than another one, each already checked alone."""
    if value > limit:
        raise SettingError(
            name, f"{name} ({value}) must not exceed {limit_name} ({limit}){context}"
        )


def check_number(
    name: str,
    value: Any,
    *,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    above: Optional[float] = None,
    below: Optional[float] = None,
) -> None:
    """A finite int or float (not a bool) in the given range: >= minimum,
    <= maximum, > above, < below."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(name, f"{name} must be a number, not {describe(value)}")
    if not math.isfinite(value):
        raise SettingError(name, f"{name} must be a finite number, not {value}")
    bounds = [
        (
            minimum,
            f">= {minimum}",
            value >= (minimum if minimum is not None else value),
        ),
        (
            maximum,
            f"<= {maximum}",
            value <= (maximum if maximum is not None else value),
        ),
        (above, f"> {above}", above is None or value > above),
        (below, f"< {below}", below is None or value < below),
    ]
    if not all(ok for _, _, ok in bounds):
        condition = " and ".join(text for bound, text, _ in bounds if bound is not None)
        raise SettingError(name, f"{name} must be {condition}, not {value}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SettingError(name, f"{name} must be true or false, not {describe(value)}")


def check_text(
    name: str, value: Any, *, choices: Optional[Iterable[str]] = None
) -> None:
    """A string; one of `choices` if given, else non-empty."""
    if not isinstance(value, str):
        raise SettingError(name, f"{name} must be a string, not {describe(value)}")
    if choices is not None and value not in choices:
        raise SettingError(
            name,
            f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}",
        )
    if choices is None and not value:
        raise SettingError(name, f"{name} must not be empty")


def describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"
