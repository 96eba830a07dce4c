"""Reading the ASL file: SAM substitutions, and the names a branch's states are reported under."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT
from thera_local.stepfunctions import labels, load_definition
from thera_local.template import Template
from thera_local.weekly import definition

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def test_the_weekly_definition_names_its_branch_states_under_the_parallel_state() -> None:
    template = Template(ROOT / "template.yaml", {"ApolloBaseUrl": "http://127.0.0.1:9/api/v1"})
    named = labels(definition(template))
    assert named["TrainRandomForest"] == "Train/TrainRandomForest" and named["Evaluate"] == "Evaluate"


def test_load_definition_fills_sam_substitutions(tmp_path: Path) -> None:
    path = tmp_path / "machine.asl.json"
    machine = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${ScoreArn}", "End": True}}}
    path.write_text(json.dumps(machine))
    assert load_definition(path, {"ScoreArn": ARN + "Score"})["States"]["A"]["Resource"] == ARN + "Score"
    with pytest.raises(ValueError, match="ScoreArn"):
        load_definition(path, {})
