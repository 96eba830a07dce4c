"""The emulated event source mapping: partial failures, redrive to the DLQ, batching."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE
from tests.unit.test_silver import row, table
from tests.waiting import wait_until
from thera.kernel import keys
from thera.kernel.tables import to_parquet
from thera_local.emulator import aws_client
from thera_local.stack import StackConfig, StackInfo, ensure_stack, stop_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StackInfo]:
    """A background stack (its own process: moto's backends are per process) that retries a failed record after
    1 s, then 2, 4, 8 (RetryBaseSeconds=1), and a failed invocation after 1 s."""
    config = StackConfig(
        home=tmp_path / "home",
        template=ROOT / "template.yaml",
        data=SAMPLE,
        retry_delay=1,
        overrides={"RetryBaseSeconds": "1"},
    )
    info = ensure_stack(config, echo=lambda _: None)
    yield info
    stop_stack(config.home)


def depth(sqs: object, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]  # type: ignore[attr-defined]
    return sum(int(attrs[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"))


def test_poison_message_lands_in_the_dlq_after_max_receives_while_good_ones_are_processed(stack: StackInfo) -> None:
    template, endpoint = stack.template_obj(), stack.endpoint
    sqs, s3 = aws_client("sqs", endpoint), aws_client("s3", endpoint)
    queue = template.queue_url("BronzeQueue", endpoint)
    dlq = template.queue_url("BronzeDLQ", endpoint)
    bucket = template.physical("DataLakeBucket")
    sqs.send_message(QueueUrl=queue, MessageBody="{this is not an S3 notification")
    key = "bronze/companies/date=2026-11-22/sweep=2026-11-22/page=00007.parquet"
    s3.put_object(Bucket=bucket, Key=key, Body=to_parquet(table(row(0), row(1))))

    wait_until(lambda: depth(sqs, dlq) > 0, timeout=90, interval=0.5, message="nothing reached BronzeDLQ")
    got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["{this is not an S3 notification"]
    assert int(got[0]["Attributes"]["ApproximateReceiveCount"]) >= 5  # maxReceiveCount from the template
    s3.head_object(Bucket=bucket, Key=keys.silver_for_bronze(key))  # the good record of the same queue went through
    assert depth(sqs, queue) == 0
    stats = stack.call("GET", "/status")["pollers"]["BronzeToSilverFunction.BronzeObjects"]
    assert stats["failures"] >= 5 and stats["peak_in_flight"] <= 5
    # after a fix, `thera redrive` moves it back to its queue as it was (it fails again here: it is still poison)
    sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "thera_local.cli", "redrive", "BronzeDLQ", "--home", stack.home],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "1 of 1 message(s) moved from BronzeDLQ back to BronzeQueue" in done.stdout
    wait_until(lambda: depth(sqs, dlq) > 0, timeout=60, interval=0.5, message="the redriven message never came back")
    again = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == ["{this is not an S3 notification"]
    status = subprocess.run(
        [sys.executable, "-m", "thera_local.cli", "status", "--home", stack.home],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "breaker firecrawl: closed" in status and "apollo quota left: minute 50/50" in status
    assert "BronzeToSilverFunction" in status and "last run" in status
    # the DLQ holds the poison message; BronzeQueue's progress bar counts the messages handled
    dlq_line = re.search(r"DLQ\s+BronzeDLQ\s+visible\s+(\d+)\s+in flight\s+(\d+)", status)
    assert dlq_line and int(dlq_line[1]) + int(dlq_line[2]) == 1, status
    progress = re.search(r"^\s+BronzeQueue\s+\[[#-]{24}\]\s+([\d,]+)/", status, re.MULTILINE)
    assert progress and int(progress[1].replace(",", "")) >= 1, status
