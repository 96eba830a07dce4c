"""Retries that back off, on the emulator: a message a handler fails (through ``each_record``) comes back
within a minute, each later failure hides it longer, up to the queue's visibility timeout, and the redrive
policy still dead-letters it after ``maxReceiveCount`` receives. moto's SQS clock is a fake one moved by
the test, so the delays are read as the emulator holds them and waited out without sleeping."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tests.conftest import FakeContext
from tests.integration.conftest import Aws, HandlerEnv
from thera import runtime
from thera_local.emulator import Emulator
from thera_local.lambda_env import ExecutionEnvironment, InvokeResult
from thera_local.pollers import SqsPoller, lambda_sqs_event
from thera_local.template import REGION

ALL: dict[str, Any] = {"AttributeNames": ["All"], "MessageAttributeNames": ["All"]}


@dataclass
class SqsClock:
    """moto's SQS clock (epoch milliseconds), standing still until the test moves it."""

    ms: float

    def advance(self, seconds: float) -> None:
        self.ms += seconds * 1000.0


@pytest.fixture
def sqs_clock(monkeypatch: pytest.MonkeyPatch) -> SqsClock:
    import time

    from moto.core import utils
    from moto.sqs import models

    clock = SqsClock(time.time() * 1000.0)
    # the names moto.sqs.models calls (the emulator's fast_sqs_clock put time.time behind them)
    monkeypatch.setattr(models, "unix_time", lambda dt=None: clock.ms / 1000.0 if dt is None else utils.unix_time(dt))
    monkeypatch.setattr(
        models, "unix_time_millis", lambda dt=None: clock.ms if dt is None else utils.unix_time_millis(dt)
    )
    return clock


