"""Data-lake key layout: one place that knows where every stage reads and writes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

RAW_APOLLO = "raw/apollo/"
BRONZE_COMPANIES = "bronze/companies/"
SILVER_COMPANIES = "silver/companies/"
QUARANTINE_COMPANIES = "quarantine/companies/"
QUARANTINE_BRONZE = "quarantine/bronze/"  # whole bronze objects refused (their schema), one JSON each
SILVER_DOMAIN_HEALTH = "silver/domain_health/"
RAW_FIRECRAWL = "raw/firecrawl/"
SILVER_FIRECRAWL = "silver/firecrawl/"
QUARANTINE_FIRECRAWL = "quarantine/firecrawl/"
GOLD_PROFILES = "gold/profiles/"
EMBEDDINGS = "embeddings/"

_BRONZE_KEY = re.compile(r"^bronze/companies/date=(\d{4}-\d{2}-\d{2})/sweep=([\w.-]+)/page=(\d{5})\.parquet$")
_RAW_APOLLO_KEY = re.compile(r"^raw/apollo/date=(\d{4}-\d{2}-\d{2})/sweep=([\w.-]+)/page=(\d{5})\.jsonl\.gz$")
_DATE_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


def content_part(lines: Iterable[str]) -> str:
    """A part's name from its content, whatever the order: the same batch delivered again gets the same key
    and overwrites nothing new."""
    return hashlib.sha1("\n".join(sorted(lines)).encode(), usedforsecurity=False).hexdigest()[:20]


def raw_apollo_page(date: str, sweep: str, page: int) -> str:
    return f"{RAW_APOLLO}date={date}/sweep={sweep}/page={page:05d}.jsonl.gz"


def raw_apollo_page_parts(key: str) -> tuple[str, str, int] | None:
    """(date, sweep, page) of a raw Apollo page key; None for any other key."""
    m = _RAW_APOLLO_KEY.match(key)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def partition_date(key: str) -> str:
    """The ``date=`` partition of a key, or "" when it has none."""
    m = _DATE_PARTITION.search(key)
    return m.group(1) if m else ""


def bronze_companies_page(date: str, sweep: str, page: int) -> str:
    return f"{BRONZE_COMPANIES}date={date}/sweep={sweep}/page={page:05d}.parquet"


def is_bronze_companies(key: str) -> bool:
    return _BRONZE_KEY.match(key) is not None


def silver_for_bronze(bronze_key: str) -> str:
    """Silver output of one bronze object: same partition path, so a replay overwrites nothing new."""
    _check_bronze(bronze_key)
    return SILVER_COMPANIES + bronze_key[len(BRONZE_COMPANIES) :]


def quarantine_for_bronze(bronze_key: str) -> str:
    _check_bronze(bronze_key)
    return QUARANTINE_COMPANIES + bronze_key[len(BRONZE_COMPANIES) :]


def rejected_bronze(bronze_key: str) -> str:
    """Why a whole bronze object was refused: beside, not inside, the quarantine table's Parquet files."""
    _check_bronze(bronze_key)
    return QUARANTINE_BRONZE + bronze_key[len(BRONZE_COMPANIES) :].removesuffix(".parquet") + ".json"


def _check_bronze(key: str) -> None:
    if not is_bronze_companies(key):
        raise ValueError(f"not a bronze companies key: {key!r}")


def _dated(prefix: str, name: str) -> Callable[[str, str], str]:
    """A key builder for one dataset: ``prefix``, the ``date=`` partition, then ``name`` with ``{}``
    for the part or the domain."""

    def key(date: str, part: str) -> str:
        return f"{prefix}date={date}/{name.format(part)}"

    return key


# (date, part or domain) -> key
domain_health_part = _dated(SILVER_DOMAIN_HEALTH, "part-{}.parquet")
raw_firecrawl = _dated(RAW_FIRECRAWL, "{}.json")
silver_firecrawl = _dated(SILVER_FIRECRAWL, "{}.parquet")
quarantine_firecrawl = _dated(QUARANTINE_FIRECRAWL, "{}.json")
gold_profiles_part = _dated(GOLD_PROFILES, "part-{}.parquet")
embeddings_part = _dated(EMBEDDINGS, "part-{}.parquet")
quarantine_embeddings = _dated("quarantine/embeddings/", "{}.json")


def is_gold_profiles(key: str) -> bool:
    return key.startswith(GOLD_PROFILES) and key.endswith(".parquet")


def is_silver_firecrawl(key: str) -> bool:
    return key.startswith(SILVER_FIRECRAWL) and key.endswith(".parquet")


INDEX = "index/"
INDEX_POINTER = "index/current.json"
# on the objects of an index version the pointer no longer names: template.yaml's lifecycle rule
# expire-superseded-index-versions filters on it
SUPERSEDED_TAG = {"superseded": "true"}
SHORTLISTS = "shortlists/"
FEEDBACK = "feedback/"
AMS_METRICS = "metrics/ams/"
MODEL_METRICS = "metrics/models/"
MODELS = "models/"
SERVING_POINTER = "models/serving.json"


def index_object(version: str, name: str) -> str:
    return f"{INDEX}v={version}/{name}"


def shortlist(date: str, request_id: str) -> str:
    return f"{SHORTLISTS}date={date}/{request_id}.json"


def feedback(date: str, challenge_id: str, domain: str) -> str:
    return f"{FEEDBACK}date={date}/{challenge_id}/{domain}.json"


def ams_metrics(date: str) -> str:
    return f"{AMS_METRICS}date={date}/ams.parquet"


def model_metrics(date: str, run_id: str) -> str:
    return f"{MODEL_METRICS}date={date}/{run_id}.json"


def model_artifact(version: str) -> str:
    return f"{MODELS}{version}/model.json"


LABELS_IMPORTED = "labels/imported/"  # decisions made before Thera (thera.training.imported)


def imported_labels(date: str, part: str) -> str:
    return f"{LABELS_IMPORTED}date={date}/{part}.jsonl"


TRAINING = "training/"


def training_object(run_id: str, name: str) -> str:
    return f"{TRAINING}{run_id}/{name}"


def model_report(version: str, name: str) -> str:
    return f"{MODELS}{version}/report/{name}"
