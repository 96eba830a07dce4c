"""MatcherFunction: the one ``MatcherService`` of an execution environment (numpy and pyarrow; no aiohttp).

The HTTP routes stay in functions/matcher/app.py, next to the explorer page they serve.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from functools import cache

from thera.adapters.aws import DynamoShortlistStore, S3ObjectStore
from thera.kernel.config import MatcherSettings
from thera.matching.serving import MatcherService
from thera.matching.shortlists import ShortlistService
from thera.runtime import business_date, client, embedding_provider, settings


def service() -> MatcherService:
    return matcher_service(settings(MatcherSettings))


@cache
def matcher_service(settings: MatcherSettings) -> MatcherService:
    """One per execution environment: the index stays in memory between requests."""
    return MatcherService(
        S3ObjectStore(client("s3"), settings.bucket),
        embedding_provider(settings.embedding),
        clock=time.monotonic,
        now=lambda: datetime.now(UTC),
        date=lambda: business_date(settings.timezone),
        draw=random.random,
        refresh_seconds=settings.refresh_seconds,
        min_score=settings.min_score,
    )


def sign_in() -> dict[str, str]:
    """GET /config: what the explorer page needs to sign in (the route is public with ApiAuth=Cognito)."""
    s = settings(MatcherSettings)
    if s.api_auth != "Cognito":
        return {"auth": s.api_auth}
    return {"auth": "Cognito", "client_id": s.user_pool_client_id, "hosted_ui_url": s.hosted_ui_url}


def shortlists() -> ShortlistService:
    return shortlist_service(settings(MatcherSettings))


@cache
def shortlist_service(settings: MatcherSettings) -> ShortlistService:
    """Saved shortlists: a save checks the shown startups against (or, from an older client, runs
    the match of) this environment's ``MatcherService``."""
    matching = matcher_service(settings)
    return ShortlistService(
        DynamoShortlistStore(client("dynamodb"), settings.shortlists_table),
        S3ObjectStore(client("s3"), settings.bucket),
        matching.match,
        matching.known,
        now=lambda: datetime.now(UTC),
        date=lambda: business_date(settings.timezone),
        new_id=lambda: uuid.uuid4().hex,
    )
