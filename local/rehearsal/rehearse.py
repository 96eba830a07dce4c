"""Deploy rehearsal: the `sam build` output deployed by the real SAM CLI to LocalStack.

LocalStack runs on the host (no Docker, no account, no auth token) on a free loopback port.
The build is packaged once, then deployed as two stacks side by side, each with its
samconfig.toml environment ([default] is thera-dev, [prod] is thera-prod, deployed with
ApiAuth=Cognito so that both sign-in modes are rehearsed). Each stack must
reach CREATE_COMPLETE and hold every resource of the SAM-transformed template, and each
resource LocalStack really implements must answer its service's describe call, and the matcher
API's routes must want what the stack's ApiAuth says (``stack_checks.api_auth_problems``). Both stacks
are then deleted and LocalStack stopped, on success, failure or Ctrl-C alike.

Run by `make rehearse` with the project's Python; LocalStack runs with its own (3.13).
This file is the flow and its command line; beside it, each a script-folder module:
``stack_checks`` (what a stack must hold, pure), ``resource_probes`` (describe calls),
``localstack_host`` (the LocalStack process), ``sam_deploy`` (the SAM CLI and CloudFormation), and,
run inside LocalStack, ``launch_localstack`` with ``localstack_extras`` and ``cfn_translate`` (what
LocalStack community lacks: Cognito, HTTP APIs, custom resources).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from localstack_host import LocalStack
from sam_deploy import ROOT, StackReport, delete_stack, run_logged, sam_env, stack_failure, verify_stack
from stack_checks import (
    CONFIG_ENVS,
    RehearsalError,
    StackPlan,
    faked_lines,
    fallback_types_in_log,
    find_java_home,
    stack_plan,
)

NOT_CHECKED = (
    "IAM: LocalStack does not enforce policies; a role missing a grant, or granting too much, deploys the same.",
    "KMS key policies: not evaluated; whether S3, CloudWatch and Budgets may use the key is not tested.",
    "Queue and topic policies: stored, not enforced; S3 -> SQS and CloudWatch/Budgets -> SNS permissions untested.",
    "Functions: created with their layers and event source mappings, never invoked (no Docker); "
    "the Lambda runtime is not exercised (make sizes checks the size limit, tests/integration/test_layers.py "
    "the layers' imports). The one exception, the custom resource's function, runs on the host's Python.",
    "Cognito, the HTTP API, Glue, Athena and Budgets: LocalStack community has none of them; localstack_extras "
    "creates them on the moto backends LocalStack ships (the dashboard on LocalStack's CloudWatch). They are "
    "created and read back, but no request goes through the JWT authorizer and no one signs in here "
    "(tests/integration/test_cognito_api.py does, locally), and no SQL runs on Athena's engine (DuckDB runs it "
    "in tests/unit/test_lake_sql.py).",
    "Service quotas and account settings: the account's Lambda concurrency quota, Bedrock model access.",
    "CloudWatch alarms on metric math are stored but not evaluated; schedules are created, not fired.",
)


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


def rehearse(args: argparse.Namespace, clock: Clock, localstack: LocalStack) -> list[StackReport]:
    samconfig_path = ROOT / "samconfig.toml"
    plans = [stack_plan(tomllib.loads(samconfig_path.read_text()), env) for env in args.config_env]
    # one stack signs people in with Cognito, so both ApiAuth modes are deployed and checked
    plans = [p.with_parameters(ApiAuth="Cognito") if p.config_env == args.cognito_env else p for p in plans]
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
        if plan.overridden:  # replaces samconfig's parameter_overrides: all of them, with the rehearsal's own
            cmd += ["--parameter-overrides", " ".join(f"{k}={shlex.quote(v)}" for k, v in plan.parameters.items())]
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
            status = stack_failure(boto, plan.stack_name)
            raise RehearsalError(status or str(error))

    reports = []
    for plan in plans:
        with clock.step(f"check {plan.stack_name} against its transformed template"):
            report = verify_stack(boto, plan, packaged)
        clock.say(
            f"{plan.stack_name}: CREATE_COMPLETE, {report.resources} resources as transformed, "
            f"{report.probed} answered their service's describe call, {len(report.faked)} faked"
        )
        clock.say(f"{plan.stack_name}: {report.auth}")
        clock.say(f"{plan.stack_name}: {report.lake}")
        reports.append(report)

    with clock.step(f"delete {' and '.join(p.stack_name for p in plans)}"), ThreadPoolExecutor(len(plans)) as pool:
        for future in [pool.submit(delete_stack, boto, p.stack_name) for p in plans]:
            future.result()
    clock.say("both stacks DELETE_COMPLETE")
    return reports


def print_limits(reports: list[StackReport], log_lines: Iterable[str]) -> None:
    print("\nResources LocalStack only faked (accepted, not created; not checked):")
    faked = sorted({item for r in reports for item in r.faked})
    for line in faked_lines(faked):
        print(f"  {line}")
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
    parser.add_argument("--cognito-env", default="prod", help="the environment deployed with ApiAuth=Cognito")
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
