"""AmsFunction: on its daily schedule, the Average Match Score of the day's shortlists → metrics/ams/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import ams


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return ams.handle(event, context)
