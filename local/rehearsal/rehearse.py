"""Deploy rehearsal: the `sam build` output deployed by the real SAM CLI to LocalStack.

LocalStack runs on the host (no Docker, no account, no auth token) on a free loopback port.
The build is packaged once, then deployed as two stacks side by side, each with its
samconfig.toml environment ([default] is thera-dev, [prod] is thera-prod). Each stack must
reach CREATE_COMPLETE and hold every resource of the SAM-transformed template, and each
resource LocalStack really implements must answer its service's describe call. Both stacks
are then deleted and LocalStack stopped, on success, failure or Ctrl-C alike.

Run by `make rehearse` with the project's Python; LocalStack runs with its own (3.13).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("launch_localstack.py")
CONFIG_ENVS = ("default", "prod")
FALLBACK_MARK = "is not supported but was deployed as a fallback"
NOT_CHECKED = (
    "IAM: LocalStack does not enforce policies; a role missing a grant, or granting too much, deploys the same.",
    "KMS key policies: not evaluated; whether S3, CloudWatch and Budgets may use the key is not tested.",
    "Queue and topic policies: stored, not enforced; S3 -> SQS and CloudWatch/Budgets -> SNS permissions untested.",
    "Functions: created with their layers and event source mappings, never invoked (no Docker); "
    "the Lambda runtime is not exercised (make sizes checks the size limit, tests/integration/test_layers.py "
    "the layers' imports).",
    "Service quotas and account settings: the account's Lambda concurrency quota, Bedrock model access.",
    "CloudWatch alarms on metric math are stored but not evaluated; schedules are created, not fired.",
)


class RehearsalError(Exception):
    """A step failed; the message is the one line the user sees."""


# ---- pure parts -------------------------------------------------------------------------------


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value Other="a b"` (samconfig's parameter_overrides) as a dict."""
    values: dict[str, str] = {}
    for token in shlex.split(text):
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise RehearsalError(f"parameter override {token!r} is not Key=Value")
        values[key] = value
    return values


@dataclass(frozen=True)
class StackPlan:
    config_env: str
    stack_name: str
    parameters: dict[str, str]


def stack_plan(samconfig: Mapping[str, Any], config_env: str) -> StackPlan:
    """The stack name and parameter overrides `sam deploy --config-env ENV` would use."""
    env = samconfig.get(config_env)
    if not isinstance(env, Mapping):
        raise RehearsalError(f"samconfig.toml has no [{config_env}] environment")
    deploy = env.get("deploy", {}).get("parameters", {})
    merged = {**env.get("global", {}).get("parameters", {}), **deploy}
    name = merged.get("stack_name")
    if not name:
        raise RehearsalError(f"samconfig.toml [{config_env}] names no stack_name")
    overrides = merged.get("parameter_overrides", "")
    if isinstance(overrides, list):
        overrides = " ".join(overrides)
    return StackPlan(config_env, str(name), parse_overrides(str(overrides)))


def expected_resources(transformed: Mapping[str, Any]) -> tuple[dict[str, str], set[str]]:
    """Logical ID -> type of every resource of a transformed template, and those under a Condition."""
    resources = transformed.get("Resources", {})
    types = {logical: str(res.get("Type", "")) for logical, res in resources.items()}
    conditional = {logical for logical, res in resources.items() if "Condition" in res}
    return types, conditional


@dataclass
class Comparison:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_type: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_type or self.incomplete)

    def describe(self) -> str:
        parts = []
        for label, items in (
            ("missing", self.missing),
            ("not in the template", self.unexpected),
            ("of another type", self.wrong_type),
            ("not CREATE_COMPLETE", self.incomplete),
        ):
            if items:
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''}")
        return "; ".join(parts)


def compare_resources(
    expected: Mapping[str, str], conditional: set[str], deployed: Iterable[Mapping[str, Any]]
) -> Comparison:
    """Expected (logical ID -> type) against a stack's resource summaries."""
    result = Comparison()
    seen: dict[str, Mapping[str, Any]] = {r["LogicalResourceId"]: r for r in deployed}
    for logical, rtype in sorted(expected.items()):
        summary = seen.get(logical)
        if summary is None:
            if logical not in conditional:
                result.missing.append(logical)
            continue
        if summary.get("ResourceType") != rtype:
            result.wrong_type.append(f"{logical} ({summary.get('ResourceType')}, expected {rtype})")
        if summary.get("ResourceStatus") != "CREATE_COMPLETE":
            result.incomplete.append(f"{logical} ({summary.get('ResourceStatus')})")
    result.unexpected = sorted(set(seen) - set(expected))
    return result


