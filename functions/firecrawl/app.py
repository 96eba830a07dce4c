"""FirecrawlFunction: CrawlQueue (at most 2 concurrent) → Firecrawl scrape behind the shared breaker."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import firecrawl


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return firecrawl.handle(event, context)
