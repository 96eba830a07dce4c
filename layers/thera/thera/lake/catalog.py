"""The lake as tables: each dataset's name, prefix, file format and columns, for Athena (Glue) and DuckDB.

Columns come from the Arrow schemas the stages write (``thera.kernel.schemas``), or, for the JSON objects
the matcher and the weekly training write, from the Arrow schemas declared here. Every table is partitioned
by ``dt``, the business day of its ``date=YYYY-MM-DD/`` folder, so the Glue tables and the local views have
the same columns under the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from thera.kernel import keys, schemas

PARTITION = "dt"  # the date=YYYY-MM-DD folder of every dataset; "date" is a reserved word in Trino
PROJECTION_START = "2024-01-01"  # the first day partition projection offers
SHORTLISTS = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("challenge_id", pa.string()),
        pa.field("text_hash", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("index_version", pa.string()),
        pa.field("filters", pa.struct([pa.field("industry", pa.string()), pa.field("country", pa.string())])),
        pa.field("at", pa.string()),  # ISO 8601 with its offset, as the matcher wrote it
        pa.field(
            "matches",
            pa.list_(
                pa.struct(
                    [
                        pa.field("rank", pa.int32()),
                        pa.field("domain", pa.string()),
                        pa.field("score", pa.float64()),
                        pa.field("features", pa.map_(pa.string(), pa.float64())),
                    ]
                )
            ),
        ),
    ]
)
FEEDBACK = pa.schema(
    [
        pa.field("challenge_id", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("decision", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("at", pa.string()),
    ]
)
MODEL_METRICS = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("model", pa.string()),  # the version, or "champion <version>" for the model serving then
        pa.field("kind", pa.string()),
        pa.field("role", pa.string()),  # champion | challenger (the best candidate) | candidate
        pa.field("train_roc_auc", pa.float64()),
        pa.field("train_pr_auc", pa.float64()),
        pa.field("validation_roc_auc", pa.float64()),
        pa.field("validation_pr_auc", pa.float64()),
        pa.field("gap", pa.float64()),
        pa.field("labels", pa.int64()),
    ]
)


@dataclass(frozen=True)
class Table:
    name: str
    prefix: str  # in the lake bucket, ending in "/"; the day folders date=YYYY-MM-DD/ sit right below it
    schema: pa.Schema
    format: str  # parquet | json (one object per line)
    description: str

    @property
    def suffix(self) -> str:
        return ".parquet" if self.format == "parquet" else ".json"

    @property
    def columns(self) -> list[tuple[str, pa.DataType]]:
        """The table's columns, the partition last, as both engines show them."""
        return [(f.name, _plain(f.type)) for f in self.schema] + [(PARTITION, pa.string())]


def _plain(t: pa.DataType) -> pa.DataType:
    """The type a query sees: fixed-size lists (the vectors, whose size is a deploy parameter) as lists."""
    if pa.types.is_fixed_size_list(t):
        return pa.list_(_plain(t.value_type))
    return t


TABLES = (
    Table("bronze_companies", keys.BRONZE_COMPANIES, schemas.BRONZE, "parquet", "Apollo pages as pulled"),
    Table("silver_companies", keys.SILVER_COMPANIES, schemas.SILVER_COMPANIES, "parquet", "one per domain and day"),
    Table("quarantine_companies", keys.QUARANTINE_COMPANIES, schemas.QUARANTINE_COMPANIES, "parquet", "refused rows"),
    Table("domain_health", keys.SILVER_DOMAIN_HEALTH, schemas.DOMAIN_HEALTH, "parquet", "health checks and score"),
    Table("crawled_pages", keys.SILVER_FIRECRAWL, schemas.SILVER_FIRECRAWL, "parquet", "scraped home pages"),
    Table("gold_profiles", keys.GOLD_PROFILES, schemas.GOLD_PROFILES, "parquet", "startup profiles"),
    Table("embeddings", keys.EMBEDDINGS, schemas.embeddings_schema(1), "parquet", "each profile's vector"),
    Table("shortlists", keys.SHORTLISTS, SHORTLISTS, "json", "what the matcher answered, per request"),
    Table("feedback", keys.FEEDBACK, FEEDBACK, "json", "accept/reject decisions on shortlisted startups"),
    Table("ams", keys.AMS_METRICS, schemas.AMS, "parquet", "Average Match Score per challenge and day"),
    Table("model_metrics", keys.MODEL_METRICS, MODEL_METRICS, "json", "each weekly run's models, evaluated"),
)
BY_NAME = {t.name: t for t in TABLES}


@dataclass(frozen=True)
class Dialect:
    """How an engine spells column types: templates for nested types, and names for scalars by Arrow's name."""

    array: str
    map: str
    struct: str
    field: str
    separator: str
    timestamp: str
    scalars: dict[str, str]

    def type_of(self, t: pa.DataType) -> str:
        if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
            return self.array.format(self.type_of(t.value_type))
        if pa.types.is_map(t):
            return self.map.format(self.type_of(t.key_type), self.type_of(t.item_type))
        if pa.types.is_struct(t):
            return self.struct.format(self.separator.join(self.field.format(f.name, self.type_of(f.type)) for f in t))
        if pa.types.is_timestamp(t):
            return self.timestamp
        return self.scalars[str(t)]


# Glue and Athena take Hive DDL types; DuckDB reads JSON with declared column types
GLUE = Dialect(
    "array<{}>", "map<{},{}>", "struct<{}>", "{}:{}", ",", "timestamp",
    {"string": "string", "bool": "boolean", "int32": "int", "int64": "bigint", "float": "float", "double": "double"},
)  # fmt: skip
DUCKDB = Dialect(
    "{}[]", "MAP({}, {})", "STRUCT({})", '"{}" {}', ", ", "TIMESTAMP WITH TIME ZONE",
    {"string": "VARCHAR", "bool": "BOOLEAN", "int32": "INTEGER", "int64": "BIGINT", "float": "FLOAT",
     "double": "DOUBLE"},
)  # fmt: skip


def glue_type(t: pa.DataType) -> str:
    return GLUE.type_of(t)


def duckdb_type(t: pa.DataType) -> str:
    return DUCKDB.type_of(t)
