"""SilverToGoldFunction: ProfileQueue (crawled pages, and domains with no new page) → gold/profiles/."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import silver_to_gold


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return silver_to_gold.handle(event, context)
