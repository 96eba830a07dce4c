"""Invariants of template.yaml that every later stage relies on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT
from thera_local.template import Template

TEMPLATE = Template(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.functions()


def props(logical: str) -> dict[str, Any]:
    return dict(TEMPLATE.resources[logical].get("Properties", {}))


@pytest.mark.parametrize("spec", [f for f in FUNCTIONS.values() if f.sqs_events], ids=lambda f: f.logical_id)
def test_every_sqs_consumer_reports_partial_failures_and_its_queue_has_dlq_and_long_enough_visibility(
    spec: Any,
) -> None:
    for event in spec.sqs_events:
        assert event.report_failures, f"{spec.logical_id}.{event.name} lacks ReportBatchItemFailures"
        queue = props(event.queue)
        assert int(queue["VisibilityTimeout"]) >= 6 * spec.timeout
        redrive = queue["RedrivePolicy"]
        assert int(redrive["maxReceiveCount"]) >= 5
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert TEMPLATE.resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_apollo_pull_runs_daily_at_one_in_sao_paulo() -> None:
    (schedule,) = FUNCTIONS["ApolloPullFunction"].schedules
    assert schedule.expression == "cron(0 1 * * ? *)"
    assert schedule.timezone == "America/Sao_Paulo"
    assert props("ApolloPullFunction")["Events"]["DailyPull"]["Type"] == "ScheduleV2"


def test_apollo_key_comes_from_secrets_manager_never_a_literal() -> None:
    env = props("ApolloPullFunction")["Environment"]["Variables"]
    assert env["APOLLO_SECRET_ID"] == {"Ref": "ApolloApiKeySecret"}
    secret = props("ApolloApiKeySecret")
    assert "SecretString" not in secret
    assert not any("api_key" in k.lower() for k in env if k != "APOLLO_SECRET_ID")


def test_buckets_are_encrypted_private_and_tls_only() -> None:
    for logical, res in TEMPLATE.of_type("AWS::S3::Bucket").items():
        p = res["Properties"]
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(p["PublicAccessBlockConfiguration"].values())
        policies = [
            r
            for r in TEMPLATE.of_type("AWS::S3::BucketPolicy").values()
            if r["Properties"]["Bucket"] == {"Ref": logical}
        ]
        statements = [s for pol in policies for s in pol["Properties"]["PolicyDocument"]["Statement"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in statements
        )


def test_tables_have_ttl_and_encryption() -> None:
    for res in TEMPLATE.of_type("AWS::DynamoDB::Table").values():
        p = res["Properties"]
        assert p["TimeToLiveSpecification"]["Enabled"] is True
        assert p["SSESpecification"]["SSEEnabled"] is True


def test_pyarrow_ships_in_its_own_layer_only() -> None:
    core = (ROOT / "layers" / "thera" / "requirements.txt").read_text()
    assert "pyarrow" not in core
    assert "pyarrow" in (ROOT / "layers" / "pyarrow" / "requirements.txt").read_text()


def test_lake_notifications_feed_each_stage_its_own_prefix() -> None:
    configs = props("DataLakeBucket")["NotificationConfiguration"]["QueueConfigurations"]
    wired = {
        config["Queue"]["Fn::GetAtt"][0]: {r["Name"]: r["Value"] for r in config["Filter"]["S3Key"]["Rules"]}
        for config in configs
    }
    assert wired == {
        "BronzeQueue": {"prefix": "bronze/companies/", "suffix": ".parquet"},
        "ProfileQueue": {"prefix": "silver/firecrawl/", "suffix": ".parquet"},
        "EmbedQueue": {"prefix": "gold/profiles/", "suffix": ".parquet"},
    }
    allowed = {
        queue["Fn::GetAtt"][0]
        for res in TEMPLATE.of_type("AWS::SQS::QueuePolicy").values()
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
        for queue in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    }
    assert set(wired) <= allowed  # S3 may send to every notified queue


def _stage(logical_id: str) -> str:
    name = logical_id.removesuffix("Function")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@pytest.mark.parametrize("spec", list(FUNCTIONS.values()), ids=lambda f: f.logical_id)
def test_every_queue_event_and_schedule_has_a_sample_event(spec: Any) -> None:
    names = {p.name for p in (ROOT / "events").glob("*.json")}
    if spec.sqs_events:
        assert f"{_stage(spec.logical_id)}_sqs.json" in names
    if spec.schedules:
        assert f"{_stage(spec.logical_id)}_schedule.json" in names


def test_read_models_keep_versions_and_expire() -> None:
    for logical in ("PublicStartupsTable", "PrivateStartupsTable"):
        p = props(logical)
        assert p["KeySchema"] == [{"AttributeName": "domain", "KeyType": "HASH"}]
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert p["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def test_only_the_publisher_writes_the_read_models_and_it_cannot_read_them() -> None:
    writers = {}
    for logical, res in TEMPLATE.of_type("AWS::Serverless::Function").items():
        for policy in res["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for r in resources:
                    if isinstance(r, dict) and r.get("Fn::GetAtt", [""])[0] in {
                        "PublicStartupsTable",
                        "PrivateStartupsTable",
                    }:
                        writers.setdefault(logical, set()).update(
                            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                        )
    assert writers == {"PublisherFunction": {"dynamodb:PutItem"}}


def test_the_weekly_training_is_the_only_state_machine_and_every_substitution_is_provided() -> None:
    import re

    (logical,) = TEMPLATE.of_type("AWS::Serverless::StateMachine")
    machine = props(logical)
    asl = (ROOT / machine["DefinitionUri"]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", asl)) == set(machine["DefinitionSubstitutions"])
    (event,) = machine["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert TEMPLATE.resolve(event["Properties"]["ScheduleExpression"]) == "cron(0 3 ? * MON *)"
    assert TEMPLATE.resolve(event["Properties"]["ScheduleExpressionTimezone"]) == "America/Sao_Paulo"
    assert not list(TEMPLATE.of_type("AWS::StepFunctions::StateMachine"))


def test_scikit_learn_ships_only_with_the_train_function() -> None:
    with_sklearn = [
        name
        for name, f in TEMPLATE.of_type("AWS::Serverless::Function").items()
        if {"Ref": "SklearnLayer"} in f["Properties"].get("Layers", [])
    ]
    assert with_sklearn == ["TrainFunction"]


@pytest.mark.parametrize(
    ("stage", "also", "absent"),
    [
        ("matcher", "", {"sklearn", "scipy", "aiohttp", "matplotlib"}),
        ("index_builder", "", {"sklearn", "scipy", "aiohttp", "matplotlib"}),
        ("weekly_training", "", {"pyarrow", "aiohttp", "sklearn", "scipy", "matplotlib"}),  # build set, promote
        ("weekly_training", "thera.trainers", {"pyarrow", "aiohttp", "matplotlib"}),  # train
        ("weekly_training", "thera.report", {"pyarrow", "aiohttp", "sklearn", "scipy"}),  # evaluate
        ("apollo_pull", "", {"numpy", "sklearn", "scipy", "matplotlib"}),
        ("ams", "", {"numpy", "sklearn", "scipy", "matplotlib"}),
    ],
)
def test_each_handler_loads_with_only_the_packages_its_layers_hold(stage: str, also: str, absent: set[str]) -> None:
    """A fresh interpreter in which the packages its layers lack cannot be imported loads the handler (and,
    for the training steps, what their task imports): an optional import may be tried, a hard one fails."""
    import subprocess
    import sys

    extra = f"import {also}" if also else ""
    code = (
        "import sys, importlib.abc, importlib.util\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {sorted(absent)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not in this function s layers)')\n"
        "sys.meta_path.insert(0, Absent())\n"
        f"spec = importlib.util.spec_from_file_location('app', '{ROOT}/functions/{stage}/app.py')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"{extra}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _alarms_on(metric: str) -> list[dict[str, Any]]:
    out = []
    for res in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        p = res["Properties"]
        names = [p.get("MetricName")] + [
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in p.get("Metrics", [])
        ]
        if metric in names:
            out.append(p)
    return out


def _dimension_refs(alarm: dict[str, Any]) -> set[str]:
    dims = list(alarm.get("Dimensions", []))
    for m in alarm.get("Metrics", []):
        dims += m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    refs = set()
    for d in dims:
        value = d["Value"]
        refs.add(value.get("Ref") or value.get("Fn::GetAtt", [""])[0])
    return refs


def test_every_dlq_function_and_source_queue_has_an_alarm_that_notifies() -> None:
    dlqs = {q for q in TEMPLATE.of_type("AWS::SQS::Queue") if q.endswith("DLQ")}
    depth_alarmed = set().union(*(_dimension_refs(a) for a in _alarms_on("ApproximateNumberOfMessagesVisible")))
    assert dlqs <= depth_alarmed
    assert set(FUNCTIONS) <= set().union(*(_dimension_refs(a) for a in _alarms_on("Errors")))
    sources = {q for q in TEMPLATE.of_type("AWS::SQS::Queue") if not q.endswith("DLQ")}
    assert sources <= set().union(*(_dimension_refs(a) for a in _alarms_on("ApproximateAgeOfOldestMessage")))
    assert _alarms_on("BreakerOpenSeconds") and _alarms_on("ExecutionsFailed")
    for res in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        assert res["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_budget_notifies_at_80_90_and_100_percent() -> None:
    (budget,) = TEMPLATE.of_type("AWS::Budgets::Budget").values()
    notes = budget["Properties"]["NotificationsWithSubscribers"]
    assert sorted(n["Notification"]["Threshold"] for n in notes) == [80, 90, 100]
    subscriber = {"SubscriptionType": "SNS", "Address": {"Ref": "AlarmTopic"}}
    assert all(n["Subscribers"] == [subscriber] for n in notes)


def test_the_dashboard_is_valid_json_covering_every_function_queue_and_business_metric() -> None:
    import json
    import re

    (dashboard,) = TEMPLATE.of_type("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    refs = set(re.findall(r"\$\{([\w:.]+)\}", body))
    doc = json.loads(re.sub(r"\$\{[\w:.]+\}", "x", body))
    assert len(doc["widgets"]) >= 10
    assert set(FUNCTIONS) <= refs
    assert {f"{q}.QueueName" for q in TEMPLATE.of_type("AWS::SQS::Queue")} <= refs
    for metric in ("BreakerOpenSeconds", "ApolloQuotaLeft_day", "EmbeddingCostMicroUSD", "AverageMatchScore"):
        assert metric in body


def test_every_checkov_skip_says_why_and_data_at_rest_uses_the_customer_key() -> None:
    for logical, res in TEMPLATE.resources.items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) >= 40, f"{logical} skips {skip['id']} without a reason"
    for res in TEMPLATE.of_type("AWS::SQS::Queue").values():
        assert res["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    for res in TEMPLATE.of_type("AWS::DynamoDB::Table").values():
        assert res["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}
    for res in TEMPLATE.of_type("AWS::Logs::LogGroup").values():
        assert res["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert props("DataKey")["EnableKeyRotation"] is True


def _schedules() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for logical, res in TEMPLATE.resources.items():
        for name, event in res.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == "ScheduleV2":
                found.append((logical, name, event["Properties"]))
    return found


def test_every_schedule_has_a_stage_scoped_name_so_two_stages_can_share_an_account() -> None:
    schedules = _schedules()
    assert len(schedules) == 5
    names = []
    for logical, event, p in schedules:
        name = p.get("Name")
        assert name, f"{logical}.{event} has no Name: SAM names it after the logical ID, the same in every stage"
        assert isinstance(name, dict) and "${Stage}" in name["Fn::Sub"], f"{logical}.{event}: {name!r}"
        names.append(name["Fn::Sub"])
    assert len(set(names)) == len(names)


def test_functions_run_python_3_13_and_layers_build_for_it_without_a_matching_interpreter() -> None:
    """python3.11 runs on Amazon Linux 2, past its end of life; the layers pick their wheels with pip's
    --platform/--python-version (layers/layer.mk), for the Architecture parameter's processor."""
    function_globals = TEMPLATE.doc["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == [{"Ref": "Architecture"}]
    assert TEMPLATE.doc["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    for logical in FUNCTIONS:
        assert "Runtime" not in props(logical) and "Architectures" not in props(logical), logical
    layers = TEMPLATE.of_type("AWS::Serverless::LayerVersion")
    assert layers
    for logical, res in layers.items():
        assert res["Properties"]["CompatibleRuntimes"] == ["python3.13"], logical
        assert res["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}], logical
        assert res["Metadata"]["BuildMethod"] == "makefile", logical
        makefile = (ROOT / res["Properties"]["ContentUri"] / "Makefile").read_text()
        assert f"build-{logical}:" in makefile and "layer.mk" in makefile, logical
