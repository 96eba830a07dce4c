"""The HTTP API on loopback: requests become API Gateway (HTTP API, payload 2.0) events for the same handler.

One server for every function with ``HttpApi`` events in template.yaml. Routes are matched
by method and path as API Gateway matches them; a route's function runs in its own
Lambda-like execution environment (kept warm between requests, several when requests
overlap), and the handler's answer (statusCode, headers, body) is written back. Locally
there is no IAM authorizer: the server listens on 127.0.0.1 only, and every request carries one
stable local caller (``LOCAL_CALLER_ARN``) where API Gateway puts the IAM caller's identity.
With ApiAuth=Cognito a ``JwtAuthorizer`` checks each request but the public routes' as API
Gateway's JWT authorizer does (401 otherwise) and the token's claims take the IAM caller's place.
"""

from __future__ import annotations

import base64
import getpass
import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from thera_local.cognito import JwtAuthorizer, Unauthorized
from thera_local.function_logs import LogShipper
from thera_local.lambda_env import ExecutionEnvironment
from thera_local.template import FunctionSpec, HttpRoute

MAX_BODY = 6 * 1024 * 1024  # Lambda's synchronous payload limit


def _local_user() -> str:
    try:
        return re.sub(r"[^\w+=,.@-]", "-", getpass.getuser()) or "local"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "local"


LOCAL_CALLER_ARN = f"arn:aws:iam::123456789012:user/{_local_user()}"


def http_event(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    stage: str,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The event of a request; ``route`` is the template's path when it has ``{parameters}``;
    ``authorizer`` the request context's (the local IAM caller when not given)."""
    now = datetime.now(UTC)
    text = body.decode("utf-8", errors="replace")
    route_key = f"{method} {route or path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path if stage in ("", "$default") else f"/{stage}{path}",  # a named stage prefixes the path
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": {k: v for k, _, v in (p.partition("=") for p in query.split("&") if p)} or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("Host", "127.0.0.1"),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": ""},
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "authorizer": authorizer
            if authorizer is not None
            else {"iam": {"accountId": "123456789012", "userArn": LOCAL_CALLER_ARN, "userId": _local_user()}},
            "stage": stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if authorizer == {}:  # a public route: API Gateway sends no authorizer context
        del event["requestContext"]["authorizer"]
    return event


def _path_pattern(template_path: str) -> re.Pattern[str]:
    """``/shortlists/{id}/csv`` as a pattern whose groups are its parameters (one path segment each)."""
    parts = re.split(r"\{(\w+)\}", template_path)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts)) + "$")


class _Pool:
    """Warm execution environments of one function, each owned by a long-lived worker thread.

    An environment's process is tied to the thread that started it (it dies with it, as a
    Lambda sandbox dies with its host), so environments are never started on the HTTP
    server's short-lived request threads.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        log_path: Path,
        shipper: LogShipper | None = None,
        workers: int = 4,
    ) -> None:
        self.spec, self.env, self.log_path, self.shipper = spec, env, log_path, shipper
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"api-{spec.logical_id}")
        self._local = threading.local()
        self._all: list[ExecutionEnvironment] = []
        self._lock = threading.Lock()

    def _invoke_here(self, event: dict[str, Any]) -> Any:
        env = getattr(self._local, "env", None)
        if env is None:
            env = self._local.env = ExecutionEnvironment(self.spec, self.env, self.log_path, self.shipper)
            with self._lock:
                self._all.append(env)
        return env.invoke(event)

    def invoke(self, event: dict[str, Any]) -> Any:
        return self._executor.submit(self._invoke_here, event).result()

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for env in self._all:
            env.stop()


class LocalHttpApi:
    def __init__(
        self,
        routes: list[tuple[HttpRoute, FunctionSpec, dict[str, str], Path]],
        stage: str,
        shipper: LogShipper | None = None,
        authorizer: JwtAuthorizer | None = None,
        public: set[tuple[str, str]] | None = None,
    ) -> None:
        self.stage = stage
        self.authorizer, self.public = authorizer, public or set()
        self._routes: dict[tuple[str, str], _Pool] = {}
        self._templated: list[tuple[str, str, re.Pattern[str], _Pool]] = []
        pools: dict[str, _Pool] = {}
        for route, spec, env, log in routes:
            pool = pools.setdefault(spec.logical_id, _Pool(spec, env, log, shipper))
            self._routes[(route.method, route.path)] = pool
            if "{" in route.path:
                self._templated.append((route.method, route.path, _path_pattern(route.path), pool))
        self._pools = list(pools.values())
        self._server: ThreadingHTTPServer | None = None
        self.requests = 0

    def route(self, method: str, path: str) -> tuple[_Pool, str | None, dict[str, str] | None] | None:
        """The pool serving ``method path``, with the template path and parameters when it has them."""
        pool = self._routes.get((method, path)) or self._routes.get(("ANY", path))
        if pool is not None:
            return pool, None, None
        for route_method, template_path, pattern, pool in self._templated:
            found = pattern.match(path)
            if found and route_method in (method, "ANY"):
                return pool, template_path, found.groupdict()
        return None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                path, _, query = self.path.partition("?")
                found = api.route(method, path)
                if found is None:
                    known = sorted(f"{m} {p}" for m, p in api._routes)
                    self._reply(404, {"message": "Not Found", "routes": known})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(413, {"message": "Request Entity Too Large"})
                    return
                body = self.rfile.read(length) if length else b""
                pool, route, parameters = found
                context: dict[str, Any] | None = None
                if api.authorizer is not None:
                    if (method, route or path) in api.public:
                        context = {}
                    else:
                        try:
                            context = {"jwt": api.authorizer.check(self.headers.get("Authorization"))}
                        except Unauthorized:  # API Gateway says no more than this
                            self._reply(401, {"message": "Unauthorized"})
                            return
                api.requests += 1
                event = http_event(method, path, query, dict(self.headers), body, api.stage, route, parameters, context)
                result = pool.invoke(event)
                if not result.ok:
                    self._reply(502, {"message": "Internal Server Error", "error": result.error_message})
                    return
                answer: dict[str, Any] = (
                    result.payload if isinstance(result.payload, dict) else {"body": json.dumps(result.payload)}
                )
                data = answer.get("body") or ""
                raw = base64.b64decode(data) if answer.get("isBase64Encoded") else str(data).encode()
                self.send_response(int(answer.get("statusCode", 200)))
                headers = {"content-type": "application/json", **(answer.get("headers") or {})}
                for name, value in headers.items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for pool in self._pools:
            pool.stop()
