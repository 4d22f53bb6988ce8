"""Checks of the values a user passes, shared by every builder: each failure is a
:class:`~fabricsim.SpecError` naming the field, the value and what is allowed."""

from __future__ import annotations

import operator
from typing import Any

from fabricsim.errors import SpecError


def whole_number(path: str, value: Any, low: int, high: int) -> int:
    """``value`` as an ``int`` in ``low..=high``: Python and numpy integers pass; a bool, a
    float (even ``4.0``) or a string does not."""
    n: int | None
    try:
        n = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        n = None
    if n is None or not low <= n <= high:
        raise SpecError(f"{path}: must be an integer in {low}..={high}, got {value!r}", path=path)
    return n


def one_of(path: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed`` (names, compared exactly)."""
    if not isinstance(value, str) or value not in allowed:
        raise SpecError(f"{path}: must be one of {', '.join(allowed)}, got {value!r}", path=path)
    return value


def flag(path: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise SpecError(f"{path}: must be True or False, got {value!r}", path=path)
    return value


__all__ = ["flag", "one_of", "whole_number"]
