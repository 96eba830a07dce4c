"""The emulator's server: moto's WSGI application on loopback, behind one middleware.

moto's threaded server does not make a DynamoDB request atomic, so two conditional
updates racing on one item can both pass; nor an SQS receive, so two concurrent
receives can hand out the same message (measured: 1 in 2,000 with 6 threads). Requests
whose ``X-Amz-Target`` names a DynamoDB or CloudWatch Logs operation, or an SQS receive, delete or
visibility change, are therefore served one at a time (body read and response
materialized inside one lock). S3, SQS sends and any receive that long-polls
(``WaitTimeSeconds`` > 0) stay concurrent; the runtime's own pollers do not long-poll.
The middleware also counts every request by service and action (``counting``), served at
``/__thera/requests`` for ``thera cost``.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from thera_local.cloudformation import quiet_left_out
from thera_local.emulator.clients import aws_client
from thera_local.emulator.counting import RequestCounts
from thera_local.emulator.in_process import InProcess, LocalLogs, LocalSqs
from thera_local.emulator.moto_patches import check_moto_version, fast_moto, fast_sqs_clock, stable_cognito_ids
from thera_local.emulator.sqs_moves import message_move_tasks
from thera_local.standins.bedrock import INVOKE_PATH, BedrockStandIn

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


_SQS_SERIAL = {
    "AmazonSQS.ReceiveMessage",
    "AmazonSQS.DeleteMessage",
    "AmazonSQS.DeleteMessageBatch",
    "AmazonSQS.ChangeMessageVisibility",
    "AmazonSQS.ChangeMessageVisibilityBatch",
    "AmazonSQS.StartMessageMoveTask",
}


COUNTS_PATH = "/__thera/requests"


class SerializedRequests:
    """WSGI middleware: DynamoDB and CloudWatch Logs requests and SQS receives/deletes one at a time,
    Bedrock's InvokeModel to its stand-in, the rest untouched."""

    def __init__(self, app: WsgiApp, bedrock: BedrockStandIn | None = None) -> None:
        self._app = app
        self.lock = threading.Lock()
        self.bedrock = bedrock
        self.counts = RequestCounts()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == COUNTS_PATH:  # what `thera cost` prices
            data = json.dumps({"requests": self.counts.snapshot(), "tool_requests": self.counts.tool}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        if self.bedrock is not None and environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("RAW_URI", "").split("?", 1)[0] or environ.get("PATH_INFO", "")
            if INVOKE_PATH.match(path):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                answer = self.bedrock.answer(path, body)
                assert answer is not None
                status, headers, data = answer.wsgi()
                start_response(status, headers)
                return [data]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not (target.startswith(("DynamoDB_", "Logs_")) or target in _SQS_SERIAL):
            self.counts.add_request(environ)
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        self.counts.add_request(environ, body)
        if target == "AmazonSQS.ReceiveMessage" and _long_poll(body):
            return self._app(environ, start_response)
        with self.lock:
            return list(self._app(environ, start_response))


def _long_poll(body: bytes) -> bool:
    try:
        return int(json.loads(body or b"{}").get("WaitTimeSeconds") or 0) > 0
    except (ValueError, TypeError, AttributeError):
        return False


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Emulator:
    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: SerializedRequests | None = None

    def start(self, bedrock: BedrockStandIn | None = None) -> str:
        check_moto_version()
        fast_sqs_clock()
        fast_moto()
        stable_cognito_ids()
        message_move_tasks()
        quiet_left_out()
        app = SerializedRequests(DomainDispatcherApplication(create_backend_app), bedrock)
        self._app = app
        self._server = make_server("127.0.0.1", self._port, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return self.endpoint

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def in_process(self) -> InProcess:
        """Direct reads of this emulator's state, for code running in its process (the stack's saves)."""
        if self._app is None:
            raise RuntimeError("emulator not started")
        return InProcess(self._app.lock)

    def local_sqs(self) -> LocalSqs:
        """SQS for code running in this emulator's process (the runtime's pollers)."""
        if self._app is None:
            raise RuntimeError("emulator not started")
        return LocalSqs(self._app.lock, self._app.counts)

    def local_logs(self) -> LocalLogs:
        """CloudWatch Logs for code running in this emulator's process (the stack's log shipper)."""
        if self._app is None:
            raise RuntimeError("emulator not started")
        return LocalLogs(self._app.lock)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)
