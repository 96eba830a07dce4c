"""The lake as SQL on this machine: DuckDB over a copy of the lake bucket, with the Glue tables' names as views.

DuckDB reads Parquet and JSON files itself; its S3 reader is an extension it would download, so the lake's
objects are copied from the emulator to a folder first (only the ones that changed since the last copy).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from thera.lake.catalog import PARTITION, TABLES, Table, duckdb_type
from thera.lake.queries import CHECKS, NamedQuery

MANIFEST = ".objects.json"
DAY = r"date=([0-9]{4}-[0-9]{2}-[0-9]{2})/"
# Trino functions the named queries use that DuckDB spells otherwise
MACROS = ("CREATE MACRO sequence(a, b) AS generate_series(CAST(a AS BIGINT), CAST(b AS BIGINT))",)


def sync(s3: Any, bucket: str, folder: Path) -> int:
    """Copy the tables' objects from ``bucket`` into ``folder`` (same keys); returns how many were fetched."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    before: dict[str, str] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    now: dict[str, str] = {}
    fetched = 0
    for table in TABLES:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=table.prefix):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], obj["ETag"]
                if not key.endswith(table.suffix) or not re.search(DAY, key):
                    continue
                now[key] = etag
                path = folder / key
                if before.get(key) != etag or not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                    fetched += 1
    for key in before.keys() - now.keys():
        (folder / key).unlink(missing_ok=True)
    manifest_path.write_text(json.dumps(now))
    return fetched


def _glob(folder: Path, table: Table) -> str:
    return str(folder / table.prefix) + f"/date=*/**/*{table.suffix}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_sql(folder: Path, table: Table) -> str:
    """The view that gives ``table`` its Glue columns over the files under ``folder``, empty if there are none."""
    typed = [(name, duckdb_type(t)) for name, t in table.columns if name != PARTITION]
    if not any((folder / table.prefix).glob(f"date=*/**/*{table.suffix}")):
        cols = ", ".join(f"CAST(NULL AS {t}) AS {_quoted(n)}" for n, t in [*typed, (PARTITION, "VARCHAR")])
        return f"CREATE VIEW {table.name} AS SELECT {cols} WHERE false"
    path = _glob(folder, table).replace("'", "''")
    if table.format == "json":
        spec = "{" + ", ".join(f"'{n}': '{t}'" for n, t in typed) + "}"
        source = (
            f"read_json('{path}', format='newline_delimited', columns={spec}, filename=true, hive_partitioning=false)"
        )
    else:
        source = f"read_parquet('{path}', filename=true, hive_partitioning=false, union_by_name=true)"
    cols = ", ".join(f"CAST({_quoted(n)} AS {t}) AS {_quoted(n)}" for n, t in typed)
    day = f"regexp_extract(filename, '{DAY}', 1) AS {PARTITION}"
    return f"CREATE VIEW {table.name} AS SELECT {cols}, {day} FROM {source}"


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per lake table over ``folder`` (a copy of the lake bucket)."""
    con = duckdb.connect(":memory:")
    for statement in MACROS:
        con.execute(statement)
    for table in TABLES:
        con.execute(view_sql(folder, table))
    return con


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def query(con: duckdb.DuckDBPyConnection, sql: str) -> Result:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    return Result(columns, [tuple(r) for r in cursor.fetchall()])


@dataclass(frozen=True)
class CheckResult:
    check: NamedQuery
    result: Result

    @property
    def passed(self) -> bool:
        return not self.result.rows


def run_checks(con: duckdb.DuckDBPyConnection, checks: Iterable[NamedQuery] = CHECKS) -> list[CheckResult]:
    return [CheckResult(c, query(con, c.sql)) for c in checks]


def _plain(value: Any) -> Any:
    """A value as JSON holds it: dates and decimals as text, maps as objects, NaN as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def as_json(result: Result) -> str:
    return json.dumps([dict(zip(result.columns, map(_plain, row), strict=True)) for row in result.rows], indent=2)


def as_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([_cell(v) for v in row] for row in result.rows)
    return out.getvalue()


def as_table(result: Result, limit: int | None = None, width: int = 60) -> str:
    """Aligned columns for a terminal; long cells cut at ``width`` characters, rows after ``limit`` counted."""
    shown: Sequence[tuple[Any, ...]] = result.rows if limit is None else result.rows[:limit]
    cells = [[c if len(c) <= width else c[: width - 1] + "…" for c in map(_cell, row)] for row in shown]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(result.columns)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(result.columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    more = len(result.rows) - len(shown)
    count = f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
    lines.append(f"({count}{f', {more} not shown' if more else ''})")
    return "\n".join(lines)
