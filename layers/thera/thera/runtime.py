"""What the stage modules share: each function's settings read once, AWS clients made on first use, the API keys
from Secrets Manager, the business day, the embedding provider, the lease of the jobs that must run alone.

Light on purpose (boto3 and the standard library at import): the matcher, the index builder
and the training steps import it without the daily flow's pyarrow and aiohttp.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, cast
from zoneinfo import ZoneInfo

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.config import Config

from thera.adapters.aws import DynamoVersionedStore
from thera.kernel.config import AwsSettings, EmbeddingProviderSettings, RedeliverySettings, api_key_from_secret
from thera.kernel.lease import Grant, Lease
from thera.kernel.ports import EmbeddingProvider
from thera.kernel.retry import redelivery_delay
from thera.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


class FromEnv(Protocol):
    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Any: ...


_settings: dict[type, Any] = {}


def settings[S: FromEnv](kind: type[S]) -> S:
    """A function's settings, validated once per execution environment (``reset_settings`` forgets them)."""
    if kind not in _settings:
        _settings[kind] = kind.from_env(os.environ)
    return cast(S, _settings[kind])


def reset_settings() -> None:
    """For tests: the next ``settings`` reads the environment again, as a new execution environment would."""
    _settings.clear()


def _client(service: str, config: Config | None = None) -> Any:
    """A client on AWS's own endpoints, or on the local stack's when ``LOCAL_AWS_ENDPOINT_URL`` names it."""
    # None when deployed: boto3's own resolution, as without the argument. botocore addresses S3 by path
    # on an endpoint given here, so a bucket never prefixes a host such as host.docker.internal.
    endpoint = AwsSettings.from_env(os.environ).endpoint_url
    return boto3.client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]


@cache
def client(service: str) -> Any:
    return _client(service)


@cache
def secrets() -> SecretsProvider:
    """Powertools' secrets provider on the clients' endpoint (its default makes its own client), kept like its
    default for the execution environment, so values are cached as before (POWERTOOLS_PARAMETERS_MAX_AGE)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # only the stages that read a key

    return SecretsProvider(boto3_client=client("secretsmanager"))


def api_key(secret_id: str) -> str:
    return api_key_from_secret(secret_id, str(secrets().get(secret_id)))


def business_date(timezone: str, now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date().isoformat()


@cache
def embedding_provider(settings: EmbeddingProviderSettings) -> EmbeddingProvider:
    """Built once per execution environment: the local model loads its arrays once."""
    if settings.provider == "local":
        from thera.adapters.lsa import LsaModel  # numpy only; never imported in AWS

        return LsaModel.load(settings.local_model_path)
    from thera.adapters.bedrock import TitanEmbeddings

    # the adapter retries throttling with its own backoff; botocore's retries would multiply it
    runtime = _client("bedrock-runtime", Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    return TitanEmbeddings(runtime, model_id=settings.model_id, dimensions=settings.dimensions)


def job_lease(job: str, table: str) -> Lease:
    """The lease of a job that must run alone (an item of ``table``, the state table)."""
    return Lease(DynamoVersionedStore(client("dynamodb"), table), job, time.time)


def report_lease_held(grant: Grant) -> None:
    """A run that found its job's lease held leaves without the work: say so, and count it."""
    logger.info("another run holds the lease: leaving without the work", extra={"lease": grant.as_dict()})
    metrics.add_metric(f"LeaseHeld_{grant.job}", MetricUnit.Count, 1)


def each_record(
    event: dict[str, Any], context: Any, handle: Callable[[SQSRecord], object]
) -> PartialItemFailureResponse:
    """An SQS batch a record at a time: one that raises is reported in ``batchItemFailures``, alone, and comes
    back after a short, growing delay (``retry_later``)."""
    return process_each(event, context, handle)[1]


def process_each(
    event: Mapping[str, Any], context: Any, handle: Callable[[SQSRecord], object]
) -> tuple[list[Any], PartialItemFailureResponse]:
    """Powertools' ``BatchProcessor`` over the batch: each record's (status, result, record) and the response
    that reports the failed ones. Each failed record is hidden for its ``retry_later`` delay; when every record
    failed, the invocation fails as Powertools makes it (BatchProcessingError), after the delays are set."""
    processor = BatchProcessor(event_type=EventType.SQS)
    records = list(event.get("Records") or [])
    try:
        with processor(records, handle, context):
            results = processor.process()
    except BatchProcessingError:
        retry_later(event, [str(r.get("messageId")) for r in records])
        raise
    response = processor.response()
    retry_later(event, [str(item["itemIdentifier"]) for item in response["batchItemFailures"]])
    return results, response


@cache
def source_queue(arn: str) -> tuple[str, int]:
    """The URL and visibility timeout of the queue an event source mapping reads, asked once per execution
    environment (the URL's host differs between AWS and the local stack, so it is asked, not built)."""
    _, _, _, _, account, name = arn.split(":", 5)
    sqs = client("sqs")
    url = str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    return url, int(attributes["VisibilityTimeout"])


def retry_later(event: Mapping[str, Any], failed: Iterable[str], draw: Callable[[], float] = random.random) -> None:
    """Hide each failed record of the batch for ``redelivery_delay`` of its receive count, instead of the
    queue's whole visibility timeout: the first retry within RETRY_BASE_SECONDS, later ones longer.

    Best effort: a change that fails is logged, and the message comes back after the visibility timeout,
    as without this. It never deletes: a failed message stays failed.
    """
    ids = set(failed)
    by_queue: dict[str, list[Mapping[str, Any]]] = {}
    for record in event.get("Records") or []:
        if record.get("messageId") in ids:
            by_queue.setdefault(str(record.get("eventSourceARN")), []).append(record)
    for arn, records in by_queue.items():
        try:
            base = settings(RedeliverySettings).base_seconds
            url, timeout = source_queue(arn)
            delays = [
                redelivery_delay(int(r["attributes"]["ApproximateReceiveCount"]), base, timeout, draw) for r in records
            ]
            for i in range(0, len(records), 10):
                entries = [
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": d}
                    for n, (r, d) in enumerate(zip(records[i : i + 10], delays[i : i + 10], strict=True))
                ]
                answer = client("sqs").change_message_visibility_batch(QueueUrl=url, Entries=entries)
                if answer.get("Failed"):
                    logger.warning("visibility changes refused", extra={"queue": arn, "failed": answer["Failed"]})
            logger.info("failed messages retried later", extra={"queue": arn, "delays": delays})
        except Exception:  # the messages wait out the visibility timeout instead
            logger.exception("could not delay the retry of failed messages", extra={"queue": arn})
