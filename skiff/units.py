"""Sizes and durations as Docker words them (go-units' ``HumanSize`` and
``HumanDuration``): shared by the engine's status texts and the CLI's tables."""

from __future__ import annotations

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _go_g(value: float, precision: int) -> str:
    """Go's ``%.<precision>g`` (the same as Python's for finite values)."""
    return f"{value:.{precision}g}"


def human_size_precision(size: float, precision: int) -> str:
    """go-units HumanSizeWithPrecision: decimal units, ``precision`` significant digits."""
    unit = 0
    while size >= 1000.0 and unit < len(_DECIMAL_UNITS) - 1:
        size /= 1000.0
        unit += 1
    return _go_g(size, precision) + _DECIMAL_UNITS[unit]


def human_size(size: float) -> str:
    """go-units HumanSize: ``HumanSizeWithPrecision(size, 4)``."""
    return human_size_precision(size, 4)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration of a duration in seconds."""
    nanos = int(seconds * 1e9)
    whole = int(nanos / 1e9)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(nanos / 60e9)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hour = 3600 * 10**9
    rounded = (nanos + hour // 2) // hour  # time.Duration.Round: halves away from zero
    hours = int(rounded)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(nanos / hour) // 24 // 365} years"
