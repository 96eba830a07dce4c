"""``thera logs``: a function's log file, filtered by text and time, optionally followed."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from thera_local.cli.common import _err, _function, default_home, project_root
from thera_local.template import Template

_SINCE = re.compile(r"^(\d+)([smhd])$")


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    m = _SINCE.match(text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _line_time(line: str) -> datetime | None:
    if not line.startswith("{"):
        return None
    try:
        stamp = json.loads(line).get("timestamp")
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f%z").astimezone(UTC) if stamp else None
    except (ValueError, TypeError, AttributeError):
        return None


def cmd_logs(args: argparse.Namespace) -> int:
    root = project_root()
    home = Path(args.home).resolve() if args.home else default_home(root)
    spec = _function(Template(root / "template.yaml"), args.function)
    path = home / "logs" / f"{spec.logical_id}.log"
    since = _since(args.since)
    if not path.exists() and not args.tail:
        _err(f"thera: no logs yet for {spec.logical_id} ({path})")
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    current: datetime | None = None
    with path.open() as fh:
        while True:
            line = fh.readline()
            if not line:
                if not args.tail:
                    return 0
                time.sleep(0.5)
                continue
            current = _line_time(line) or current
            if since and (current is None or current < since):
                continue
            if args.filter and args.filter not in line:
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
