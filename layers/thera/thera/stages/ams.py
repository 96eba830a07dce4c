"""AmsFunction: on its daily schedule (or for ``date`` in the event), the day's AMS → metrics/ams/ and metrics."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from thera.adapters.aws import S3ObjectStore
from thera.kernel.config import LakeSettings
from thera.observability import logger, metrics
from thera.runtime import business_date, client, settings
from thera.training.ams import ams_day, daily_ams


def handle(event: Any, context: Any) -> dict[str, Any]:
    lake = settings(LakeSettings)
    day = ams_day(event, business_date(lake.timezone))
    rows, overall = daily_ams(S3ObjectStore(client("s3"), lake.bucket), day)
    if overall:
        metrics.add_metric("AverageMatchScore", MetricUnit.Count, round(overall.ams, 4))
        metrics.add_metric("FeedbackAccepted", MetricUnit.Count, overall.accepted)
        metrics.add_metric("FeedbackRejected", MetricUnit.Count, overall.rejected)
    metrics.add_metric("ChallengesScored", MetricUnit.Count, len(rows))
    result = {"date": day, "challenges": len(rows), "ams": round(overall.ams, 4) if overall else None}
    logger.info("daily AMS", extra=result)
    return result
