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
from thera_local.cli.resources import StackResources
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
    if getattr(args, "stack", None):
        return log_group_lines(StackResources.deployed(args.stack), args)
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


def log_group_lines(resources: StackResources, args: argparse.Namespace, poll: float = 2.0) -> int:
    """A function's log group through FilterLogEvents (``--filter`` as a quoted term), followed with ``--tail``."""
    from botocore.exceptions import ClientError

    function = resources.function(args.function)
    group = resources.log_group(function)
    logs = resources.client("logs")
    since = _since(args.since)
    query: dict[str, object] = {"logGroupName": group}
    if since:
        query["startTime"] = int(since.timestamp() * 1000)
    if args.filter:
        query["filterPattern"] = '"' + args.filter.replace('"', '\\"') + '"'
    seen: set[str] = set()
    while True:
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**query):
                for event in page.get("events", []):
                    if event["eventId"] in seen:
                        continue
                    seen.add(event["eventId"])
                    query["startTime"] = max(int(str(query.get("startTime", 0))), event["timestamp"])
                    message = event["message"]
                    sys.stdout.write(message if message.endswith("\n") else message + "\n")
            sys.stdout.flush()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException" or not args.tail:
                _err(f"thera: {group}: {exc.response['Error'].get('Message') or exc}")
                return 1
        if not args.tail:
            return 0
        time.sleep(poll)
