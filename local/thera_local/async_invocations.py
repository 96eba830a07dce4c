"""Scheduled (asynchronous) invocations that outlive the command that fired them, as Lambda's do.

Lambda retries an asynchronous invocation whose function failed or whose environment died with
the same request id and the same event. ``thera run`` fires schedules from its own process, so
when that process is killed mid-invocation (the crash drill), the invocation is lost with it
unless it was written down: each firing is recorded under the stack's home before it runs and
forgotten when it ends, and the next firing of that schedule retries a recorded one whose
process is gone, with its request id and event. That is what lets a job lease taken under that
request id (``thera.kernel.lease``) be taken again by the retry, as in AWS.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thera_local.stack import process_running


@dataclass(frozen=True)
class Firing:
    request_id: str
    event: Any
    retry: bool  # retries an invocation whose process died
    path: Path | None  # the record this process keeps (None when another live process keeps it)

    def done(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def fire(directory: Path, name: str, event: Any) -> Firing:
    """The request id and event to invoke schedule ``name`` with, recorded until ``done``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict) and recorded.get("request_id"):
        if process_running(int(recorded.get("pid") or 0)):
            return Firing(str(uuid.uuid4()), event, retry=False, path=None)
        _write(path, {**recorded, "pid": os.getpid()})
        return Firing(str(recorded["request_id"]), recorded.get("event"), retry=True, path=path)
    request_id = str(uuid.uuid4())
    _write(path, {"request_id": request_id, "event": event, "pid": os.getpid()})
    return Firing(request_id, event, retry=False, path=path)


def _write(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)
