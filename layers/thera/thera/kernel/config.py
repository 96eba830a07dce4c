"""Settings per function, built once from environment variables set in template.yaml.

Each field names the variable it is read from, next to its parser and default: the names
template.yaml sets are written here and nowhere else in the core. A missing or malformed
value fails fast with a message that names the variable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar, Self, dataclass_transform

from thera.lake.quota import Window, default_windows
from thera.lake.segments import Segment, SegmentError, parse_segments

LOCAL_AWS_ENDPOINT_URL = "LOCAL_AWS_ENDPOINT_URL"  # the local runtime sets it too
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


# Fields that name the variable they come from; ``FromEnv.from_env`` reads each with its own parser.
Read = Callable[[Mapping[str, str]], Any]


def derived(read: Read, **options: Any) -> Any:
    return field(metadata={"read": read}, **options)


def required(name: str) -> Any:
    return derived(lambda env: _required(env, name))


def url(name: str) -> Any:
    """A required base URL, without a trailing slash."""
    return derived(lambda env: _required(env, name).rstrip("/"))


def text(name: str, default: str = "") -> Any:
    return derived(lambda env: env.get(name, "").strip() or default)


def integer(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> Any:
    return derived(lambda env: _int(env, name, default, minimum, maximum))


def number(name: str, default: float, minimum: float = 0.0) -> Any:
    return derived(lambda env: _float(env, name, default, minimum))


def timezone() -> Any:
    return text("BUSINESS_TIMEZONE", "America/Sao_Paulo")


@dataclass_transform(frozen_default=True, field_specifiers=(derived, required, url, text, integer, number))
class FromEnv:
    """Settings, a frozen dataclass whose every field says how it is read (``required``, ``integer``, ...)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(**{f.name: f.metadata["read"](env) for f in fields(cls)})


@dataclass(frozen=True)
class OnLake(FromEnv):
    """The setting every function has: the data lake's bucket."""

    bucket: str = required("DATA_LAKE_BUCKET")


@dataclass(frozen=True)
class RedeliverySettings(FromEnv):
    """How soon a queued message that failed comes back, in every SQS consumer (``kernel.retry.redelivery_delay``)."""

    base_seconds: int = integer("RETRY_BASE_SECONDS", 20, minimum=1, maximum=900)


def _windows(env: Mapping[str, str]) -> tuple[Window, ...]:
    return default_windows(
        per_minute=_int(env, "QUOTA_PER_MINUTE", 50, minimum=1),
        per_hour=_int(env, "QUOTA_PER_HOUR", 200, minimum=1),
        per_day=_int(env, "QUOTA_PER_DAY", 600, minimum=1),
    )


def _segments(env: Mapping[str, str]) -> tuple[Segment, ...]:
    if env.get("APOLLO_SEARCH_FILTERS", "").strip() not in ("", "{}"):
        raise ConfigError(
            'APOLLO_SEARCH_FILTERS is replaced by APOLLO_SEARCH_SEGMENTS: [{"name": "all", "share": 100, '
            '"filters": <the filters>}] keeps the same search and its cursor'
        )
    try:
        return parse_segments(env.get("APOLLO_SEARCH_SEGMENTS", ""))
    except SegmentError as exc:
        raise ConfigError(f"APOLLO_SEARCH_SEGMENTS: {exc}") from None


@dataclass(frozen=True)
class ApolloPullSettings(OnLake):
    segments: tuple[Segment, ...] = derived(_segments)
    quota_table: str = required("QUOTA_TABLE")
    state_table: str = required("STATE_TABLE")
    apollo_base_url: str = url("APOLLO_BASE_URL")
    apollo_secret_id: str = required("APOLLO_SECRET_ID")
    per_page: int = integer("APOLLO_PER_PAGE", 100, minimum=1, maximum=100)
    windows: tuple[Window, ...] = derived(_windows)
    max_wait_seconds: int = integer("QUOTA_MAX_WAIT_SECONDS", 65, minimum=0, maximum=900)
    timezone: str = timezone()


@dataclass(frozen=True)
class BronzeToSilverSettings(OnLake):
    max_team_size: int = integer("MAX_TEAM_SIZE", 2_000_000, minimum=1)
    min_founded_year: int = integer("MIN_FOUNDED_YEAR", 1800, minimum=1)
    domains_table: str = required("DOMAINS_TABLE")
    health_queue_url: str = required("HEALTH_QUEUE_URL")


