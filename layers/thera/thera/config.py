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


class ConfigError(ValueError):
    """A required environment variable is missing or malformed."""


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
            timezone=env.get(BUSINESS_TIMEZONE, "").strip() or "America/Sao_Paulo",
            search_filters=filters,
        )


@dataclass(frozen=True)
class BronzeToSilverSettings:
    bucket: str
    max_team_size: int
    min_founded_year: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BronzeToSilverSettings:
        return cls(
            bucket=_required(env, DATA_LAKE_BUCKET),
            max_team_size=_int(env, MAX_TEAM_SIZE, 2_000_000, minimum=1),
            min_founded_year=_int(env, MIN_FOUNDED_YEAR, 1800, minimum=1),
        )
