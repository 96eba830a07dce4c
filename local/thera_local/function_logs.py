"""Function logs into the emulator's CloudWatch Logs, as Lambda delivers them.

An execution environment's output lines go to its function's file under ``.thera/logs`` (read by
``thera logs``, kept when the stack stops) and to the log group ``/aws/lambda/<function name>``
(the template's LogGroup resources, created in the stack), one stream per environment named as
Lambda names them, where ``sam logs -n FUNCTION --stack-name thera-local`` reads them.

Lines are batched: a shipper gathers them and puts each stream's lines in one call per interval.
In the stack's process the calls go to moto's backend in place (``emulator.LocalLogs``), elsewhere
(``thera run`` and ``thera invoke`` run their invocations in the CLI's process) over HTTP.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

MAX_BATCH = 10_000  # PutLogEvents takes at most 10,000 events per call


class LogsSink(Protocol):
    def put(self, group: str, stream: str, events: list[dict[str, Any]]) -> None: ...


def stream_name(now: float | None = None) -> str:
    """A new execution environment's stream, as Lambda names it: ``2026/12/05/[$LATEST]<32 hex>``."""
    return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime(now)) + uuid.uuid4().hex


class LogShipper:
    """Gathers log lines per (group, stream) and hands each stream's batch to the sink: every
    ``interval`` seconds from its own thread once started, and at ``flush``/``close``."""

    def __init__(self, sink: LogsSink, interval: float = 1.0, on_error: Callable[[Exception], None] | None = None):
        self._sink = sink
        self._interval = interval
        self._on_error = on_error
        self._pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.shipped = 0

    def add(self, group: str, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        with self._lock:
            self._pending.setdefault((group, stream), []).append({"timestamp": stamp, "message": message})

    def start(self) -> LogShipper:
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self) -> None:
        with self._flushing:  # one flush at a time keeps each stream's batches in order
            with self._lock:
                pending, self._pending = self._pending, {}
            for (group, stream), events in pending.items():
                for i in range(0, len(events), MAX_BATCH):
                    try:
                        self._sink.put(group, stream, events[i : i + MAX_BATCH])
                        self.shipped += len(events[i : i + MAX_BATCH])
                    except Exception as exc:  # logs are best effort; the file keeps every line
                        if self._on_error is None:
                            raise
                        self._on_error(exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()


def report_failure(exc: Exception) -> None:
    print(f"thera: function logs not delivered to the emulator's CloudWatch Logs: {exc}", file=sys.stderr, flush=True)


class HttpLogs:
    """The sink over HTTP, for processes that do not run the emulator."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._streams: set[tuple[str, str]] = set()

    @classmethod
    def at(cls, endpoint: str) -> HttpLogs:
        import boto3

        from thera_local.template import REGION

        return cls(
            boto3.client(
                "logs",
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - the emulator's
            )
        )

    def put(self, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        if (group, stream) not in self._streams:
            errors = self._client.exceptions
            try:
                self._client.create_log_stream(logGroupName=group, logStreamName=stream)
            except errors.ResourceNotFoundException:  # no LogGroup in the template: Lambda creates one
                self._client.create_log_group(logGroupName=group)
                self._client.create_log_stream(logGroupName=group, logStreamName=stream)
            except errors.ResourceAlreadyExistsException:
                pass
            self._streams.add((group, stream))
        self._client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
