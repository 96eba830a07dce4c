"""The lake as SQL: the catalog's tables as DuckDB views, the named queries in both dialects, `thera sql`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from tests.conftest import ROOT
from thera.lake.catalog import BY_NAME as TABLES
from thera.lake.catalog import TABLES as ALL_TABLES
from thera.lake.catalog import duckdb_type, glue_type
from thera.lake.queries import CHECKS, QUERIES
from thera_local import lake_sql
from thera_local.cli.main import main
from thera_local.template import Template

DAY = "2026-11-30"
BRONZE_KEY = f"bronze/companies/date={DAY}/sweep=s1/page=00001.parquet"
NOW = "2026-11-30T12:00:00+00:00"
WHEN = datetime(2026, 11, 30, 12, tzinfo=UTC)


def put(lake: Path, table: str, rows: list[dict[str, Any]], name: str = "part-1", day: str = DAY) -> None:
    """Rows written the way the stages write them: Parquet with the stage's schema, or JSON lines."""
    t = TABLES[table]
    path = lake / t.prefix / f"date={day}" / f"{name}{t.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if t.format == "json":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    # nullable: a stage that broke its schema's promise is what check_required_columns is for
    fields = [f.with_type(pa.list_(pa.float32(), 4)) if f.name == "vector" else f for f in t.schema]
    schema = pa.schema([f.with_nullable(True) for f in fields])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def lineage(i: int) -> dict[str, Any]:
    return {"run_id": "r1", "sweep": "s1", "source": "apollo", "raw_key": "raw/x", "source_page": 1,
            "source_position": i, "pulled_at": WHEN}  # fmt: skip


def healthy_lake(lake: Path, domains: int = 9, quarantined: int = 1) -> list[str]:
    """A day of the daily flow, consistent end to end: every check passes on it."""
    names = [f"startup{i}.com" for i in range(domains)]
    when = WHEN
    put(lake, "bronze_companies", [{**lineage(i), "name": f"S{i}", "primary_domain": f"startup{i}.com"}
                                   for i in range(domains + quarantined)])  # fmt: skip
    put(lake, "silver_companies", [{**lineage(i), "domain": d, "name": d, "bronze_key": BRONZE_KEY}
                                   for i, d in enumerate(names)])  # fmt: skip
    put(lake, "quarantine_companies", [{"reason": "missing_domain", "bronze_key": BRONZE_KEY, **lineage(i)}
                                       for i in range(quarantined)])  # fmt: skip
    put(lake, "domain_health", [{"domain": d, "score": 90, "passed": True, "checked_at": when} for d in names])
    put(lake, "crawled_pages", [{"domain": d, "url": f"https://{d}/", "richness": 50, "crawled_at": when,
                                 "raw_key": "raw/firecrawl/x"} for d in names[:5]])  # fmt: skip
    gold = [{"domain": d, "name": d, "crawled": True, "completeness": 80, "embedding_text": d, "text_hash": f"h-{d}",
             "version": 1, "built_at": when} for d in names]  # fmt: skip
    put(lake, "gold_profiles", gold)
    put(lake, "embeddings", [{"domain": d, "model_id": "m", "dimensions": 4, "vector": [0.5] * 4,
                              "text_hash": f"h-{d}", "tokens": 3, "version": 1, "embedded_at": when,
                              "gold_key": "gold/x"} for d in names])  # fmt: skip
    matches = [{"rank": r + 1, "domain": d, "score": 0.9 - r / 10, "features": {"similarity": 0.5}}
               for r, d in enumerate(names[:3])]  # fmt: skip
    put(lake, "shortlists", [{"request_id": "q1", "challenge_id": "c1", "text_hash": "t", "model_version": "prior-v1",
                              "index_version": "v1", "filters": {"industry": None, "country": None}, "at": NOW,
                              "matches": matches}], name="q1")  # fmt: skip
    put(lake, "feedback", [{"challenge_id": "c1", "domain": names[1], "decision": "accept",
                            "model_version": "prior-v1", "at": NOW}], name=f"c1/{names[1]}")  # fmt: skip
    put(lake, "ams", [{"date": DAY, "challenge_id": "c1", "matches": 3, "accepted": 1, "rejected": 0, "ams": 0.5}],
        name="ams")  # fmt: skip
    put(lake, "model_metrics", [{"run_id": "w1", "model": "lr-w1", "kind": "logistic_regression",
                                 "role": "challenger", "validation_pr_auc": 0.7, "labels": 80}], name="w1")  # fmt: skip
    return names


