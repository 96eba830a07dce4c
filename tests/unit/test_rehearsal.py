"""The deploy rehearsal's pure parts: what it expects, how it compares, what it reports as faked."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT


def _load(name: str) -> ModuleType:
    """local/rehearsal/ is a script folder, not a package: import a module by its path, under the bare
    name its siblings import it by (as the script's own folder on sys.path gives it)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "local" / "rehearsal" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses, and the siblings, look their module up here
    spec.loader.exec_module(module)
    return module


stack_checks, resource_probes, _, _, rehearse = map(
    _load, ("stack_checks", "resource_probes", "localstack_host", "sam_deploy", "rehearse")
)
T0 = datetime(2026, 12, 5, 21, 0, tzinfo=UTC)


def summary(logical: str, rtype: str, status: str = "CREATE_COMPLETE", physical: str = "p") -> dict[str, Any]:
    return {
        "LogicalResourceId": logical,
        "ResourceType": rtype,
        "ResourceStatus": status,
        "PhysicalResourceId": physical,
    }


def event(logical: str, rtype: str, status: str, reason: str | None = None, at: int = 0) -> dict[str, Any]:
    e: dict[str, Any] = {"LogicalResourceId": logical, "ResourceType": rtype, "ResourceStatus": status}
    e["Timestamp"] = T0 + timedelta(seconds=at)
    if reason is not None:
        e["ResourceStatusReason"] = reason
    return e


EXPECTED = {"LakeBucket": "AWS::S3::Bucket", "QuotaTable": "AWS::DynamoDB::Table", "Api": "AWS::ApiGatewayV2::Api"}


def test_a_stack_holding_every_expected_resource_complete_matches() -> None:
    deployed = [summary(k, v) for k, v in EXPECTED.items()]
    result = stack_checks.compare_resources(EXPECTED, set(), deployed)
    assert result.ok
    assert result.describe() == ""


def test_missing_extra_mistyped_and_incomplete_resources_are_each_named() -> None:
    deployed = [
        summary("LakeBucket", "AWS::S3::Bucket", status="CREATE_FAILED"),
        summary("Api", "AWS::ApiGatewayV2::Stage"),
        summary("Stray", "AWS::SQS::Queue"),
    ]
    result = stack_checks.compare_resources(EXPECTED, set(), deployed)
    assert not result.ok
    assert result.missing == ["QuotaTable"]
    assert result.unexpected == ["Stray"]
    assert result.wrong_type == ["Api (AWS::ApiGatewayV2::Stage, expected AWS::ApiGatewayV2::Api)"]
    assert result.incomplete == ["LakeBucket (CREATE_FAILED)"]
    assert "1 missing: QuotaTable" in result.describe()


def test_a_resource_under_a_condition_may_be_absent() -> None:
    transformed = {
        "Resources": {
            "LakeBucket": {"Type": "AWS::S3::Bucket"},
            "ProdOnlyAlarm": {"Type": "AWS::CloudWatch::Alarm", "Condition": "IsProd"},
        }
    }
    expected, conditional = stack_checks.expected_resources(transformed)
    assert expected == {"LakeBucket": "AWS::S3::Bucket", "ProdOnlyAlarm": "AWS::CloudWatch::Alarm"}
    assert conditional == {"ProdOnlyAlarm"}
    assert stack_checks.compare_resources(expected, conditional, [summary("LakeBucket", "AWS::S3::Bucket")]).ok
    assert stack_checks.compare_resources(expected, set(), [summary("LakeBucket", "AWS::S3::Bucket")]).missing == [
        "ProdOnlyAlarm"
    ]


def test_fallback_resources_are_read_from_the_stack_events_once_each() -> None:
    faked = "Resource type AWS::Budgets::Budget is not supported but was deployed as a fallback"
    events = [
        event("MonthlyBudget", "AWS::Budgets::Budget", "CREATE_COMPLETE", faked, at=3),
        event("MonthlyBudget", "AWS::Budgets::Budget", "CREATE_IN_PROGRESS", faked, at=2),
        event("LakeBucket", "AWS::S3::Bucket", "CREATE_COMPLETE", at=1),
        event(
            "MatcherApi",
            "AWS::ApiGatewayV2::Api",
            "CREATE_COMPLETE",
            "Resource type AWS::ApiGatewayV2::Api is not supported but was deployed as a fallback",
        ),
    ]
    assert stack_checks.fallback_resources(events) == [
        ("MatcherApi", "AWS::ApiGatewayV2::Api"),
        ("MonthlyBudget", "AWS::Budgets::Budget"),
    ]


def test_faked_resources_are_listed_one_line_per_type_with_their_count_when_many() -> None:
    faked = [
        ("LakeTableAms", "AWS::Glue::Table"),
        ("MonthlyBudget", "AWS::Budgets::Budget"),
        ("LakeTableFeedback", "AWS::Glue::Table"),
        ("LakeTableAms", "AWS::Glue::Table"),  # both stacks fake it: once
    ]
    assert stack_checks.faked_lines(faked) == [
        "MonthlyBudget (AWS::Budgets::Budget)",
        "2 AWS::Glue::Table: LakeTableAms, LakeTableFeedback",
    ]


def test_fallback_types_are_parsed_from_localstack_log_lines() -> None:
    lines = [
        "2026-12-05T21:19:48.789  WARN --- [-functhread2] l.s.c.deployment_utils     : "
        'No resource provider found for "AWS::ApiGatewayV2::Api". To find out if AWS::ApiGatewayV2::Api is supported',
        '2026-12-05T21:19:51.000  WARN --- [-functhread2] l.s.c.deployment_utils : No resource provider found for "'
        'AWS::CloudWatch::Dashboard". To find out …',
        "2026-12-05T21:19:51.524  WARN --- [et.reactor-7] l.s.c.alarm_scheduler : Given alarm configuration not yet",
        'No resource provider found for "AWS::ApiGatewayV2::Api" again',
    ]
    assert stack_checks.fallback_types_in_log(lines) == ["AWS::ApiGatewayV2::Api", "AWS::CloudWatch::Dashboard"]


def test_first_failure_names_the_earliest_failed_resource_not_the_stack() -> None:
    events = [
        event("thera-prod", "AWS::CloudFormation::Stack", "ROLLBACK_FAILED", "rollback failed", at=9),
        event("MonthlyBudget", "AWS::Budgets::Budget", "CREATE_FAILED", "Resource creation cancelled", at=5),
        event(
            "AmsFunctionAmsOfTheDay",
            "AWS::Scheduler::Schedule",
            "CREATE_FAILED",
            "ConflictException:\n Schedule AmsFunctionAmsOfTheDay already exists",
            at=4,
        ),
        event("LakeBucket", "AWS::S3::Bucket", "CREATE_COMPLETE", at=1),
    ]
    assert stack_checks.first_failure(events) == (
        "AmsFunctionAmsOfTheDay (AWS::Scheduler::Schedule) CREATE_FAILED: "
        "ConflictException: Schedule AmsFunctionAmsOfTheDay already exists"
    )
    assert stack_checks.first_failure([event("LakeBucket", "AWS::S3::Bucket", "CREATE_COMPLETE")]) is None


def test_the_repository_samconfig_gives_two_distinct_stacks_with_their_stage() -> None:
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    dev, prod = (stack_checks.stack_plan(samconfig, env) for env in stack_checks.CONFIG_ENVS)
    assert (dev.stack_name, dev.parameters["Stage"]) == ("thera-dev", "dev")
    assert (prod.stack_name, prod.parameters["Stage"]) == ("thera-prod", "prod")


def test_stack_plan_prefers_deploy_parameters_and_refuses_an_unknown_environment() -> None:
    samconfig = {
        "qa": {
            "global": {"parameters": {"stack_name": "from-global"}},
            "deploy": {"parameters": {"stack_name": "thera-qa", "parameter_overrides": ["Stage=qa", "LogLevel=INFO"]}},
        }
    }
    plan = stack_checks.stack_plan(samconfig, "qa")
    assert plan.stack_name == "thera-qa"
    assert plan.parameters == {"Stage": "qa", "LogLevel": "INFO"}
    with pytest.raises(stack_checks.RehearsalError, match=r"no \[staging\]"):
        stack_checks.stack_plan(samconfig, "staging")


def test_parameter_overrides_keep_quoted_values_and_refuse_a_bare_word() -> None:
    assert stack_checks.parse_overrides('Stage=dev AlarmEmail="ops team@example.com" Empty=') == {
        "Stage": "dev",
        "AlarmEmail": "ops team@example.com",
        "Empty": "",
    }
    with pytest.raises(stack_checks.RehearsalError, match="not Key=Value"):
        stack_checks.parse_overrides("Stage=dev prod")


def test_java_home_comes_from_java_home_else_from_the_java_on_path(tmp_path: Path) -> None:
    jdk = tmp_path / "jdk-17"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("")
    link = tmp_path / "usr-bin-java"
    link.symlink_to(jdk / "bin" / "java")
    assert stack_checks.find_java_home(str(jdk), None) == jdk
    assert stack_checks.find_java_home(str(tmp_path / "no-jdk"), str(link)) == jdk.resolve()
    with pytest.raises(stack_checks.RehearsalError, match="install a JDK"):
        stack_checks.find_java_home(None, None)


class FakeS3:
    def __init__(self, buckets: set[str]) -> None:
        self.buckets = buckets

    def head_bucket(self, Bucket: str) -> dict[str, Any]:
        if Bucket not in self.buckets:
            raise LookupError(Bucket)
        return {}


def test_probes_describe_real_resources_and_skip_faked_and_unprobed_types() -> None:
    s3 = FakeS3({"thera-dev-lake"})
    resources = [
        summary("LakeBucket", "AWS::S3::Bucket", physical="thera-dev-lake"),
        summary("GoneBucket", "AWS::S3::Bucket", physical="thera-dev-gone"),
        summary("FakedBucket", "AWS::S3::Bucket", physical="unknown"),
        summary("LakePolicy", "AWS::S3::BucketPolicy", physical="whatever"),
    ]
    answered, absent = resource_probes.probe_resources(lambda service: {"s3": s3}[service], resources, {"FakedBucket"})
    assert answered == 1
    assert absent == ["GoneBucket (LookupError)"]


def test_a_missing_prerequisite_is_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = rehearse.main(["--localstack-python", str(tmp_path / "python"), "--dynamodb-local", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"rehearsal failed: {tmp_path / 'python'} is missing")


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    from thera_local.cloudformation import translate

    return translate(ROOT / "template.yaml")


def test_the_transformed_template_watches_every_function_table_and_schedule(transformed: dict[str, Any]) -> None:
    assert stack_checks.monitoring_gaps(transformed) == []
    kinds = [r["Type"] for r in transformed["Resources"].values()]
    assert kinds.count("AWS::Scheduler::Schedule") == 5  # each checked for its dead-letter queue


def test_a_missing_alarm_or_dead_letter_queue_is_named(transformed: dict[str, Any]) -> None:
    import copy

    doc = copy.deepcopy(transformed)
    resources = doc["Resources"]
    del resources["QuotaTableThrottleAlarm"], resources["AmsFunctionDurationAlarm"]
    del resources["IndexRefreshScheduleDLQDepthAlarm"]
    (daily,) = [
        k for k, r in resources.items() if r["Properties"].get("Name") == {"Fn::Sub": "thera-${Stage}-apollo-pull"}
    ]
    del resources[daily]["Properties"]["Target"]["DeadLetterConfig"]
    refresh = next(k for k, r in resources.items() if r["Type"] == "AWS::Scheduler::Schedule" and "IndexRefresh" in k)
    assert stack_checks.monitoring_gaps(doc) == sorted(
        [
            "AmsFunction has no duration alarm",
            f"{daily} has no dead-letter queue",
            f"{refresh}'s dead-letter queue IndexRefreshScheduleDLQ has no depth alarm",
            "QuotaTable has no throttling alarm",
        ]
    )
