"""What the stage modules share: each function's settings read once, AWS clients made on first use, the API keys
from Secrets Manager, the business day, the embedding provider, the lease of the jobs that must run alone.

Light on purpose (boto3 and the standard library at import): the matcher, the index builder
and the training steps import it without the daily flow's pyarrow and aiohttp.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, cast
from zoneinfo import ZoneInfo

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from botocore.config import Config

from thera.adapters.aws import DynamoVersionedStore
from thera.kernel.config import AwsSettings, EmbeddingProviderSettings, api_key_from_secret
from thera.kernel.lease import Grant, Lease
from thera.kernel.ports import EmbeddingProvider
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
    """An SQS batch a record at a time: one that raises is reported in ``batchItemFailures``, alone."""
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
