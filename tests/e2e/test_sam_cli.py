"""SAM CLI's own stack commands against the local stack: `sam logs` and `sam list resources`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.e2e.conftest import TheraCli
from thera_local.cloudformation import sam_environment
from thera_local.stack import StackInfo
from thera_local.template import Template

SAM = Path(sys.executable).parent / "sam"


def sam(info: StackInfo, *args: str) -> str:
    env = {**os.environ, **sam_environment(info.endpoint), "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(
        [str(SAM), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"sam {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_sam_logs_and_list_resources_read_the_local_stack(demo: tuple[TheraCli, str]) -> None:
    cli, _ = demo
    info = StackInfo.read(cli.home)
    assert info is not None and info.alive()

    logs = sam(info, "logs", "-n", "ApolloPullFunction", "--stack-name", "thera-local", "--start-time", "1h ago")
    assert "apollo pull finished" in logs  # the pull's own log line, from its log group
    assert "START RequestId:" in logs and "REPORT RequestId:" in logs
    assert "[$LATEST]" in logs  # each line under its environment's stream

    listed = json.loads(sam(info, "list", "resources", "--stack-name", "thera-local", "--output", "json"))
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in listed}
    template = Template(ROOT / "template.yaml")
    for logical in template.of_type("AWS::Serverless::Function"):
        assert physical[logical] == template.physical(logical)
    assert physical["DataLakeBucket"] == template.physical("DataLakeBucket")