def failing(lake: Path) -> list[str]:
    return [r.check.name for r in lake_sql.run_checks(lake_sql.connect(lake)) if not r.passed]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_every_named_query_parses_as_athena_and_duckdb_sql(query: Any) -> None:
    for dialect in ("trino", "duckdb"):
        sqlglot.parse_one(query.sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)


def test_types_map_nested_arrow_types_for_glue_and_duckdb() -> None:
    nested = pa.list_(pa.struct([pa.field("rank", pa.int32()), pa.field("f", pa.map_(pa.string(), pa.float64()))]))
    assert glue_type(nested) == "array<struct<rank:int,f:map<string,double>>>"
    assert duckdb_type(nested) == 'STRUCT("rank" INTEGER, "f" MAP(VARCHAR, DOUBLE))[]'
    assert glue_type(pa.timestamp("ms", tz="UTC")) == "timestamp"
    assert [n for n, _ in TABLES["embeddings"].columns][-2:] == ["gold_key", "dt"]
    assert TABLES["embeddings"].columns[3][1] == pa.list_(pa.float32())  # the vector size is a deploy parameter


def test_an_empty_lake_has_every_table_and_every_query_runs(tmp_path: Path) -> None:
    con = lake_sql.connect(tmp_path)
    for table in ALL_TABLES:
        got = lake_sql.query(con, "SELECT * FROM " + table.name)
        assert got.columns == [n for n, _ in table.columns] and got.rows == []
    for q in QUERIES:
        lake_sql.query(con, q.sql)
    assert failing(tmp_path) == []


def test_views_have_the_catalog_columns_and_every_query_answers(tmp_path: Path) -> None:
    names = healthy_lake(tmp_path)
    con = lake_sql.connect(tmp_path)
    for table in ALL_TABLES:
        got = lake_sql.query(con, "SELECT * FROM " + table.name)
        assert got.columns == [n for n, _ in table.columns], table.name
        assert got.rows and all(row[-1] == DAY for row in got.rows), table.name
    funnel = lake_sql.query(con, next(q.sql for q in QUERIES if q.name == "daily_funnel"))
    assert funnel.rows == [(DAY, 10, 9, 1, 9, 9, 5, 9, 9)]
    joined = lake_sql.query(con, next(q.sql for q in QUERIES if q.name == "shortlists_with_feedback"))
    decided = {row[joined.columns.index("domain")]: row[joined.columns.index("decision")] for row in joined.rows}
    assert decided == {names[0]: None, names[1]: "accept", names[2]: None}
    assert failing(tmp_path) == []


def test_the_poison_mix_fails_the_checks_it_breaks_and_only_those(tmp_path: Path) -> None:
    names = healthy_lake(tmp_path, domains=4, quarantined=6)  # 6 of 10 pulled rows quarantined
    put(tmp_path, "silver_companies", [{**lineage(0), "domain": names[0], "name": "again", "bronze_key": BRONZE_KEY}],
        name="part-2")  # fmt: skip
    put(tmp_path, "domain_health", [{"domain": "odd.com", "score": 140, "passed": True, "checked_at": WHEN}],
        name="part-2")  # fmt: skip
    put(tmp_path, "gold_profiles", [{"domain": names[0], "name": names[0], "crawled": True, "completeness": 80,
                                     "embedding_text": "new text", "text_hash": "h-new", "version": 2,
                                     "built_at": WHEN}], name="part-2")  # fmt: skip
    assert failing(tmp_path) == [
        "check_bronze_accounted",  # 4 silver + 1 again + 6 quarantined > 10 pulled
        "check_duplicate_domains_silver",
        "check_quarantine_share",
        "check_health_scores",
        "check_profiles_without_embeddings",
    ]


def test_a_day_that_went_nowhere_and_rows_without_required_values_fail(tmp_path: Path) -> None:
    healthy_lake(tmp_path)
    put(tmp_path, "bronze_companies", [{**lineage(0), "name": "Lost"}], day="2026-12-01")
    put(tmp_path, "gold_profiles", [{"domain": "x.com", "name": "X", "crawled": False, "completeness": 1,
                                     "embedding_text": None, "text_hash": "h-x", "version": 1, "built_at": WHEN}],
        name="part-2")  # fmt: skip
    put(tmp_path, "embeddings", [{"domain": "x.com", "model_id": "m", "dimensions": 4, "vector": [0.1] * 4,
                                  "text_hash": "h-x", "tokens": 1, "version": 1, "embedded_at": WHEN,
                                  "gold_key": "gold/y"}], name="part-2")  # fmt: skip
    results = {r.check.name: r for r in lake_sql.run_checks(lake_sql.connect(tmp_path))}
    assert [n for n, r in results.items() if not r.passed] == ["check_bronze_accounted", "check_required_columns"]
    assert results["check_bronze_accounted"].result.rows == [("2026-12-01", 1, 0)]
    assert results["check_required_columns"].result.rows == [("gold_profiles", "embedding_text", 10, 1, 0.1)]


