"""The local stack: emulator, stand-ins, event source mappings and schedules in one process.

``thera up`` runs it in the foreground; other commands start it in the background
when it is not running (like ``docker compose up -d``) and talk to it through the
emulator's endpoint and a small control API on loopback. Its state (objects,
items, waiting messages, function logs) is saved under ``.thera/state`` when it stops and after
each run, and restored when it starts, so results survive between commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from thera_local.api import LocalHttpApi
from thera_local.cognito import JwtAuthorizer, public_routes, set_callback_urls
from thera_local.emulator import Emulator, provision, publish_api_url, snapshot
from thera_local.function_logs import LogShipper, report_failure
from thera_local.lambda_env import ExecutionEnvironment, InvokeResult, function_environment
from thera_local.models import local_embedding_model
from thera_local.pollers import SqsPoller
from thera_local.schedules import next_fire, scheduler_input
from thera_local.standins.apollo import ApolloStandIn, load_companies, organization_from_company
from thera_local.standins.bedrock import BedrockStandIn
from thera_local.standins.firecrawl import FirecrawlStandIn
from thera_local.standins.hosted_ui import HostedUiStandIn
from thera_local.standins.sites import SitesProcess, SitesStandIn
from thera_local.stepfunctions import route_lambda
from thera_local.template import FunctionSpec, ScheduleEvent, Template

SECRET_FOR_APOLLO = "ApolloApiKeySecret"  # noqa: S105 - a logical id in template.yaml
SECRET_FOR_FIRECRAWL = "FirecrawlApiKeySecret"  # noqa: S105 - a logical id in template.yaml


@dataclass
class StackConfig:
    home: Path
    template: Path
    data: Path
    overrides: dict[str, str] = field(default_factory=dict)
    apollo_latency: float = 0.0
    retry_delay: int | None = None
    schedules: bool = False
    site_timeout_seconds: float = 30.0

    def identity(self) -> dict[str, Any]:
        return {
            "template": str(self.template.resolve()),
            "data": str(self.data.resolve()),
            "overrides": dict(sorted(self.overrides.items())),
            "apollo_latency": self.apollo_latency,
            "retry_delay": self.retry_delay,
        }


@dataclass(frozen=True)
class Requested:
    """What a command asked of the stack: None where it gave no option, and then the stack's own setting holds."""

    data: Path | None = None
    overrides: dict[str, str] | None = None
    apollo_latency: float | None = None
    retry_delay: int | None = None


def settle_config(
    home: Path,
    template: Path,
    sample: Path,
    requested: Requested,
    running: dict[str, Any] | None,
    kept_data: Path | None,
    schedules: bool = False,
) -> StackConfig:
    """The stack a command should talk to: what it asked for, else the running stack's settings (``running``,
    its identity), else the company file the kept state was built from (``kept_data``), else the sample.

    Without this, a command with no ``--data`` restarted a stack started on another file with the sample,
    and the new fingerprint emptied its lake."""
    base = running or {}
    data = requested.data or (Path(base["data"]) if base.get("data") else None) or kept_data or sample
    return StackConfig(
        home=home,
        template=template,
        data=data,
        overrides=dict(requested.overrides if requested.overrides is not None else base.get("overrides", {})),
        apollo_latency=float(
            requested.apollo_latency if requested.apollo_latency is not None else base.get("apollo_latency", 0.0)
        ),
        retry_delay=requested.retry_delay if requested.retry_delay is not None else base.get("retry_delay"),
        schedules=schedules,
    )


