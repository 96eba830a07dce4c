"""`thera --stack thera-local ...` on a stack after its daily run, through AWS APIs only: the local stack
treated as a deployed one (AWS_ENDPOINT_URL at its emulator, names and the API from CloudFormation)."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import ROOT
from tests.e2e.conftest import TheraCli
from tests.e2e.test_matching import CHALLENGE
from thera_local.stack import StackInfo
from thera_local.template import REGION, STACK_NAME


def on_stack(cli: TheraCli, *args: str) -> subprocess.CompletedProcess[str]:
    info = StackInfo.read(cli.home)
    assert info is not None
    env = {
        **cli.env,
        "AWS_ENDPOINT_URL": info.endpoint,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": REGION,
    }
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        cli.argv("--stack", STACK_NAME, *args), env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_match_status_and_logs_of_the_stack_through_aws_apis(demo: tuple[TheraCli, str]) -> None:
    cli, _ = demo
    remote = on_stack(cli, "match", CHALLENGE, "--json", "--top", "5")
    assert remote.returncode == 0, remote.stderr
    local = json.loads(cli.run("match", CHALLENGE, "--json", "--top", "5").stdout)
    assert [m["domain"] for m in json.loads(remote.stdout)] == [m["domain"] for m in local]

    status = on_stack(cli, "status")
    assert status.returncode == 0, status.stderr
    runs = {line.split()[0]: line for line in status.stdout.splitlines() if "Function" in line}
    assert "last run" in runs["ApolloPullFunction"] and "Duration" in runs["ApolloPullFunction"], status.stdout
    assert "Apollo sweep" in status.stdout and "breaker firecrawl: closed" in status.stdout

    logs = on_stack(cli, "logs", "ApolloPullFunction", "--filter", "REPORT")
    assert logs.returncode == 0, logs.stderr
    reports = logs.stdout.splitlines()
    assert reports and all(line.startswith("REPORT RequestId:") for line in reports)