def fallback_resources(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(logical ID, type) of the resources LocalStack only pretended to create."""
    return sorted(
        {
            (e["LogicalResourceId"], e["ResourceType"])
            for e in events
            if FALLBACK_MARK in (e.get("ResourceStatusReason") or "")
        }
    )


def fallback_types_in_log(lines: Iterable[str]) -> list[str]:
    """Resource types LocalStack's log says it has no provider for (`No resource provider found for "T"`)."""
    mark = 'No resource provider found for "'
    found = set()
    for line in lines:
        start = line.find(mark)
        if start >= 0:
            rest = line[start + len(mark) :]
            found.add(rest.split('"', 1)[0])
    return sorted(found)


def first_failure(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The earliest resource failure of a stack's events (describe_stack_events lists newest first)."""
    failures = [
        e
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("_FAILED")
        and e.get("ResourceType") != "AWS::CloudFormation::Stack"
    ]
    if not failures:
        return None
    e = min(failures, key=lambda ev: ev["Timestamp"])
    reason = " ".join(str(e.get("ResourceStatusReason") or "no reason given").split())
    return f"{e['LogicalResourceId']} ({e['ResourceType']}) {e['ResourceStatus']}: {reason}"


def find_java_home(java_home_env: str | None, java_on_path: str | None) -> Path:
    """JAVA_HOME if it holds bin/java, else the JDK that `java` on PATH belongs to."""
    if java_home_env and (Path(java_home_env) / "bin" / "java").exists():
        return Path(java_home_env)
    if java_on_path:
        return Path(java_on_path).resolve().parent.parent
    raise RehearsalError("no Java found (JAVA_HOME unset, no java on PATH): install a JDK 17 or newer")


# ---- probes: does the physical resource answer its own service? -----------------------------

Probe = Callable[[Callable[[str], Any], str], object]

PROBES: dict[str, Probe] = {
    "AWS::S3::Bucket": lambda c, pid: c("s3").head_bucket(Bucket=pid),
    "AWS::SQS::Queue": lambda c, pid: c("sqs").get_queue_attributes(QueueUrl=pid, AttributeNames=["QueueArn"]),
    "AWS::DynamoDB::Table": lambda c, pid: c("dynamodb").describe_table(TableName=pid),
    "AWS::Lambda::Function": lambda c, pid: c("lambda").get_function(FunctionName=pid),
    "AWS::Lambda::LayerVersion": lambda c, pid: c("lambda").get_layer_version_by_arn(Arn=pid),
    "AWS::Lambda::EventSourceMapping": lambda c, pid: c("lambda").get_event_source_mapping(UUID=pid),
    "AWS::IAM::Role": lambda c, pid: c("iam").get_role(RoleName=pid),
    "AWS::KMS::Key": lambda c, pid: c("kms").describe_key(KeyId=pid),
    "AWS::KMS::Alias": lambda c, pid: c("kms").describe_key(KeyId=pid),
    "AWS::SNS::Topic": lambda c, pid: c("sns").get_topic_attributes(TopicArn=pid),
    "AWS::SecretsManager::Secret": lambda c, pid: c("secretsmanager").describe_secret(SecretId=pid),
    "AWS::StepFunctions::StateMachine": lambda c, pid: c("stepfunctions").describe_state_machine(stateMachineArn=pid),
    "AWS::Scheduler::Schedule": lambda c, pid: c("scheduler").get_schedule(Name=pid),
    "AWS::Logs::LogGroup": lambda c, pid: _one(
        g for g in c("logs").describe_log_groups(logGroupNamePrefix=pid)["logGroups"] if g["logGroupName"] == pid
    ),
    "AWS::CloudWatch::Alarm": lambda c, pid: _one(c("cloudwatch").describe_alarms(AlarmNames=[pid])["MetricAlarms"]),
}


def _one(items: Iterable[Any]) -> Any:
    found = list(items)
    if not found:
        raise LookupError("not found")
    return found[0]


def probe_resources(
    client: Callable[[str], Any], resources: Iterable[Mapping[str, Any]], faked: set[str]
) -> tuple[int, list[str]]:
    """Describes every resource of a probed type; returns how many answered and the ones that did not."""
    answered, absent = 0, []
    for r in resources:
        probe = PROBES.get(r["ResourceType"])
        if probe is None or r["LogicalResourceId"] in faked:
            continue
        try:
            probe(client, r["PhysicalResourceId"])
            answered += 1
        except Exception as e:  # any client error means the service does not know the resource
            absent.append(f"{r['LogicalResourceId']} ({type(e).__name__})")
    return answered, absent


# ---- running ----------------------------------------------------------------------------------


class Clock:
    """Prints each step with the time since the start and its own duration."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", flush=True)

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        began = time.monotonic()
        self.say(f"{text} …")
        yield
        self.say(f"{text}: done in {time.monotonic() - began:.1f} s")


class RssSampler(threading.Thread):
    """Peak resident memory of a process and its descendants (Linux /proc; silent elsewhere)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_main_kb = 0
        self.peak_tree_kb = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(0.5):
            tree = _descendants(self.pid)
            sizes = {pid: _rss_kb(pid) for pid in tree}
            self.peak_main_kb = max(self.peak_main_kb, sizes.get(self.pid, 0))
            self.peak_tree_kb = max(self.peak_tree_kb, sum(sizes.values()))

    def stop(self) -> None:
        self._stop.set()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(port: int) -> dict[str, Any] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/_localstack/health")
        response = conn.getresponse()
        return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


@dataclass
class LocalStack:
    python: Path
    dynamodb_local: Path
    java_home: Path
    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    sampler: RssSampler | None = None

    @property
    def log(self) -> Path:
        return self.root / "localstack.log"

    def start(self, timeout: float = 180.0) -> int:
        libs = self.root / "var" / "lib" / "localstack" / "lib"
        (libs / "java").mkdir(parents=True)
        (libs / "java" / "21").symlink_to(self.java_home)  # LocalStack would download a Java 21
        (libs / "dynamodb-local").mkdir()
        (libs / "dynamodb-local" / "2").symlink_to(self.dynamodb_local.resolve())
        self.port = free_port()
        env = {
            **os.environ,
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.root),
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "DISABLE_EVENTS": "1",
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1",
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(self.python), str(LAUNCHER)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: DynamoDB Local's Java stops with it
            )
        self.sampler = RssSampler(self.process.pid)
        self.sampler.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RehearsalError(f"LocalStack exited with code {self.process.returncode} while starting")
            status = health(self.port)
            if status and status.get("services", {}).get("cloudformation") in ("available", "running"):
                return len(status["services"])
            time.sleep(0.5)
        raise RehearsalError(f"LocalStack did not answer /_localstack/health within {timeout:.0f} s")

    def stop(self) -> None:
        if self.sampler:
            self.sampler.stop()
        if self.process is None or self.process.poll() is not None:
            return
        group = self.process.pid  # the session started for it: LocalStack and its children only
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait()
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # a child that outlived LocalStack's own shutdown


def sam_env(port: int, root: Path) -> dict[str, str]:
    """Credentials and endpoint that can only reach the local LocalStack, never a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",  # noqa: S106 LocalStack's documented dummy key
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(root / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(root / "aws-credentials"),
        SAM_CLI_TELEMETRY="0",
    )
    return env


def run_logged(cmd: list[str], log: Path, env: Mapping[str, str], what: str) -> None:
    with log.open("wb") as out:
        code = subprocess.call(cmd, env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
        raise RehearsalError(f"{what} failed (exit {code}): {tail[0].strip() if tail else 'no output'} [{log}]")


def transform(packaged: Path, parameters: Mapping[str, str]) -> dict[str, Any]:
    """The CloudFormation template SAM's own translator makes of the packaged template."""
    from samtranslator.translator.transform import transform as sam_transform
    from samtranslator.yaml_helper import yaml_parse

    # its metrics object warns when collected unpublished: nothing is published here
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            raise RehearsalError("the template names an AWS managed policy SAM cannot resolve offline")

    result: dict[str, Any] = sam_transform(yaml_parse(packaged.read_text()), dict(parameters), NoManagedPolicies())
    return result


def all_pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


@dataclass
class StackReport:
    plan: StackPlan
    resources: int
    probed: int
    faked: list[tuple[str, str]]


def verify_stack(boto: Any, plan: StackPlan, packaged: Path) -> StackReport:
    cfn = boto.client("cloudformation")
    name = plan.stack_name
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    events = all_pages(cfn, "describe_stack_events", "StackEvents", StackName=name)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        reason = first_failure(events) or stack.get("StackStatusReason", "no reason given")
        raise RehearsalError(f"{name} is {stack['StackStatus']}: {reason}")
    expected, conditional = expected_resources(transform(packaged, plan.parameters))
    deployed = all_pages(cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)
    comparison = compare_resources(expected, conditional, deployed)
    if not comparison.ok:
        raise RehearsalError(f"{name} does not match its transformed template: {comparison.describe()}")
    faked = fallback_resources(events)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto.client(service)
        return clients[service]

    probed, absent = probe_resources(client, deployed, {logical for logical, _ in faked})
    if absent:
        raise RehearsalError(f"{name}: {len(absent)} resources do not answer their service: {', '.join(absent[:5])}")
    return StackReport(plan, len(deployed), probed, faked)


def delete_stack(boto: Any, name: str) -> None:
    cfn = boto.client("cloudformation")
    stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status == "DELETE_COMPLETE":
            return
        if status == "DELETE_FAILED":
            events = all_pages(cfn, "describe_stack_events", "StackEvents", StackName=stack_id)
            raise RehearsalError(f"{name} is DELETE_FAILED: {first_failure(events) or 'no reason given'}")
        time.sleep(1)
    raise RehearsalError(f"{name} was not deleted within 300 s")


def rehearse(args: argparse.Namespace, clock: Clock, localstack: LocalStack) -> list[StackReport]:
    samconfig_path = ROOT / "samconfig.toml"
    plans = [stack_plan(tomllib.loads(samconfig_path.read_text()), env) for env in args.config_env]
    built = ROOT / ".aws-sam" / "build" / "template.yaml"
    if not built.exists():
        raise RehearsalError("no .aws-sam/build/template.yaml: run `make build` first")
    sam = str(args.sam)

    with clock.step(f"start LocalStack (log {localstack.log})"):
        services = localstack.start()
    clock.say(f"LocalStack answers on 127.0.0.1:{localstack.port} with {services} services")

    env = sam_env(localstack.port, localstack.root)
    os.environ.update(env)  # the boto3 clients below use the same endpoint and credentials
    import boto3

    boto = boto3.session.Session()
    packaged = localstack.root / "packaged.yaml"
    package = [sam, "package", "--template-file", str(built), "--output-template-file", str(packaged)]
    with clock.step("sam package: upload the build once for both stacks"):
        run_logged(
            [*package, "--resolve-s3", "--no-progressbar"], localstack.root / "sam-package.log", env, "sam package"
        )

    def deploy(plan: StackPlan) -> None:
        cmd = [sam, "deploy", "--template-file", str(packaged), "--config-file", str(samconfig_path)]
        cmd += ["--config-env", plan.config_env, "--no-confirm-changeset", "--resolve-s3", "--no-progressbar"]
        run_logged(cmd, localstack.root / f"sam-deploy-{plan.stack_name}.log", env, f"sam deploy of {plan.stack_name}")

    names = " and ".join(f"{p.stack_name} ({' '.join(f'{k}={v}' for k, v in p.parameters.items())})" for p in plans)
    with clock.step(f"sam deploy {names}, side by side"), ThreadPoolExecutor(len(plans)) as pool:
        failures = []
        for plan, future in [(p, pool.submit(deploy, p)) for p in plans]:
            try:
                future.result()
            except RehearsalError as e:
                failures.append((plan, e))
        if failures:
            plan, error = failures[0]
            status = _stack_failure(boto, plan.stack_name)
            raise RehearsalError(status or str(error))

    reports = []
    for plan in plans:
        with clock.step(f"check {plan.stack_name} against its transformed template"):
            report = verify_stack(boto, plan, packaged)
        clock.say(
            f"{plan.stack_name}: CREATE_COMPLETE, {report.resources} resources as transformed, "
            f"{report.probed} answered their service's describe call, {len(report.faked)} faked"
        )
        reports.append(report)

    with clock.step(f"delete {' and '.join(p.stack_name for p in plans)}"), ThreadPoolExecutor(len(plans)) as pool:
        for future in [pool.submit(delete_stack, boto, p.stack_name) for p in plans]:
            future.result()
    clock.say("both stacks DELETE_COMPLETE")
    return reports


def _stack_failure(boto: Any, name: str) -> str | None:
    """The first failed resource of a stack whose deploy failed, when CloudFormation knows one."""
    try:
        cfn = boto.client("cloudformation")
        events = all_pages(cfn, "describe_stack_events", "StackEvents", StackName=name)
    except Exception:  # the stack may not exist: sam deploy failed before creating it
        return None
    failure = first_failure(events)
    return f"{name}: {failure}" if failure else None


def print_limits(reports: list[StackReport], log_lines: Iterable[str]) -> None:
    print("\nResources LocalStack only faked (accepted, not created; not checked):")
    faked = sorted({item for r in reports for item in r.faked})
    for logical, rtype in faked:
        print(f"  {logical} ({rtype})")
    untracked = sorted(set(fallback_types_in_log(log_lines)) - {rtype for _, rtype in faked})
    for rtype in untracked:
        print(f"  a {rtype} (named in LocalStack's log only)")
    if not faked and not untracked:
        print("  none")
    print("What this rehearsal cannot check:")
    for line in NOT_CHECKED:
        print(f"  - {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--localstack-python", type=Path, required=True, help="Python of the LocalStack venv")
    parser.add_argument("--dynamodb-local", type=Path, required=True, help="DynamoDBLocal.jar, its lib, the agent")
    parser.add_argument("--sam", type=Path, default=Path(sys.executable).with_name("sam"))
    parser.add_argument("--config-env", nargs="+", default=list(CONFIG_ENVS), help="samconfig.toml environments")
    args = parser.parse_args(argv)

    try:
        missing = [
            p for p in (args.localstack_python, args.dynamodb_local / "DynamoDBLocal.jar", args.sam) if not p.exists()
        ]
        if missing:
            raise RehearsalError(f"{missing[0]} is missing: `make rehearse` installs it")
        java_home = find_java_home(os.environ.get("JAVA_HOME"), shutil.which("java"))
    except RehearsalError as e:
        print(f"rehearsal failed: {e}", file=sys.stderr)
        return 1

    clock = Clock()
    root = Path(tempfile.mkdtemp(prefix="thera-rehearsal-"))
    localstack: LocalStack | None = None
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        localstack = LocalStack(args.localstack_python, args.dynamodb_local, java_home, root)
        reports = rehearse(args, clock, localstack)
    except RehearsalError as e:
        _stop(localstack, clock)
        print(f"rehearsal failed: {e}{_log_note(root)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _stop(localstack, clock)
        print(f"rehearsal interrupted; LocalStack stopped{_log_note(root)}", file=sys.stderr)
        return 130
    except Exception as e:  # an unforeseen error still gets one line and a stopped LocalStack
        _stop(localstack, clock)
        print(f"rehearsal failed: {type(e).__name__}: {e}{_log_note(root)}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    assert localstack is not None
    log_lines = localstack.log.read_text(errors="replace").splitlines()
    _stop(localstack, clock)
    print_limits(reports, log_lines)
    sampler = localstack.sampler
    if sampler and sampler.peak_tree_kb:
        print(
            f"\nPeak RSS: LocalStack {sampler.peak_main_kb / 1024:.0f} MB, "
            f"with DynamoDB Local's Java {sampler.peak_tree_kb / 1024:.0f} MB"
        )
    print(f"Rehearsal passed in {time.monotonic() - clock.start:.0f} s")
    shutil.rmtree(root, ignore_errors=True)
    return 0


def _log_note(root: Path) -> str:
    log = root / "localstack.log"
    return f" (LocalStack log: {log}; sam logs beside it)" if log.exists() else ""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(localstack: LocalStack | None, clock: Clock) -> None:
    if localstack is not None and localstack.process is not None:
        with clock.step("stop LocalStack"):
            localstack.stop()


if __name__ == "__main__":
    sys.exit(main())
