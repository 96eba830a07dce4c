"""``thera --stack NAME ...`` through AWS APIs only: the emulator's account treated as AWS (``AWS_ENDPOINT_URL``
at it), the stack ``thera-local`` resolved through its CloudFormation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SAMPLE
from tests.integration.conftest import Aws
from tests.integration.test_explorer_page import CHALLENGE, lake
from tests.integration.test_explorer_sign_in import matcher_api_behind_pool
from thera.kernel import keys
from thera.lake.ingest import encode_raw_page
from thera_local.cli.main import main
from thera_local.cognito import provision_user_pool
from thera_local.emulator import publish_api_url
from thera_local.standins.apollo import load_companies, organization_from_company
from thera_local.stepfunctions import routed_lambda, state_machine_arn
from thera_local.template import REGION, STACK_NAME, Template
from thera_local.users import add_user

__all__ = ["lake"]  # the fixture: the index of the explorer's tests, for the Cognito stack's matcher


@pytest.fixture
def as_aws(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """boto3's default chain pointed at the emulator, as an operator's shell would point it at AWS."""
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return aws


def thera(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--stack", STACK_NAME, *args])
    out, err = capsys.readouterr()
    return code, out, err


def dead_letter(aws: Aws, queue: str, *bodies: str) -> None:
    sqs = aws.client("sqs")
    for body in bodies:
        sqs.send_message(
            QueueUrl=aws.queue_url(queue),
            MessageBody=body,
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )


def test_status_shows_dlq_depths_breaker_and_quota_of_the_stack(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(as_aws, "CrawlDLQ", '{"domain": "a.example"}', '{"domain": "b.example"}')
    code, out, err = thera(capsys, "status")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"stack {STACK_NAME}"
    crawl_dlq = next(line for line in lines if " CrawlDLQ " in line)
    assert crawl_dlq.split()[:4] == ["DLQ", "CrawlDLQ", "visible", "2"]
    assert next(line for line in lines if " CrawlQueue " in line).split()[:4] == ["queue", "CrawlQueue", "visible", "0"]
    assert "  breaker firecrawl: closed" in lines
    assert any(line.startswith("  apollo quota left: ") for line in lines)
    assert any(line.split()[:2] == ["ApolloPullFunction", "not"] for line in lines)


def test_redrive_moves_a_dlq_message_back_through_a_message_move_task(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(as_aws, "CrawlDLQ", '{"domain": "a.example"}', '{"domain": "b.example"}')
    code, out, err = thera(capsys, "redrive", "CrawlDLQ")
    assert code == 0, err
    assert out.strip() == "message move task COMPLETED: 2 of 2 message(s) moved from CrawlDLQ back to CrawlQueue"
    sqs = as_aws.client("sqs")
    got = sqs.receive_message(
        QueueUrl=as_aws.queue_url("CrawlQueue"), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(json.loads(m["Body"])["domain"] for m in got) == ["a.example", "b.example"]
    assert {m["MessageAttributes"]["origin"]["StringValue"] for m in got} == {"test"}
    left = sqs.get_queue_attributes(QueueUrl=as_aws.queue_url("CrawlDLQ"), AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    dlq_arn = left["QueueArn"]
    task = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 2)


def test_redrive_names_the_queue_by_its_source_and_refuses_a_queue_without_a_dlq(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(as_aws, "CrawlDLQ", "{}")
    code, out, _ = thera(capsys, "redrive", "CrawlQueue")
    assert (code, out.split(":")[0]) == (0, "message move task COMPLETED")
    code, _, err = thera(capsys, "redrive", "NoSuchQueue")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "CrawlDLQ" in err


def test_logs_reads_the_functions_log_group_with_filter_and_since(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    group = f"/aws/lambda/{as_aws.template.physical('ApolloPullFunction')}"
    logs = as_aws.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[
            {"timestamp": now - 3 * 3600 * 1000, "message": "old pulled page 1"},
            {"timestamp": now - 1000, "message": "pulled page 2"},
            {"timestamp": now, "message": "quota spent"},
        ],
    )
    code, out, err = thera(capsys, "logs", "ApolloPullFunction")
    assert (code, out.splitlines()) == (0, ["old pulled page 1", "pulled page 2", "quota spent"]), err
    code, out, _ = thera(capsys, "logs", "ApolloPullFunction", "--filter", "pulled", "--since", "1h")
    assert out.splitlines() == ["pulled page 2"]


def test_replay_rebuilds_a_days_silver_from_the_stacks_raw_pages(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    day = "2026-11-22"
    organizations = [organization_from_company(c) for c in load_companies(SAMPLE)[:3]]
    as_aws.client("s3").put_object(
        Bucket=as_aws.bucket,
        Key=keys.raw_apollo_page(day, day, 1),
        Body=encode_raw_page(organizations),
        Metadata={"pulled-at": f"{day}T06:00:00Z", "run-id": "run-1", "total-pages": "1", "total-entries": "3"},
    )
    code, out, err = thera(capsys, "replay", "--date", day, "--json")
    report = json.loads(out)
    assert (report["raw_pages"], report["companies"], report["silver_objects"]) == (1, 3, 1), err
    assert code == 1 and len(report["silver_differing"]) == 1  # the lake holds no silver of that day to compare
    written = as_aws.client("s3").list_objects_v2(Bucket=as_aws.bucket, Prefix=f"replay/date={day}/")["Contents"]
    assert {o["Key"] for o in written} >= set(report["written"])


def test_run_daily_invokes_the_daily_schedules_functions_asynchronously_with_their_input(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    invoked: list[tuple[str, dict[str, Any]]] = []
    logs = as_aws.client("logs")

    def route(arn: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """Lambda, as far as the flow sees it: the invocation, then its REPORT line in the log group."""
        invoked.append((arn, event))
        group, stream = f"/aws/lambda/{arn.rsplit(':', 1)[1]}", uuid.uuid4().hex
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        report = f"REPORT RequestId: {stream}\tDuration: 12.00 ms\tBilled Duration: 12 ms"
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": report}],
        )
        return True, {}

    sqs = as_aws.client("sqs")
    for queue in ("BronzeQueue", "EmbedQueue", "ProfileQueue"):  # S3's test events: no poller consumes them here
        sqs.purge_queue(QueueUrl=as_aws.queue_url(queue))
    with routed_lambda(route):
        code, out, err = thera(capsys, "run", "daily", "--timeout", "60")
    assert code == 0, out + err
    functions = {arn.rsplit(":", 1)[1]: event for arn, event in invoked}
    pull = functions[as_aws.template.physical("ApolloPullFunction")]
    assert datetime.fromisoformat(pull["scheduled_time"].replace("Z", "+00:00")) <= datetime.now(UTC)
    assert functions[as_aws.template.physical("IndexBuilderFunction")] == {"action": "refresh_index"}
    assert "Funnel" in out and "CrawlDLQ" in out  # the funnel as the local run prints it, DLQ depths with it


def test_run_weekly_starts_the_training_state_machine_and_reports_how_its_execution_ended(
    as_aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks: list[str] = []

    def route(arn: str, event: Any) -> tuple[bool, Any]:  # every Lambda task fails, as a broken deploy would
        tasks.append(arn)
        return False, {"errorType": "BrokenDeploy", "errorMessage": "no module named thera"}

    with routed_lambda(route):
        code, out, err = thera(capsys, "run", "weekly", "--timeout", "120")
    sfn = as_aws.client("stepfunctions")
    machine = state_machine_arn(as_aws.template, "WeeklyTrainingStateMachine")
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert [e["status"] for e in executions] == ["FAILED"] and tasks
    assert code == 1 and f"execution {executions[0]['name']}: FAILED" in out.splitlines()
    assert err.startswith("thera: the weekly training failed") and len(err.strip().splitlines()) == 1


def test_an_unknown_stack_is_one_line_on_stderr(as_aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--stack", "no-such-stack", "status"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("thera: stack no-such-stack") and len(err.strip().splitlines()) == 1


def test_a_local_only_command_refuses_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", STACK_NAME, "sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("thera: --stack works with status, logs") and err.endswith("`thera sql` is local only\n")


# ---------------------------------------------------------------- ApiAuth=Cognito: --token


@dataclass
class SignedStack:
    api: str
    token: str


@pytest.fixture
def cognito_stack(lake: list[dict[str, Any]], as_aws: Aws, tmp_path: Path) -> Iterator[SignedStack]:
    """The stack's MatcherApiUrl at the local API behind the JWT authorizer (ApiAuth=Cognito), the index of
    tests/integration/test_explorer_page.py, and a user's ID token from the emulator's pool."""
    template = Template(ROOT / "template.yaml", {"ApiAuth": "Cognito", "LocalHostedUiUrl": "http://127.0.0.1:9"})
    pool = provision_user_pool(template, as_aws.client("cognito-idp"))
    assert pool is not None
    api = matcher_api_behind_pool(template, pool, as_aws.endpoint, tmp_path)
    publish_api_url(api.start())  # as the local stack does: MatcherApiUrl names the API
    add_user(template, as_aws.endpoint, "ana@example.com", "Local-Passw0rd!")
    signed_in = as_aws.client("cognito-idp").admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ana@example.com", "PASSWORD": "Local-Passw0rd!"},
    )
    try:
        yield SignedStack(api.url, signed_in["AuthenticationResult"]["IdToken"])
    finally:
        api.stop()


def test_match_with_a_token_answers_and_a_bad_token_is_one_line(
    cognito_stack: SignedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = thera(capsys, "match", CHALLENGE, "--token", cognito_stack.token, "--json")
    assert code == 0, err
    matches = json.loads(out)
    assert len(matches) == 20 and all(m["domain"] and m["reasons"] for m in matches)
    code, out, err = thera(capsys, "match", CHALLENGE, "--token", cognito_stack.token, "--top", "3")
    assert code == 0, err
    assert out.splitlines()[-1] == f"explorer: {cognito_stack.api}/"
    assert [line.split()[0] for line in out.splitlines() if line[:3].strip().isdigit()] == ["1.", "2.", "3."]

    head, payload, signature = cognito_stack.token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    for bad in ("not-a-token", forged, ""):
        code, out, err = thera(capsys, "match", CHALLENGE, "--token", bad)
        assert code != 0 and out == "", bad
        assert err.splitlines() == ["thera: 401: Unauthorized"] and "Traceback" not in err, (bad, err)
