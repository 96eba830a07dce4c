"""Lambda-like execution environments: one subprocess per environment, as in Lambda.

Each environment gets the function's own variables from template.yaml, imports the
handler file once (cold start) and then serves invocations (warm). Its stdout and
stderr, with START/END/REPORT lines around each invocation the way CloudWatch shows
them, go to the function's log file and, given a shipper, to the function's log group
in the emulator's CloudWatch Logs, one stream per environment as in Lambda. An
invocation that outlives the function's Timeout kills the environment, as Lambda does.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from thera.kernel.config import LOCAL_AWS_ENDPOINT_URL
from thera_local.function_logs import HttpLogs, LogShipper, report_failure, stream_name
from thera_local.template import REGION, FunctionSpec


@dataclass
class InvokeResult:
    ok: bool
    payload: Any
    duration_ms: float
    request_id: str

    @property
    def error_message(self) -> str:
        if self.ok:
            return ""
        if isinstance(self.payload, dict):
            return f"{self.payload.get('errorType')}: {self.payload.get('errorMessage')}"
        return str(self.payload)


class ExecutionEnvironment:
    def __init__(
        self, spec: FunctionSpec, env: dict[str, str], log_path: Path, shipper: LogShipper | None = None
    ) -> None:
        self.spec = spec
        self.env = env
        self.log_path = log_path
        self.shipper = shipper
        self.log_group = env.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{spec.name}")
        self.log_stream = ""
        self._proc: Any = None
        self._conn: Connection | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.invocations = 0

    def _start(self) -> None:
        parent, child = socket.socketpair()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_stream = stream_name()
        try:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "thera_local.lambda_worker",
                    str(child.fileno()),
                    str(self.spec.handler_file.resolve()),
                    self.spec.handler_attr,
                    self.spec.name,
                    str(self.spec.memory),
                    str(self.spec.timeout),
                ],
                env={**self.env, "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=(child.fileno(),),
            )
        finally:
            child.close()
        self._conn = Connection(parent.detach())
        self._reader = threading.Thread(
            target=self._read_output, args=(self._proc.stdout, self.log_stream), name=f"log-{self.spec.name}"
        )
        self._reader.daemon = True
        self._reader.start()

    def _read_output(self, output: Any, stream: str) -> None:
        """Every line the environment prints, to the function's file and its log stream, until it exits."""
        with self.log_path.open("ab") as log:
            for line in output:
                log.write(line)
                log.flush()  # `thera logs --tail` follows the file
                if self.shipper is not None:
                    self.shipper.add(self.log_group, stream, line.decode(errors="replace").rstrip("\n"))
        output.close()

    def _write_log(self, text: str) -> None:
        """Lines of the runtime's own (a timeout's REPORT), after the environment's last ones."""
        self._join_reader()
        with self.log_path.open("a") as fh:
            fh.write(text)
        if self.shipper is not None:
            for line in text.splitlines():
                self.shipper.add(self.log_group, self.log_stream or stream_name(), line)

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None

    def invoke(self, event: Any, timeout: float | None = None, request_id: str | None = None) -> InvokeResult:
        """One invocation; ``request_id`` is given when it retries an earlier one (Lambda keeps the id)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._conn is not None
            request_id = request_id or str(uuid.uuid4())
            started = time.monotonic()
            limit = (timeout or self.spec.timeout) + 15.0  # cold start allowance on top of Timeout
            self.invocations += 1
            try:
                self._conn.send((event, request_id))
                answered = self._conn.poll(limit)
                if answered:
                    ok, payload = self._conn.recv()
            except (EOFError, OSError):  # the process died (crashed, or killed by a drill)
                self.stop()
                return InvokeResult(
                    False,
                    {"errorType": "Runtime.ExitError", "errorMessage": "the execution environment exited"},
                    (time.monotonic() - started) * 1000,
                    request_id,
                )
            if not answered:
                self.stop()
                self._write_log(
                    f"REPORT RequestId: {request_id}\tStatus: timeout\n"
                    f"Task timed out after {self.spec.timeout:.2f} seconds\n"
                )
                return InvokeResult(
                    False,
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {self.spec.timeout} seconds",
                    },
                    (time.monotonic() - started) * 1000,
                    request_id,
                )
            return InvokeResult(ok, payload, (time.monotonic() - started) * 1000, request_id)

    def kill(self) -> bool:
        """SIGKILL the environment's process now, mid-invocation or idle (the crash drill's crash).

        A pending ``invoke`` sees the process gone and fails with Runtime.ExitError; the next
        one starts a new process. True when an invocation was running."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        busy = self._lock.locked()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return busy

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=2)
            self._proc = None
        self._join_reader()


def function_environment(spec: FunctionSpec, endpoint: str) -> dict[str, str]:
    """The variables an environment of ``spec`` sees: the template's, plus Lambda's and the emulator's."""
    env = {k: v.replace("{sqs_endpoint}", endpoint) for k, v in spec.environment.items()}
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV") if k in os.environ}
    return {
        **keep,
        **env,
        "AWS_ENDPOINT_URL": endpoint,
        LOCAL_AWS_ENDPOINT_URL: endpoint,  # what sam local invoke passes (thera env-vars): the template declares it
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        "TZ": "UTC",
    }


def invoke_once(
    spec: FunctionSpec,
    endpoint: str,
    logs: Path,
    event: Any,
    shipper: LogShipper | None = None,
    request_id: str | None = None,
) -> InvokeResult:
    """One invocation in a fresh environment, stopped after (a schedule firing, ``thera invoke``, a state's task).

    Without a shipper (the caller does not run the emulator) its lines go to CloudWatch Logs over HTTP."""
    own = shipper is None
    if shipper is None:
        shipper = LogShipper(HttpLogs.at(endpoint), on_error=report_failure)
    env = ExecutionEnvironment(spec, function_environment(spec, endpoint), logs / f"{spec.logical_id}.log", shipper)
    try:
        return env.invoke(event, request_id=request_id)
    finally:
        env.stop()
        if own:
            shipper.close()
