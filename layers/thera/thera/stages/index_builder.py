"""IndexBuilderFunction: on its schedule, a new matcher index version when gold or embeddings parts changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from thera.adapters.aws import S3ObjectStore
from thera.kernel.config import IndexBuilderSettings
from thera.kernel.lease import held
from thera.matching.index_store import IndexOutcome, build_index
from thera.observability import logger, metrics
from thera.runtime import client, job_lease, report_lease_held, settings

INDEX_JOB = "index_builder"  # one writer of index/current.json: an older build must not overwrite a newer pointer


def handle(event: dict[str, Any], context: Any) -> dict[str, object]:
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    return refresh_index(settings(IndexBuilderSettings), context.aws_request_id, time_left).as_dict()


def refresh_index(settings: IndexBuilderSettings, run_id: str, time_left: Callable[[], float]) -> IndexOutcome:
    """A new index version when gold or embeddings parts changed, if no other run holds the builder's lease."""
    with held(job_lease(INDEX_JOB, settings.state_table), run_id, time_left()) as grant:
        if not grant.acquired:
            report_lease_held(grant)
            return IndexOutcome("lease_held")
        outcome = build_index(S3ObjectStore(client("s3"), settings.bucket), datetime.now(UTC))
    logger.info("index refresh", extra={"outcome": outcome.as_dict()})
    metrics.add_metric("IndexProfiles", MetricUnit.Count, outcome.profiles)
    metrics.add_metric("IndexBuilt", MetricUnit.Count, int(outcome.status == "built"))
    return outcome
