"""EventBridge Scheduler expressions: when a ScheduleV2 fires, in its own time zone.

Supports ``cron(min hour day-of-month month day-of-week year)`` with ``*``, ``?``,
lists, ranges, steps and names (day-of-week 1-7 = SUN-SAT, as AWS counts), and
``rate(N unit)``. A local time skipped by a daylight-saving change does not fire,
as Scheduler does.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_MONTHS = {
    m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)
}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}


class ScheduleError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The allowed values, or None for any (``*`` / ``?``)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = start if "/" not in text else high
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(f"value out of range {low}-{high} in {text!r}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    text = text.upper()
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"unsupported cron value {text!r}")
    return int(text)


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first firing time strictly after ``after`` (an aware datetime), in UTC."""
    rate = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if rate:
        unit = rate.group(2).rstrip("s")
        return after + timedelta(**{unit + "s": int(rate.group(1))})
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        raise ScheduleError(f"not a cron() or rate() expression: {expression!r}")
    parts = match.group(1).split()
    if len(parts) != 6:
        raise ScheduleError(f"cron() needs 6 fields, got {len(parts)}: {expression!r}")
    minutes = _field(parts[0], 0, 59)
    hours = _field(parts[1], 0, 23)
    dom = _field(parts[2], 1, 31)
    months = _field(parts[3], 1, 12, _MONTHS)
    dow = _field(parts[4], 1, 7, _DAYS)
    years = _field(parts[5], 1970, 2199)
    if parts[2] != "?" and parts[4] != "?":
        raise ScheduleError("cron(): one of day-of-month and day-of-week must be '?'")
    zone = ZoneInfo(timezone)
    local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    day = local.replace(hour=0, minute=0)
    for _ in range(366 * 5):
        aws_dow = (day.weekday() + 1) % 7 + 1
        if (
            (years is None or day.year in years)
            and (months is None or day.month in months)
            and (dom is None or day.day in dom)
            and (dow is None or aws_dow in dow)
        ):
            for h in sorted(hours) if hours is not None else range(24):
                for m in sorted(minutes) if minutes is not None else range(60):
                    candidate = day.replace(hour=h, minute=m)
                    aware = candidate.replace(tzinfo=zone)
                    # a wall time that does not exist (spring forward) does not round-trip
                    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != candidate:
                        continue
                    if aware > after:
                        return aware.astimezone(UTC)
        day += timedelta(days=1)
    raise ScheduleError(f"{expression!r} never fires in the next five years")


def scheduler_input(template_input: str | None, scheduled: datetime, schedule_arn: str) -> Any:
    """The target input as Scheduler sends it, with its context attributes filled in."""
    text = template_input or "{}"
    text = (
        text.replace("<aws.scheduler.scheduled-time>", scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        .replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    return json.loads(text)