def hidden_for(queue_url: str, message_id: str, clock: SqsClock) -> float:
    """Seconds until the emulator hands the message out again."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[queue_url.rsplit("/", 1)[-1]]
    (message,) = [m for m in queue._messages if m.id == message_id]
    return (float(message.visible_at) - clock.ms) / 1000.0


def fail(record: SQSRecord) -> object:
    raise RuntimeError(f"Firecrawl is down ({record.message_id})")


def test_a_failed_message_comes_back_within_a_minute_then_later_each_time_up_to_the_timeout(
    aws: Aws, handler_env: HandlerEnv, sqs_clock: SqsClock
) -> None:
    env = handler_env("FirecrawlFunction")
    base = int(env["RETRY_BASE_SECONDS"])
    sqs, url = aws.client("sqs"), aws.queue_url("CrawlQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    timeout, arn = int(attributes["VisibilityTimeout"]), attributes["QueueArn"]
    max_receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
    assert timeout >= 600 and base < 60  # a long visibility timeout, a short first retry
    message_id = sqs.send_message(QueueUrl=url, MessageBody='{"domain": "down.example"}')["MessageId"]

    delays = []
    for receive in range(1, max_receives + 1):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **ALL).get("Messages", [])
        received = [(m["MessageId"], m["Attributes"]["ApproximateReceiveCount"]) for m in got]
        assert received == [(message_id, str(receive))]
        # the whole batch failed: the invocation fails, as Powertools makes it, with the delay already set
        with pytest.raises(BatchProcessingError):
            runtime.each_record(lambda_sqs_event(got, arn), FakeContext("firecrawl"), fail)
        delay = hidden_for(url, message_id, sqs_clock)
        delays.append(delay)
        sqs_clock.advance(delay - 1)
        assert "Messages" not in sqs.receive_message(QueueUrl=url, **ALL), f"back before its delay: {delays}"
        sqs_clock.advance(1.001)

    assert 0 < delays[0] <= base < 60, delays
    assert all(later > earlier or later == timeout for earlier, later in pairwise(delays)), delays
    assert max(delays) == delays[-1] == timeout, delays  # the last waits the whole visibility timeout, no longer
    # after maxReceiveCount receives the redrive policy moves it to the DLQ, as before
    assert "Messages" not in sqs.receive_message(QueueUrl=url, **ALL)
    dead = sqs.receive_message(QueueUrl=aws.queue_url("CrawlDLQ"), **ALL)["Messages"]
    assert [m["MessageId"] for m in dead] == [message_id]


def test_in_a_batch_only_the_failed_record_is_hidden_for_its_delay(
    aws: Aws, handler_env: HandlerEnv, sqs_clock: SqsClock
) -> None:
    env = handler_env("DomainHealthFunction")
    sqs, url = aws.client("sqs"), aws.queue_url("HealthQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    timeout, arn = int(attributes["VisibilityTimeout"]), attributes["QueueArn"]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"] for body in ("good", "bad", "good")]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **ALL)["Messages"]
    assert sorted(m["MessageId"] for m in got) == sorted(sent)

    def handle(record: SQSRecord) -> object:
        if record.body == "bad":
            raise ValueError("a bad record")
        return record.body

    response = runtime.each_record(lambda_sqs_event(got, arn), FakeContext("health"), handle)
    assert response["batchItemFailures"] == [{"itemIdentifier": sent[1]}]
    hidden = {m: hidden_for(url, m, sqs_clock) for m in sent}
    assert 0 < hidden[sent[1]] <= int(env["RETRY_BASE_SECONDS"])
    assert hidden[sent[0]] == hidden[sent[2]] == timeout  # the others wait for the poller to delete them


def test_a_visibility_change_that_fails_leaves_the_failure_reported_and_the_queue_timeout(
    aws: Aws, handler_env: HandlerEnv, sqs_clock: SqsClock
) -> None:
    handler_env("PublisherFunction")
    sqs, url = aws.client("sqs"), aws.queue_url("PublishQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    sent = [sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"] for body in ("good", "bad")]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **ALL)["Messages"]
    event = lambda_sqs_event(got, attributes["QueueArn"].replace("publish", "publish-gone"))  # no such queue

    def handle(record: SQSRecord) -> object:
        if record.body == "bad":
            raise ValueError("a bad record")
        return record.body

    response = runtime.each_record(event, FakeContext("publisher"), handle)
    assert response["batchItemFailures"] == [{"itemIdentifier": sent[1]}]
    assert hidden_for(url, sent[1], sqs_clock) == int(attributes["VisibilityTimeout"])


class DelayingEnvironment:
    """An execution environment whose handler fails every record and hides it for 17 s (as ``retry_later``
    does), then reports the records in ``batchItemFailures``, or fails the invocation as a whole."""

    def __init__(self, sqs: Any, url: str, whole: bool) -> None:
        self.sqs, self.url, self.whole = sqs, url, whole

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        for r in event["Records"]:
            self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=17
            )
        if self.whole:
            return InvokeResult(False, {"errorMessage": "every record failed"}, 1.0, "request")
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
        return InvokeResult(True, {"batchItemFailures": failures}, 1.0, "request")


@pytest.mark.parametrize(("whole", "hidden"), [(False, 17), (True, 1)])
def test_the_poller_keeps_the_handlers_delay_and_retry_delay_only_speeds_up_failed_invocations(
    aws: Aws, emulator: Emulator, sqs_clock: SqsClock, tmp_path: Path, whole: bool, hidden: int
) -> None:
    spec = aws.template.functions()["FirecrawlFunction"]
    (event,) = spec.sqs_events
    sqs, url = aws.client("sqs"), aws.queue_url(event.queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poller = SqsPoller(spec, event, url, arn, emulator.local_sqs(), {}, tmp_path / "log", retry_delay=1)
    message_id = sqs.send_message(QueueUrl=url, MessageBody="{}")["MessageId"]
    batch = emulator.local_sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, **ALL)["Messages"]

    poller._handle(cast(ExecutionEnvironment, DelayingEnvironment(sqs, url, whole)), batch)

    assert poller.stats.failures == 1
    assert hidden_for(url, message_id, sqs_clock) == hidden