def test_sync_copies_new_and_changed_objects_and_drops_deleted_ones(tmp_path: Path) -> None:
    class Bucket:
        def __init__(self) -> None:
            self.objects: dict[str, bytes] = {}

        def get_paginator(self, _: str) -> Any:
            return self

        def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
            listed = [{"Key": k, "ETag": str(hash(v))} for k, v in sorted(self.objects.items()) if k.startswith(Prefix)]
            return [{"Contents": listed}]

        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            return {"Body": io.BytesIO(self.objects[Key])}

    s3 = Bucket()
    s3.objects = {f"feedback/date={DAY}/c/a.json": b"1", f"feedback/date={DAY}/c/b.json": b"2", "raw/apollo/x": b"r"}
    assert lake_sql.sync(s3, "lake", tmp_path) == 2
    assert not (tmp_path / "raw").exists()  # only the tables' datasets
    s3.objects[f"feedback/date={DAY}/c/a.json"] = b"changed"
    del s3.objects[f"feedback/date={DAY}/c/b.json"]
    assert lake_sql.sync(s3, "lake", tmp_path) == 1
    assert (tmp_path / f"feedback/date={DAY}/c/a.json").read_bytes() == b"changed"
    assert not (tmp_path / f"feedback/date={DAY}/c/b.json").exists()


def kept(home: Path, domains: int = 9, quarantined: int = 1) -> Path:
    """A home whose stopped stack kept its lake (the emulator's saved state), with no stack running."""
    bucket = Template(ROOT / "template.yaml", None).physical("DataLakeBucket")
    healthy_lake(home / "state" / "s3" / bucket, domains, quarantined)
    return home


@pytest.fixture
def kept_home(tmp_path: Path) -> Path:
    return kept(tmp_path)


def test_thera_sql_prints_a_table_json_csv_and_named_queries(kept_home: Path, capsys: Any) -> None:
    home = ["--home", str(kept_home)]
    assert main(["sql", "SELECT count(*) AS companies FROM silver_companies", *home]) == 0
    assert capsys.readouterr().out.splitlines() == ["companies", "---------", "9", "(1 row)"]
    assert main(["sql", "SELECT domain, dt FROM gold_profiles ORDER BY domain LIMIT 2", "--json", *home]) == 0
    assert json.loads(capsys.readouterr().out) == [{"domain": "startup0.com", "dt": DAY},
                                                    {"domain": "startup1.com", "dt": DAY}]  # fmt: skip
    assert main(["sql", "--named", "quarantine_reasons_per_day", "--csv", *home]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [["dt", "reason", "row_count"],
                                                                      [DAY, "missing_domain", "1"]]  # fmt: skip
    assert main(["sql", "--checks", *home]) == 0
    out = capsys.readouterr().out
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed" in out


def test_thera_sql_names_the_failing_checks_and_exits_1(tmp_path: Path, capsys: Any) -> None:
    home = kept(tmp_path, domains=5, quarantined=5)  # half of the pulled rows quarantined
    assert main(["sql", "--checks", "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert "FAIL check_quarantine_share: 1 row;" in out and "PASS check_health_scores" in out
    assert out.rstrip().endswith("5 of 6 checks passed; failed: check_quarantine_share")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["SELECT * FROM no_such_table"], "thera: sql: Catalog Error: Table with name no_such_table does not exist!"),
        (["SELEC 1"], "thera: sql: Parser Error: syntax error at or near"),
        (["--named", "nope"], "thera: no named query 'nope'; known: rows_per_layer_and_day"),
        (["SELECT 1", "--checks"], "thera: sql takes a query, --named NAME or --checks (one of them)"),
    ],
)
def test_thera_sql_errors_are_one_line(kept_home: Path, capsys: Any, argv: list[str], says: str) -> None:
    assert main(["sql", *argv, "--home", str(kept_home)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1


def test_thera_sql_without_a_stack_or_kept_lake_says_how_to_get_one(tmp_path: Path, capsys: Any) -> None:
    assert main(["sql", "SELECT 1", "--home", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "thera: no local stack running and no kept lake: `thera run daily` builds one\n"
