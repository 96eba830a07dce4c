"""DomainHealthFunction: HealthQueue → concurrent DNS, HTTP, HTTPS, TLS and content checks → CrawlQueue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from thera.observability import entry
from thera.stages import domain_health


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return domain_health.handle(event, context)
