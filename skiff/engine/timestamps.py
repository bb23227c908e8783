"""Times as Docker takes and prints them: ``--since``/``--until`` values (of ``logs`` and
``events``) and RFC 3339 with nanoseconds.

A ``--since``/``--until`` value is what the docker CLI's ``GetTimestamp`` accepts, read
the way the daemon then reads it: a Go duration before now (``10m``, ``1h30m``, whole
seconds as Docker truncates them), an RFC 3339 date or date-time (``2024-01-02``,
``2024-01-02T15:04``, with or without a zone: without one it is local time), or a unix
timestamp with an optional fraction (``1700000000.5``). Times are nanoseconds since the
epoch. Bad values get Docker's messages, including Go's ``time.Parse`` errors.
"""

from __future__ import annotations

import time

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
# Patterns as text: ``re`` is imported where one is used (``ps`` and ``logs`` need none).
_DURATION_PART = r"([0-9]*)(\.[0-9]*)?([^0-9.]+)"


class TimeValueError(ValueError):
    """A ``--since``/``--until`` value Docker would refuse; the message is Docker's."""


def go_duration(text: str) -> int | None:
    """Go's ``time.ParseDuration`` in nanoseconds, or None when ``text`` is not one."""
    body = text
    sign = 1
    if body[:1] in ("-", "+"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        return None
    import re

    total = 0
    position = 0
    while position < len(body):
        match = re.compile(_DURATION_PART).match(body, position)
        if match is None:
            return None
        whole, fraction, unit = match.groups()
        digits = fraction[1:] if fraction else ""
        if (not whole and not digits) or unit not in _DURATION_UNITS:
            return None
        scale = _DURATION_UNITS[unit]
        total += int(whole or 0) * scale
        if digits:
            total += int(digits) * scale // 10 ** len(digits)
        position = match.end()
    return sign * total


# --- Go's time.Parse, for the layouts GetTimestamp uses ------------------------------------

_STD = r"(2006|01|02|15|04|05|\.999999999|Z07:00)"

RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
RFC3339 = "2006-01-02T15:04:05Z07:00"
_LOCAL_NANO = "2006-01-02T15:04:05.999999999"
_LOCAL = "2006-01-02T15:04:05"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Bad(Exception):
    def __init__(self, element: str, rest: str, message: str = "") -> None:
        self.element = element
        self.rest = rest
        self.message = message


def _getnum(text: str, fixed: bool) -> tuple[int, str]:
    if not text[:1].isdigit():
        raise ValueError
    if not text[1:2].isdigit():
        if fixed:
            raise ValueError
        return int(text[0]), text[1:]
    return int(text[:2]), text[2:]


def _fraction(text: str) -> tuple[int, str]:
    """``.ddd...``: nanoseconds (digits past the ninth ignored, as Go does) and the rest."""
    n = 1
    while n < len(text) and text[n].isdigit():
        n += 1
    digits = text[1:n][:9]
    return int(digits.ljust(9, "0")), text[n:]


def go_parse(layout: str, value: str, local_offset: int) -> int:
    """Go's ``time.Parse`` (``ParseInLocation`` with a fixed zone of ``local_offset``
    seconds when the layout has no zone) for the layouts above; nanoseconds since the
    epoch. Raises TimeValueError with Go's message."""
    import re

    parts = re.split(_STD, layout)
    fields = {"year": 1, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "nanos": 0}
    rest = value
    try:
        for index, piece in enumerate(parts):
            if index % 2 == 0:  # the literal text before the next element
                for char in piece:
                    if rest[:1] != char:
                        raise _Bad(piece, rest)
                    rest = rest[1:]
                continue
            hold = rest
            following = parts[index + 2] if index + 2 < len(parts) else ""
            try:
                rest, range_error = _element(piece, rest, fields, following)
            except ValueError:
                raise _Bad(piece, hold) from None
            if range_error:
                raise _Bad(piece, rest, f": {range_error} out of range")
        if rest:
            raise _Bad("", rest, f": extra text: {_quote(rest)}")
        if not 1 <= fields["day"] <= _days_in(fields["year"], fields["month"]):
            raise _Bad("", rest, ": day out of range")
    except _Bad as e:
        if e.message:
            raise TimeValueError(f"parsing time {_quote(value)}{e.message}") from None
        raise TimeValueError(
            f"parsing time {_quote(value)} as {_quote(layout)}: "
            f"cannot parse {_quote(e.rest)} as {_quote(e.element)}"
        ) from None
    date = (fields["year"], fields["month"], fields["day"])
    seconds = unix_seconds(*date, fields["hour"], fields["minute"], fields["second"])
    seconds -= fields.get("offset", local_offset)
    return seconds * 1_000_000_000 + fields["nanos"]


def _element(piece: str, rest: str, fields: dict[str, int], following: str) -> tuple[str, str]:
    """Parse one layout element off ``rest``; the rest and a range error ("" if none)."""
    if piece == "2006":
        if len(rest) < 4:
            raise ValueError
        text = rest[:4]
        digits = text[1:] if text[0] in "+-" else text
        if not digits.isdigit():
            raise ValueError
        fields["year"] = int(text)
        return rest[4:], ""
    if piece == "01":
        fields["month"], rest = _getnum(rest, True)
        return rest, "month" if not 1 <= fields["month"] <= 12 else ""
    if piece == "02":
        fields["day"], rest = _getnum(rest, True)
        return rest, ""
    if piece == "15":
        fields["hour"], rest = _getnum(rest, False)
        return rest, "hour" if fields["hour"] >= 24 else ""
    if piece == "04":
        fields["minute"], rest = _getnum(rest, True)
        return rest, "minute" if fields["minute"] >= 60 else ""
    if piece == "05":
        fields["second"], rest = _getnum(rest, True)
        if fields["second"] >= 60:
            return rest, "second"
        if rest[:1] == "." and rest[1:2].isdigit() and following != ".999999999":
            fields["nanos"], rest = _fraction(rest)  # a fraction the layout does not name
        return rest, ""
    if piece == ".999999999":
        if rest[:1] == "." and rest[1:2].isdigit():
            fields["nanos"], rest = _fraction(rest)
        return rest, ""
    # Z07:00
    if rest[:1] == "Z":
        fields["offset"] = 0
        return rest[1:], ""
    if len(rest) < 6 or rest[3] != ":" or rest[0] not in "+-":
        raise ValueError
    hours, _ = _getnum(rest[1:3], True)
    minutes, _ = _getnum(rest[4:6], True)
    fields["offset"] = (hours * 60 + minutes) * 60 * (-1 if rest[0] == "-" else 1)
    if hours > 24:
        return rest[6:], "time zone offset hour"
    if minutes > 60:
        return rest[6:], "time zone offset minute"
    return rest[6:], ""


def unix_seconds(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Seconds since the epoch of a UTC date and time (``calendar.timegm``, without importing
    calendar and locale: ``ps`` converts a time per container)."""
    # days from the civil date (H. Hinnant's algorithm): years start in March
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146097 + day_of_era - 719468
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


# --- GetTimestamp ---------------------------------------------------------------------------


def _unix_timestamp(value: str) -> int | None:
    """The daemon's ``ParseTimestamps``: ``SECONDS[.FRACTION]`` in nanoseconds."""
    import re

    whole, dot, fraction = value.partition(".")
    if not re.fullmatch(r"[+-]?[0-9]+", whole):
        return None
    if dot and not re.fullmatch(r"[+-]?[0-9]+", fraction):
        return None
    nanos = int(int(fraction) * 10 ** (9 - len(fraction))) if dot else 0
    return int(whole) * 1_000_000_000 + nanos


def parse_time(value: str, now: float | None = None) -> int:
    """A ``--since``/``--until`` value as nanoseconds since the epoch (see the module doc).

    Raises TimeValueError with the text the docker CLI puts after ``invalid value for
    "since":``.
    """
    reference = time.time() if now is None else now
    duration = go_duration(value)
    if value != "0" and duration is not None:
        return int((reference * 1_000_000_000 - duration) // 1_000_000_000) * 1_000_000_000
    in_location = not (any(c in value for c in "zZ+") or value.count("-") == 3)
    if "." in value:
        layout = _LOCAL_NANO if in_location else RFC3339_NANO
    elif "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1
        if in_location:
            layout = ("2006-01-02T15", "2006-01-02T15:04")[colons] if colons < 2 else _LOCAL
        else:
            layout = (
                ("2006-01-02T15Z07:00", "2006-01-02T15:04Z07:00")[colons] if colons < 2 else RFC3339
            )
    else:
        layout = "2006-01-02" if in_location else "2006-01-02Z07:00"
    local_offset = time.localtime(reference).tm_gmtoff or 0
    try:
        return go_parse(layout, value, local_offset)
    except TimeValueError:
        if "-" in value:
            raise
    parsed = _unix_timestamp(value)
    if parsed is None:
        raise TimeValueError(f"failed to parse value as time or duration: {_quote(value)}")
    return parsed


def parse_option(name: str, value: str, now: float | None = None) -> int:
    """``parse_time`` with the docker CLI's wrapping: ``invalid value for "since": ...``."""
    try:
        return parse_time(value, now)
    except TimeValueError as e:
        raise TimeValueError(f'invalid value for "{name}": {e}') from None


# --- printing -------------------------------------------------------------------------------


def rfc3339_nano(nanos: int, local: bool = False) -> str:
    """Go's ``Format(RFC3339NanoFixed)``: always nine digits; UTC (``Z``) unless ``local``."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    tm = time.localtime(seconds) if local else time.gmtime(seconds)
    offset = tm.tm_gmtoff or 0
    if offset == 0:
        zone = "Z"
    else:
        hours, minutes = divmod(abs(offset) // 60, 60)
        zone = f"{'-' if offset < 0 else '+'}{hours:02d}:{minutes:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{fraction:09d}" + zone