def kept_data(home: Path) -> Path | None:
    """The company file the state under ``home`` was built from (``state.json``), if any."""
    try:
        data = json.loads((home / "state.json").read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(data) if data else None


def restart_reason(running: dict[str, Any], wanted: dict[str, Any], same_content: bool = False) -> str | None:
    """One line saying how the running stack differs from the one wanted; None when it is the same.

    ``same_content``: the other company file holds the same bytes (the kept state then survives)."""
    if running == wanted:
        return None
    changes = []
    for key in ("data", "template", "overrides", "apollo_latency", "retry_delay"):
        old, new = running.get(key), wanted.get(key)
        if old != new:
            if key in ("data", "template"):
                old, new = Path(str(old)).name if old else old, Path(str(new)).name if new else new
                if old == new:  # same file name in another folder
                    old, new = running.get(key), wanted.get(key)
            changes.append(f"{key.replace('_', ' ')} {old} -> {new}")
    new_data = running.get("data") != wanted.get("data") and not same_content
    emptied = " (another company file: its lake and tables start empty)" if new_data else ""
    return f"the local stack runs with other settings ({'; '.join(changes)}); restarting it{emptied}"


class StackStartError(RuntimeError):
    """The background stack did not come up; the message carries its own last error line."""


def data_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


@dataclass
class StackInfo:
    pid: int
    control: str
    endpoint: str
    apollo: str
    firecrawl: str
    sites: str
    template: str
    overrides: dict[str, str]
    identity: dict[str, Any]
    home: str
    api: str = ""

    @classmethod
    def read(cls, home: Path) -> StackInfo | None:
        path = home / "stack.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    def template_obj(self) -> Template:
        return Template(Path(self.template), self.overrides)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        return http_json(method, self.control + path, body, timeout)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
            self.call("GET", "/status", timeout=5)
        except (OSError, ValueError):
            return False
        return True


def http_call(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """One JSON request to a loopback service of the stack: its status and JSON answer, errors included."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not a local stack address: {url}")
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - checked above
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def http_json(method: str, url: str, body: Any = None, timeout: float = 30) -> Any:
    """One JSON request to a loopback service of the stack (control API, stand-ins); errors raise."""
    status, answer = http_call(method, url, body, timeout)
    if status >= 400:
        raise OSError(f"{method} {url}: HTTP {status}: {answer}")
    return answer


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.home = config.home
        self.logs = self.home / "logs"
        self.state = self.home / "state"
        self.emulator = Emulator()
        self.standin: ApolloStandIn | None = None
        self.sites: SitesProcess | None = None
        self.firecrawl: FirecrawlStandIn | None = None
        self.bedrock: BedrockStandIn | None = None
        self.hosted_ui: HostedUiStandIn | None = None
        self.api: LocalHttpApi | None = None
        self.template: Template | None = None
        self.pollers: list[SqsPoller] = []
        self.shipper: LogShipper | None = None
        self._control: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._snapshot_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.fired: list[dict[str, Any]] = []

    # ------------------------------------------------------------ lifecycle
    def start(self) -> StackInfo:
        self.logs.mkdir(parents=True, exist_ok=True)
        manifest_path = self.home / "state.json"
        fingerprint = data_fingerprint(self.config.data)
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        if manifest and manifest.get("data_fingerprint") != fingerprint:
            # Another company file: its cursors and lake would not match this one.
            shutil.rmtree(self.state, ignore_errors=True)
            manifest = {}
        api_key = manifest.get("apollo_key") or secrets.token_urlsafe(24)
        firecrawl_key = manifest.get("firecrawl_key") or "fc-" + secrets.token_hex(16)
        manifest.update(
            {
                "data": str(self.config.data.resolve()),
                "data_fingerprint": fingerprint,
                "apollo_key": api_key,
                "firecrawl_key": firecrawl_key,
            }
        )
        manifest_path.write_text(json.dumps(manifest, indent=2))

        companies = load_companies(self.config.data)
        self.standin = ApolloStandIn(
            [organization_from_company(c) for c in companies], api_key, latency=self.config.apollo_latency
        )
        self.standin.start()
        ca_file = self.home / "sites-ca.pem"
        self.sites = SitesProcess(self.config.data, ca_file, self.config.site_timeout_seconds).start()
        # Firecrawl answers from the same sites' content, built here from the same seed
        self.firecrawl = FirecrawlStandIn(SitesStandIn(companies), firecrawl_key)
        self.firecrawl.start()
        model = local_embedding_model(self.home, companies, fingerprint)
        self.bedrock = BedrockStandIn(model)
        endpoint = self.emulator.start(bedrock=self.bedrock)
        self.hosted_ui = HostedUiStandIn(endpoint)  # signs in to the user pool (ApiAuth=Cognito)
        self.hosted_ui.start()
        overrides = {
            "EmbeddingProvider": "local",
            "LocalEmbeddingModel": str(model),
            "ApolloBaseUrl": self.standin.api_base,
            "FirecrawlBaseUrl": self.firecrawl.url,
            "LocalHostedUiUrl": self.hosted_ui.url,
            "LocalDnsUrl": self.sites.dns_url,
            "ExtraCaBundle": str(ca_file),
            **self.config.overrides,
        }
        self.template = Template(self.config.template, overrides)
        restore_from = self.state if (self.state / "s3").exists() else None
        secret_values = {SECRET_FOR_APOLLO: api_key, SECRET_FOR_FIRECRAWL: firecrawl_key}
        cache = self.home / "cache"
        user_pool = provision(self.template, endpoint, secret_values, restore_from=restore_from, cache=cache)
        by_arn = {self.template.arn(logical): logical for logical in self.template.functions()}
        route_lambda(lambda arn, event: self._task(by_arn, arn, event))
        self.shipper = LogShipper(self.emulator.local_logs(), on_error=report_failure).start()

        sqs = self.emulator.local_sqs()
        for spec in self.template.functions().values():
            env = function_environment(spec, endpoint)
            for event in spec.sqs_events:
                poller = SqsPoller(
                    spec,
                    event,
                    queue_url=self.template.queue_url(event.queue, endpoint),
                    queue_arn=self.template.arn(event.queue),
                    sqs=sqs,
                    env=env,
                    log_path=self.logs / f"{spec.logical_id}.log",
                    retry_delay=self.config.retry_delay,
                    shipper=self.shipper,
                )
                poller.start()
                self.pollers.append(poller)
        routes = [
            (route, spec, function_environment(spec, endpoint), self.logs / f"{spec.logical_id}.log")
            for spec in self.template.functions().values()
            for route in spec.http_routes
        ]
        if routes:
            authorizer = JwtAuthorizer.for_pool(user_pool, endpoint) if user_pool else None
            self.api = LocalHttpApi(
                routes,
                self.template.params.get("Stage", "dev"),
                self.shipper,
                authorizer=authorizer,
                public=public_routes(self.template),
            )
            publish_api_url(self.api.start())  # the stack's MatcherApiUrl output, as in AWS
            if user_pool:  # what the custom resource ExplorerCallbackUrls does in AWS
                set_callback_urls(self.emulator.client("cognito-idp"), user_pool, f"{self.api.url}/")
                self.hosted_ui.pool = user_pool
        if self.config.schedules:
            t = threading.Thread(target=self._run_schedules, name="scheduler", daemon=True)
            t.start()
            self._threads.append(t)
        self._start_control()
        assert self._control is not None
        info = StackInfo(
            pid=os.getpid(),
            control=f"http://127.0.0.1:{self._control.server_address[1]}",
            endpoint=endpoint,
            apollo=self.standin.url,
            firecrawl=self.firecrawl.url,
            sites=self.sites.url,
            template=str(self.config.template.resolve()),
            overrides=overrides,
            identity=self.config.identity(),
            home=str(self.home),
            api=self.api.url if self.api else "",
        )
        (self.home / "stack.json").write_text(json.dumps(asdict(info), indent=2))
        return info

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        for poller in self.pollers:
            poller._stop.set()
        for poller in self.pollers:
            poller.stop()
        self.save()
        if self.shipper:
            self.shipper.close()
        if self._control:
            self._control.shutdown()
            self._control.server_close()
        if self.api:
            self.api.stop()
        for server in (self.standin, self.firecrawl, self.sites, self.hosted_ui):
            if server:
                server.stop()
        route_lambda(None)
        self.emulator.stop()
        info = StackInfo.read(self.home)
        if info and info.pid == os.getpid():
            (self.home / "stack.json").unlink(missing_ok=True)
        self._stopped.set()

    def save(self) -> dict[str, int]:
        if self.shipper:
            self.shipper.flush()  # the lines printed so far are saved with the rest
        with self._snapshot_lock:
            counts = snapshot(self.state, self.emulator.endpoint, self.emulator.in_process())
        if counts["unsaved_messages"]:
            print(
                f"state saved; {counts['unsaved_messages']} delayed or in-flight message(s) could not be saved",
                file=sys.stderr,
                flush=True,
            )
        return counts

    def wait(self) -> None:
        """Block until the stack has stopped (Ctrl-C, SIGTERM or ``thera down``)."""
        while not self._stopped.wait(0.5):
            pass

    # ------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "pollers": {p.name: asdict(p.stats) for p in self.pollers},
            "in_flight": sum(p.stats.in_flight for p in self.pollers),
            "apollo": self.standin.stats() if self.standin else {},
            "firecrawl": self.firecrawl.stats() if self.firecrawl else {},
            "sites": http_json("GET", self.sites.url + "/__standin/stats") if self.sites else {},
            "bedrock": self.bedrock.stats() if self.bedrock else {},
            "fired": self.fired[-20:],
        }

    def kill_environments(self) -> int:
        """SIGKILL every execution environment of every poller, wherever its handler is (a crash drill).

        The batches they held fail, so their messages come back after the retry delay; the
        next batch starts a fresh environment (a cold start), as Lambda replaces a crashed one."""
        return sum(p.kill_environments() for p in self.pollers)

    # ------------------------------------------------------------ schedules
    def _run_schedules(self) -> None:
        assert self.template is not None
        specs = self.template.functions()
        now = datetime.now(UTC)
        plan: list[tuple[datetime, FunctionSpec, ScheduleEvent]] = [
            (next_fire(sched.expression, sched.timezone, now), spec, sched)
            for spec in specs.values()
            for sched in spec.schedules
        ]
        while not self._stopping.wait(1.0):
            now = datetime.now(UTC)
            for i, (when, spec, sched) in enumerate(plan):
                if when <= now:
                    plan[i] = (next_fire(sched.expression, sched.timezone, now), spec, sched)
                    event = scheduler_input(sched.input, when, f"arn:aws:scheduler:local:schedule/{sched.name}")
                    result = self.invoke(spec.logical_id, event)
                    self.fired.append(
                        {"function": spec.logical_id, "schedule": sched.name, "at": when.isoformat(), "ok": result.ok}
                    )

    def _task(self, by_arn: dict[str, str], arn: str, event: Any) -> tuple[bool, Any] | None:
        """A state machine's Lambda task (moto's Invoke), in a fresh execution environment."""
        if arn not in by_arn:
            return None
        result = self.invoke(by_arn[arn], event)
        return result.ok, result.payload

    def invoke(self, logical_id: str, event: Any) -> InvokeResult:
        assert self.template is not None
        spec = self.template.functions()[logical_id]
        env = ExecutionEnvironment(
            spec, function_environment(spec, self.emulator.endpoint), self.logs / f"{logical_id}.log", self.shipper
        )
        try:
            return env.invoke(event)
        finally:
            env.stop()

    # ------------------------------------------------------------ control API
    def _start_control(self) -> None:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, body: Any, status: int = 200) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                doc = json.loads(self.rfile.read(length) or b"{}") if length else {}
                return doc if isinstance(doc, dict) else {}

            def do_GET(self) -> None:
                if self.path == "/status":
                    self._reply(stack.status())
                else:
                    self._reply({"error": "not found"}, 404)

            def do_POST(self) -> None:
                if self.path == "/snapshot":
                    self._reply(stack.save())
                elif self.path == "/faults/bedrock" and stack.bedrock is not None:
                    body = self._body()
                    try:
                        self._reply(
                            stack.bedrock.set_faults(
                                body.get("status"), int(body.get("count", 1)), bool(body.get("reset"))
                            )
                        )
                    except ValueError as exc:
                        self._reply({"error": str(exc)}, 400)
                elif self.path == "/faults/lambda":
                    self._reply({"killed": stack.kill_environments()})
                elif self.path == "/shutdown":
                    self._reply({"ok": True})
                    threading.Thread(target=stack.stop, daemon=True).start()
                else:
                    self._reply({"error": "not found"}, 404)

        self._control = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        t = threading.Thread(target=self._control.serve_forever, name="control", daemon=True)
        t.start()


# ---------------------------------------------------------------- background stack


def ensure_stack(config: StackConfig, echo: Any = print) -> StackInfo:
    """The running stack for this config, started in the background when there is none."""
    info = StackInfo.read(config.home)
    if info and info.alive():
        if info.identity == config.identity():
            return info
        load_companies(config.data)  # a bad company file is refused before the running stack is stopped
        kept = json.loads((config.home / "state.json").read_text()) if (config.home / "state.json").exists() else {}
        same = kept.get("data_fingerprint") == data_fingerprint(config.data)
        echo(restart_reason(info.identity, config.identity(), same_content=same))
        stop_stack(config.home)
    else:
        load_companies(config.data)  # refused here, in one line, rather than as the background stack's crash
    config.home.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "thera_local.cli",
        "up",
        "--home",
        str(config.home),
        "--data",
        str(config.data),
        "--template",
        str(config.template),
        "--apollo-latency",
        str(config.apollo_latency),
        "--no-schedules",
    ]
    if config.retry_delay is not None:
        cmd += ["--retry-delay", str(config.retry_delay)]
    for k, v in config.overrides.items():
        cmd += ["--parameter", f"{k}={v}"]
    (config.home / "stack.json").unlink(missing_ok=True)
    log = (config.home / "stack.log").open("a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = StackInfo.read(config.home)
        if info and info.pid == proc.pid and info.alive():
            echo(f"local stack started in the background (pid {proc.pid}); stop it with `thera down`")
            return info
        if proc.poll() is not None:
            raise StackStartError(
                f"the local stack exited at start: {last_error(config.home / 'stack.log')} "
                f"(all of it in {config.home / 'stack.log'})"
            )
        time.sleep(0.2)
    proc.kill()
    raise StackStartError(f"the local stack did not start in time; see {config.home / 'stack.log'}")


def last_error(log: Path) -> str:
    """The last non-empty line of a log (a stack that failed at start writes its one-line reason last)."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 65536))
            lines = [ln.strip() for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def stop_stack(home: Path, timeout: float = 120) -> bool:
    info = StackInfo.read(home)
    if not info or not info.alive():
        (home / "stack.json").unlink(missing_ok=True)
        return False
    try:
        info.call("POST", "/shutdown")
    except OSError:
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_running(info.pid):
            return True
        time.sleep(0.2)
    os.kill(info.pid, signal.SIGKILL)
    return True


def process_running(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it when it is our own exited child (a zombie answers kill 0)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
