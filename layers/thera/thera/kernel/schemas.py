"""Arrow schemas of the lake's tables. Imported only by stages that ship pyarrow."""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("ms", tz="UTC")

# What a reader knows a startup by, in the index and in the public read model (gold's names).
STARTUP_FIELDS = ("domain", "name", "industries", "keywords", "country", "city")
QUALITY_SCORES = ("health_score", "content_richness", "completeness")  # 0-100 each
LINEAGE_FIELDS = [
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("sweep", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("raw_key", pa.string(), nullable=False),
    pa.field("source_page", pa.int32(), nullable=False),
    pa.field("source_position", pa.int32(), nullable=False),
    pa.field("pulled_at", TIMESTAMP, nullable=False),
]

# Company fields that pass from bronze to silver as they are.
CARRIED_FIELDS = [
    pa.field("website_url", pa.string()),
    pa.field("description", pa.string()),
    pa.field("industries", pa.list_(pa.string())),
    pa.field("keywords", pa.list_(pa.string())),
    pa.field("city", pa.string()),
    pa.field("state", pa.string()),
    pa.field("country", pa.string()),
    pa.field("founded_year", pa.int64()),
    pa.field("apollo_id", pa.string()),
    pa.field("linkedin_url", pa.string()),
    pa.field("phone", pa.string()),
]

BRONZE = pa.schema(
    [
        *LINEAGE_FIELDS,
        pa.field("name", pa.string()),
        pa.field("primary_domain", pa.string()),
        pa.field("employees", pa.int64()),
        *CARRIED_FIELDS,
        pa.field("issues", pa.list_(pa.string())),
    ]
)

SILVER_COMPANIES = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("team_size", pa.int64()),
        *CARRIED_FIELDS,
        *LINEAGE_FIELDS,
        pa.field("bronze_key", pa.string(), nullable=False),
    ]
)

QUARANTINE_COMPANIES = pa.schema(
    [
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("bronze_key", pa.string(), nullable=False),
        *[f.with_nullable(True) for f in BRONZE],
    ]
)

DOMAIN_HEALTH = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("score", pa.int32(), nullable=False),
        pa.field("passed", pa.bool_(), nullable=False),
        pa.field("flags", pa.list_(pa.string())),
        pa.field("dns", pa.bool_()),
        pa.field("http", pa.bool_()),
        pa.field("https", pa.bool_()),
        pa.field("tls", pa.bool_()),
        pa.field("redirects", pa.bool_()),
        pa.field("content", pa.bool_()),
        pa.field("checked_at", TIMESTAMP, nullable=False),
        pa.field("record_hash", pa.string()),
        pa.field("silver_key", pa.string()),
        pa.field("correlation_id", pa.string()),
    ]
)

SILVER_FIRECRAWL = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("language", pa.string()),
        pa.field("markdown", pa.string()),
        pa.field("text", pa.string()),
        pa.field("word_count", pa.int32()),
        pa.field("headings", pa.int32()),
        pa.field("richness", pa.int32(), nullable=False),
        pa.field("status_code", pa.int32()),
        pa.field("crawled_at", TIMESTAMP, nullable=False),
        pa.field("raw_key", pa.string(), nullable=False),
        pa.field("correlation_id", pa.string()),
        pa.field("silver_key", pa.string()),
        pa.field("health_key", pa.string()),
    ]
)

GOLD_PROFILES = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("description", pa.string()),
        pa.field("website_url", pa.string()),
        pa.field("linkedin_url", pa.string()),
        pa.field("industries", pa.list_(pa.string())),
        pa.field("keywords", pa.list_(pa.string())),
        pa.field("city", pa.string()),
        pa.field("state", pa.string()),
        pa.field("country", pa.string()),
        pa.field("team_size", pa.int64()),
        pa.field("founded_year", pa.int64()),
        pa.field("health_score", pa.int32()),
        pa.field("health_passed", pa.bool_()),
        pa.field("health_flags", pa.list_(pa.string())),
        pa.field("crawled", pa.bool_(), nullable=False),
        pa.field("content_richness", pa.int32()),
        pa.field("page_title", pa.string()),
        pa.field("page_excerpt", pa.string()),
        pa.field("emails", pa.list_(pa.string())),
        pa.field("phones", pa.list_(pa.string())),
        pa.field("completeness", pa.int32(), nullable=False),
        pa.field("embedding_text", pa.string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("built_at", TIMESTAMP, nullable=False),
        pa.field("correlation_id", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("raw_key", pa.string()),
        pa.field("bronze_key", pa.string()),
        pa.field("silver_key", pa.string()),
        pa.field("health_key", pa.string()),
        pa.field("content_key", pa.string()),
        pa.field("firecrawl_raw_key", pa.string()),
    ]
)


def embeddings_schema(dimensions: int) -> pa.Schema:
    """Vectors as fixed-size float32 lists; the model and dimension travel with every row."""
    return pa.schema(
        [
            pa.field("domain", pa.string(), nullable=False),
            pa.field("model_id", pa.string(), nullable=False),
            pa.field("dimensions", pa.int32(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimensions), nullable=False),
            pa.field("text_hash", pa.string(), nullable=False),
            pa.field("tokens", pa.int32(), nullable=False),
            pa.field("version", pa.int64(), nullable=False),
            pa.field("embedded_at", TIMESTAMP, nullable=False),
            pa.field("gold_key", pa.string(), nullable=False),
        ]
    )


AMS = pa.schema(
    [
        pa.field("date", pa.string(), nullable=False),
        pa.field("challenge_id", pa.string(), nullable=False),
        pa.field("matches", pa.int32(), nullable=False),
        pa.field("accepted", pa.int32(), nullable=False),
        pa.field("rejected", pa.int32(), nullable=False),
        pa.field("ams", pa.float64(), nullable=False),
    ]
)
