"""Settings per function, built once from environment variables set in template.yaml.

Every variable name lives here and nowhere else; a missing or malformed value fails
fast with a message that names the variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thera.quota import Window, default_windows

# Variable names (template.yaml sets them; the local runtime reads them from there).
DATA_LAKE_BUCKET = "DATA_LAKE_BUCKET"
QUOTA_TABLE = "QUOTA_TABLE"
STATE_TABLE = "STATE_TABLE"
APOLLO_BASE_URL = "APOLLO_BASE_URL"
APOLLO_SECRET_ID = "APOLLO_SECRET_ID"  # noqa: S105 - the variable name, not a secret
APOLLO_PER_PAGE = "APOLLO_PER_PAGE"
APOLLO_SEARCH_FILTERS = "APOLLO_SEARCH_FILTERS"
QUOTA_PER_MINUTE = "QUOTA_PER_MINUTE"
QUOTA_PER_HOUR = "QUOTA_PER_HOUR"
QUOTA_PER_DAY = "QUOTA_PER_DAY"
QUOTA_MAX_WAIT_SECONDS = "QUOTA_MAX_WAIT_SECONDS"
BUSINESS_TIMEZONE = "BUSINESS_TIMEZONE"
MAX_TEAM_SIZE = "MAX_TEAM_SIZE"
MIN_FOUNDED_YEAR = "MIN_FOUNDED_YEAR"
DOMAINS_TABLE = "DOMAINS_TABLE"
HEALTH_QUEUE_URL = "HEALTH_QUEUE_URL"
CRAWL_QUEUE_URL = "CRAWL_QUEUE_URL"
MIN_HEALTH_SCORE = "MIN_HEALTH_SCORE"
HEALTH_CHECK_TIMEOUT_SECONDS = "HEALTH_CHECK_TIMEOUT_SECONDS"
HEALTH_CONCURRENCY = "HEALTH_CONCURRENCY"
LOCAL_DNS_URL = "LOCAL_DNS_URL"
EXTRA_CA_BUNDLE = "EXTRA_CA_BUNDLE"
FIRECRAWL_BASE_URL = "FIRECRAWL_BASE_URL"
FIRECRAWL_SECRET_ID = "FIRECRAWL_SECRET_ID"  # noqa: S105 - the variable name, not a secret
FIRECRAWL_TIMEOUT_MS = "FIRECRAWL_TIMEOUT_MS"
FIRECRAWL_MAX_ATTEMPTS = "FIRECRAWL_MAX_ATTEMPTS"
CRAWL_CACHE_TABLE = "CRAWL_CACHE_TABLE"
BREAKER_TABLE = "BREAKER_TABLE"
RECRAWL_AFTER_DAYS = "RECRAWL_AFTER_DAYS"
BREAKER_FAILURE_THRESHOLD = "BREAKER_FAILURE_THRESHOLD"
BREAKER_COOLDOWN_SECONDS = "BREAKER_COOLDOWN_SECONDS"
BREAKER_SUCCESS_THRESHOLD = "BREAKER_SUCCESS_THRESHOLD"
PROFILE_QUEUE_URL = "PROFILE_QUEUE_URL"
EMBED_QUEUE_URL = "EMBED_QUEUE_URL"
EMBED_WAIT_QUEUE_URL = "EMBED_WAIT_QUEUE_URL"
PUBLISH_QUEUE_URL = "PUBLISH_QUEUE_URL"
EMBEDDINGS_TABLE = "EMBEDDINGS_TABLE"
EMBEDDING_PROVIDER = "EMBEDDING_PROVIDER"
EMBEDDING_MODEL_ID = "EMBEDDING_MODEL_ID"
EMBEDDING_DIMENSIONS = "EMBEDDING_DIMENSIONS"
LOCAL_EMBEDDING_MODEL = "LOCAL_EMBEDDING_MODEL"
DAILY_EMBEDDING_BUDGET_USD = "DAILY_EMBEDDING_BUDGET_USD"
EMBEDDING_PRICE_PER_1K_TOKENS_USD = "EMBEDDING_PRICE_PER_1K_TOKENS_USD"
EMBEDDING_MAX_TOKENS = "EMBEDDING_MAX_TOKENS"
PUBLIC_STARTUPS_TABLE = "PUBLIC_STARTUPS_TABLE"
PRIVATE_STARTUPS_TABLE = "PRIVATE_STARTUPS_TABLE"
READ_MODEL_TTL_DAYS = "READ_MODEL_TTL_DAYS"
INDEX_REFRESH_SECONDS = "INDEX_REFRESH_SECONDS"
CODE_VERSION = "CODE_VERSION"
PROFILES_TABLE = "PROFILES_TABLE"
LOCAL_AWS_ENDPOINT_URL = "LOCAL_AWS_ENDPOINT_URL"

EMBEDDING_PROVIDERS = ("bedrock", "local")


class ConfigError(ValueError):
    """A required environment variable is missing or malformed."""


def api_key_from_secret(secret_id: str, value: str) -> str:
    """The secret holds the key itself or a JSON object with an ``api_key`` field."""
    if value.lstrip().startswith("{"):
        try:
            value = str(json.loads(value)["api_key"])
        except (ValueError, KeyError) as exc:
            raise ValueError(f"secret {secret_id} is JSON without an 'api_key' field") from exc
    if not value.strip():
        raise ValueError(f"secret {secret_id} is empty")
    return value.strip()


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:  # also refuses NaN
        raise ConfigError(f"{name} must be >= {minimum}, got {raw}")
    return value


@dataclass(frozen=True)
class AwsSettings:
    """Where every function's AWS clients send their calls: AWS itself, unless the local stack's emulator is named.

    Not the standard ``AWS_ENDPOINT_URL``: SAM passes ``sam local invoke`` only declared variables, and declaring
    that one empty in AWS would hand botocore an empty endpoint. ``LOCAL_AWS_ENDPOINT_URL`` is empty when deployed.
    """

    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsSettings:
        url = env.get(LOCAL_AWS_ENDPOINT_URL, "").strip()
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{LOCAL_AWS_ENDPOINT_URL} must be an http(s) URL or empty, got {url!r}")
        return cls(url or None)


def _timezone(env: Mapping[str, str]) -> str:
    return env.get(BUSINESS_TIMEZONE, "").strip() or "America/Sao_Paulo"


@dataclass(frozen=True)
class ApolloPullSettings:
    bucket: str
    quota_table: str
    state_table: str
    apollo_base_url: str
    apollo_secret_id: str
    per_page: int
    windows: tuple[Window, ...]
    max_wait_seconds: int
    timezone: str
    search_filters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApolloPullSettings:
        filters_raw = env.get(APOLLO_SEARCH_FILTERS, "").strip() or "{}"
        try:
            filters = json.loads(filters_raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{APOLLO_SEARCH_FILTERS} must be a JSON object: {exc}") from None
        if not isinstance(filters, dict):
            raise ConfigError(f"{APOLLO_SEARCH_FILTERS} must be a JSON object")
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            quota_table=_required(env, QUOTA_TABLE),
            state_table=_required(env, STATE_TABLE),
            apollo_base_url=_required(env, APOLLO_BASE_URL).rstrip("/"),
            apollo_secret_id=_required(env, APOLLO_SECRET_ID),
            per_page=_int(env, APOLLO_PER_PAGE, 100, minimum=1, maximum=100),
            windows=default_windows(
                per_minute=_int(env, QUOTA_PER_MINUTE, 50, minimum=1),
                per_hour=_int(env, QUOTA_PER_HOUR, 200, minimum=1),
                per_day=_int(env, QUOTA_PER_DAY, 600, minimum=1),
            ),
            max_wait_seconds=_int(env, QUOTA_MAX_WAIT_SECONDS, 65, minimum=0, maximum=900),
            timezone=_timezone(env),
            search_filters=filters,
        )


@dataclass(frozen=True)
class BronzeToSilverSettings:
    bucket: str
    max_team_size: int
    min_founded_year: int
    domains_table: str
    health_queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BronzeToSilverSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            max_team_size=_int(env, MAX_TEAM_SIZE, 2_000_000, minimum=1),
            min_founded_year=_int(env, MIN_FOUNDED_YEAR, 1800, minimum=1),
            domains_table=_required(env, DOMAINS_TABLE),
            health_queue_url=_required(env, HEALTH_QUEUE_URL),
        )


@dataclass(frozen=True)
class DomainHealthSettings:
    bucket: str
    crawl_queue_url: str
    profile_queue_url: str
    min_score: int
    timeout_seconds: int
    concurrency: int
    local_dns_url: str
    extra_ca_bundle: str
    timezone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DomainHealthSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            crawl_queue_url=_required(env, CRAWL_QUEUE_URL),
            profile_queue_url=_required(env, PROFILE_QUEUE_URL),
            min_score=_int(env, MIN_HEALTH_SCORE, 70, minimum=0, maximum=100),
            timeout_seconds=_int(env, HEALTH_CHECK_TIMEOUT_SECONDS, 5, minimum=1, maximum=60),
            concurrency=_int(env, HEALTH_CONCURRENCY, 50, minimum=1, maximum=1000),
            local_dns_url=env.get(LOCAL_DNS_URL, "").strip(),
            extra_ca_bundle=env.get(EXTRA_CA_BUNDLE, "").strip(),
            timezone=_timezone(env),
        )


@dataclass(frozen=True)
class FirecrawlSettings:
    bucket: str
    base_url: str
    secret_id: str
    timeout_ms: int
    max_attempts: int
    crawl_queue_url: str
    profile_queue_url: str
    cache_table: str
    breaker_table: str
    recrawl_after_days: int
    failure_threshold: int
    cooldown_seconds: int
    success_threshold: int
    timezone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FirecrawlSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            base_url=_required(env, FIRECRAWL_BASE_URL).rstrip("/"),
            secret_id=_required(env, FIRECRAWL_SECRET_ID),
            timeout_ms=_int(env, FIRECRAWL_TIMEOUT_MS, 30_000, minimum=1000, maximum=120_000),
            max_attempts=_int(env, FIRECRAWL_MAX_ATTEMPTS, 3, minimum=1, maximum=10),
            crawl_queue_url=_required(env, CRAWL_QUEUE_URL),
            profile_queue_url=_required(env, PROFILE_QUEUE_URL),
            cache_table=_required(env, CRAWL_CACHE_TABLE),
            breaker_table=_required(env, BREAKER_TABLE),
            recrawl_after_days=_int(env, RECRAWL_AFTER_DAYS, 30, minimum=0),
            failure_threshold=_int(env, BREAKER_FAILURE_THRESHOLD, 5, minimum=1),
            cooldown_seconds=_int(env, BREAKER_COOLDOWN_SECONDS, 60, minimum=1, maximum=900),
            success_threshold=_int(env, BREAKER_SUCCESS_THRESHOLD, 2, minimum=1),
            timezone=_timezone(env),
        )


@dataclass(frozen=True)
class SilverToGoldSettings:
    bucket: str
    profiles_table: str
    timezone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SilverToGoldSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            profiles_table=_required(env, PROFILES_TABLE),
            timezone=_timezone(env),
        )


@dataclass(frozen=True)
class EmbeddingProviderSettings:
    """Which provider embeds texts: shared by the Embeddings stage and the matcher (same vectors)."""

    provider: str
    model_id: str
    dimensions: int
    local_model_path: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EmbeddingProviderSettings:
        provider = env.get(EMBEDDING_PROVIDER, "").strip() or "bedrock"
        if provider not in EMBEDDING_PROVIDERS:
            raise ConfigError(f"{EMBEDDING_PROVIDER} must be one of {', '.join(EMBEDDING_PROVIDERS)}, got {provider!r}")
        dimensions = _int(env, EMBEDDING_DIMENSIONS, 1024, minimum=1)
        if provider == "bedrock" and dimensions not in (256, 512, 1024):
            raise ConfigError(f"{EMBEDDING_DIMENSIONS} must be 256, 512 or 1024 for Titan, got {dimensions}")
        local_model = env.get(LOCAL_EMBEDDING_MODEL, "").strip()
        if provider == "local" and not local_model:
            raise ConfigError(f"{LOCAL_EMBEDDING_MODEL} is required when {EMBEDDING_PROVIDER} is local")
        return cls(
            provider=provider,
            model_id=env.get(EMBEDDING_MODEL_ID, "").strip() or "amazon.titan-embed-text-v2:0",
            dimensions=dimensions,
            local_model_path=local_model,
        )


@dataclass(frozen=True)
class EmbeddingsSettings:
    bucket: str
    embeddings_table: str
    quota_table: str
    embed_queue_url: str
    wait_queue_url: str
    publish_queue_url: str
    embedding: EmbeddingProviderSettings
    budget_usd: float
    price_per_1k_tokens_usd: float
    max_tokens: int
    timezone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EmbeddingsSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            embeddings_table=_required(env, EMBEDDINGS_TABLE),
            quota_table=_required(env, QUOTA_TABLE),
            embed_queue_url=_required(env, EMBED_QUEUE_URL),
            wait_queue_url=_required(env, EMBED_WAIT_QUEUE_URL),
            publish_queue_url=_required(env, PUBLISH_QUEUE_URL),
            embedding=EmbeddingProviderSettings.from_env(env),
            budget_usd=_float(env, DAILY_EMBEDDING_BUDGET_USD, 1.0),
            price_per_1k_tokens_usd=_float(env, EMBEDDING_PRICE_PER_1K_TOKENS_USD, 0.00002),
            max_tokens=_int(env, EMBEDDING_MAX_TOKENS, 512, minimum=16, maximum=8192),
            timezone=_timezone(env),
        )


@dataclass(frozen=True)
class PublisherSettings:
    bucket: str
    public_table: str
    private_table: str
    ttl_days: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PublisherSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            public_table=_required(env, PUBLIC_STARTUPS_TABLE),
            private_table=_required(env, PRIVATE_STARTUPS_TABLE),
            ttl_days=_int(env, READ_MODEL_TTL_DAYS, 90, minimum=1),
        )


@dataclass(frozen=True)
class LakeSettings:
    """Stages that need only the lake and the business day: AMS."""

    bucket: str
    timezone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LakeSettings:
        return cls(bucket=_required(env, DATA_LAKE_BUCKET), timezone=_timezone(env))


@dataclass(frozen=True)
class IndexBuilderSettings:
    """The lake, and the state table holding the builder's lease (it is the one writer of the index pointer)."""

    bucket: str
    state_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IndexBuilderSettings:
        return cls(bucket=_required(env, DATA_LAKE_BUCKET), state_table=_required(env, STATE_TABLE))


@dataclass(frozen=True)
class MatcherSettings:
    bucket: str
    embedding: EmbeddingProviderSettings
    refresh_seconds: int
    timezone: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MatcherSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            embedding=EmbeddingProviderSettings.from_env(env),
            refresh_seconds=_int(env, INDEX_REFRESH_SECONDS, 60, minimum=0, maximum=3600),
            timezone=_timezone(env),
        )


@dataclass(frozen=True)
class TrainingSettings:
    bucket: str
    code_version: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrainingSettings:
        return cls(bucket=_required(env, DATA_LAKE_BUCKET), code_version=env.get(CODE_VERSION, "").strip() or "unknown")
