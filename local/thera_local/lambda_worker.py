"""One execution environment: ``python -m thera_local.lambda_worker FD HANDLER_FILE ATTR NAME MEMORY TIMEOUT``.

Started by ``lambda_env.ExecutionEnvironment`` with the function's environment only,
stdout/stderr on the function's log file, and invocations arriving over the socket
FD. It imports nothing of the project but the handler, so module-level state
(Powertools' Logger/Metrics, cached settings) is built from this function's own
variables, as in a Lambda sandbox.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import traceback
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REGION_VAR = "AWS_REGION"


class LambdaContext:
    """What a handler sees as ``context``: the attributes Powertools and handlers read."""

    def __init__(self, function_name: str, memory: int, timeout: int, request_id: str, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        # the environment's stream, set by the runtime as Lambda sets it
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME") or (
            time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        )
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _die_with_parent() -> None:
    """An environment ends with the process that runs it, as a sandbox ends with its worker (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _load(handler_file: str, attr: str, name: str) -> Any:
    sys.path.insert(0, str(Path(handler_file).parent))  # Lambda puts the function's code root first
    spec = importlib.util.spec_from_file_location(f"lambda_{name.replace('-', '_')}", handler_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {handler_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attr)


def serve(argv: list[str]) -> None:
    fd, handler_file, attr, name, memory, timeout = argv
    _die_with_parent()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    conn = Connection(int(fd))
    region = os.environ.get(REGION_VAR, "us-east-1")
    t0 = time.monotonic()
    init_error: dict[str, Any] | None = None
    try:
        handler = _load(handler_file, attr, name)
    except Exception as exc:  # every invocation then fails, as Runtime.ImportModuleError does
        traceback.print_exc()
        init_error = {"errorType": "Runtime.ImportModuleError", "errorMessage": str(exc)}
    init_ms = (time.monotonic() - t0) * 1000
    first = True
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        event, request_id = msg
        print(f"START RequestId: {request_id} Version: $LATEST", flush=True)
        started = time.monotonic()
        ctx = LambdaContext(name, int(memory), int(timeout), request_id, region)
        if init_error is not None:
            reply: tuple[bool, Any] = (False, init_error)
        else:
            try:
                reply = (True, json.loads(json.dumps(handler(event, ctx), default=str)))
            except Exception as exc:
                err = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "requestId": request_id,
                    "stackTrace": traceback.format_exception(exc),
                }
                print(json.dumps({"level": "ERROR", "message": "invocation failed", **err}), flush=True)
                reply = (False, err)
        duration = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}", flush=True)
        init = f"\tInit Duration: {init_ms:.2f} ms" if first else ""
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {memory} MB{init}", flush=True
        )
        first = False
        conn.send(reply)


if __name__ == "__main__":
    serve(sys.argv[1:])