@dataclass(frozen=True)
class DomainHealthSettings(OnLake):
    crawl_queue_url: str = required("CRAWL_QUEUE_URL")
    profile_queue_url: str = required("PROFILE_QUEUE_URL")
    min_score: int = integer("MIN_HEALTH_SCORE", 70, minimum=0, maximum=100)
    timeout_seconds: int = integer("HEALTH_CHECK_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)
    concurrency: int = integer("HEALTH_CONCURRENCY", 50, minimum=1, maximum=1000)
    local_dns_url: str = text("LOCAL_DNS_URL")
    extra_ca_bundle: str = text("EXTRA_CA_BUNDLE")
    timezone: str = timezone()


@dataclass(frozen=True)
class FirecrawlSettings(OnLake):
    base_url: str = url("FIRECRAWL_BASE_URL")
    secret_id: str = required("FIRECRAWL_SECRET_ID")
    timeout_ms: int = integer("FIRECRAWL_TIMEOUT_MS", 30_000, minimum=1000, maximum=120_000)
    max_attempts: int = integer("FIRECRAWL_MAX_ATTEMPTS", 3, minimum=1, maximum=10)
    crawl_queue_url: str = required("CRAWL_QUEUE_URL")
    profile_queue_url: str = required("PROFILE_QUEUE_URL")
    cache_table: str = required("CRAWL_CACHE_TABLE")
    breaker_table: str = required("BREAKER_TABLE")
    recrawl_after_days: int = integer("RECRAWL_AFTER_DAYS", 30, minimum=0)
    failure_threshold: int = integer("BREAKER_FAILURE_THRESHOLD", 5, minimum=1)
    cooldown_seconds: int = integer("BREAKER_COOLDOWN_SECONDS", 60, minimum=1, maximum=900)
    success_threshold: int = integer("BREAKER_SUCCESS_THRESHOLD", 2, minimum=1)
    timezone: str = timezone()


@dataclass(frozen=True)
class SilverToGoldSettings(OnLake):
    profiles_table: str = required("PROFILES_TABLE")
    timezone: str = timezone()


@dataclass(frozen=True)
class EmbeddingProviderSettings:
    """Which provider embeds texts: shared by the Embeddings stage and the matcher (same vectors)."""

    provider: str
    model_id: str
    dimensions: int
    local_model_path: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EmbeddingProviderSettings:
        provider = env.get("EMBEDDING_PROVIDER", "").strip() or "bedrock"
        if provider not in EMBEDDING_PROVIDERS:
            raise ConfigError(f"EMBEDDING_PROVIDER must be one of {', '.join(EMBEDDING_PROVIDERS)}, got {provider!r}")
        dimensions = _int(env, "EMBEDDING_DIMENSIONS", 1024, minimum=1)
        if provider == "bedrock" and dimensions not in (256, 512, 1024):
            raise ConfigError(f"EMBEDDING_DIMENSIONS must be 256, 512 or 1024 for Titan, got {dimensions}")
        local_model = env.get("LOCAL_EMBEDDING_MODEL", "").strip()
        if provider == "local" and not local_model:
            raise ConfigError("LOCAL_EMBEDDING_MODEL is required when EMBEDDING_PROVIDER is local")
        return cls(
            provider=provider,
            model_id=env.get("EMBEDDING_MODEL_ID", "").strip() or "amazon.titan-embed-text-v2:0",
            dimensions=dimensions,
            local_model_path=local_model,
        )


@dataclass(frozen=True)
class EmbeddingsSettings(OnLake):
    embeddings_table: str = required("EMBEDDINGS_TABLE")
    quota_table: str = required("QUOTA_TABLE")
    embed_queue_url: str = required("EMBED_QUEUE_URL")
    wait_queue_url: str = required("EMBED_WAIT_QUEUE_URL")
    publish_queue_url: str = required("PUBLISH_QUEUE_URL")
    embedding: EmbeddingProviderSettings = derived(EmbeddingProviderSettings.from_env)
    budget_usd: float = number("DAILY_EMBEDDING_BUDGET_USD", 1.0)
    price_per_1k_tokens_usd: float = number("EMBEDDING_PRICE_PER_1K_TOKENS_USD", 0.00002)
    max_tokens: int = integer("EMBEDDING_MAX_TOKENS", 512, minimum=16, maximum=8192)
    timezone: str = timezone()


@dataclass(frozen=True)
class PublisherSettings(OnLake):
    public_table: str = required("PUBLIC_STARTUPS_TABLE")
    private_table: str = required("PRIVATE_STARTUPS_TABLE")
    ttl_days: int = integer("READ_MODEL_TTL_DAYS", 90, minimum=1)


@dataclass(frozen=True)
class LakeSettings(OnLake):
    """Stages that need only the lake and the business day: AMS."""

    timezone: str = timezone()


@dataclass(frozen=True)
class IndexBuilderSettings(OnLake):
    """The lake, and the state table holding the builder's lease (it is the one writer of the index pointer)."""

    state_table: str = required("STATE_TABLE")


@dataclass(frozen=True)
class MatcherSettings(OnLake):
    embedding: EmbeddingProviderSettings = derived(EmbeddingProviderSettings.from_env)
    shortlists_table: str = required("SHORTLISTS_TABLE")
    refresh_seconds: int = integer("INDEX_REFRESH_SECONDS", 60, minimum=0, maximum=3600)
    min_score: float = number("MIN_MATCH_SCORE", 0.0)
    api_auth: str = text("API_AUTH", "IAM")  # how the explorer signs in (GET /config)
    user_pool_client_id: str = text("USER_POOL_CLIENT_ID")
    hosted_ui_url: str = text("HOSTED_UI_URL")
    timezone: str = timezone()


@dataclass(frozen=True)
class TrainingSettings(OnLake):
    code_version: str = text("CODE_VERSION", "unknown")


@dataclass(frozen=True)
class TrainingSetSettings(OnLake):
    """BuildTrainingSet: imported decisions get their features from the current index, embedded as the matcher does."""

    embedding: EmbeddingProviderSettings = derived(EmbeddingProviderSettings.from_env)
