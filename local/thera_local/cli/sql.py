"""``thera sql``: query the local lake with the Glue tables' names, run a named query, or run the checks."""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

from thera.lake.queries import BY_NAME, QUERIES
from thera_local import lake_sql
from thera_local.cli.common import UsageError, default_home, project_root
from thera_local.stack import StackInfo
from thera_local.template import Template

SHOWN_FAILURES = 10  # rows printed under a failed check


def lake_folder(args: argparse.Namespace) -> Path:
    """The running stack's lake copied to ``<home>/lake``, else the lake the stopped stack kept."""
    from thera_local.emulator import aws_client

    home = Path(args.home).resolve() if args.home else default_home(project_root())
    info = StackInfo.read(home)
    if info is not None and info.alive():
        bucket = info.template_obj().physical("DataLakeBucket")
        folder = home / "lake"
        lake_sql.sync(aws_client("s3", info.endpoint), bucket, folder)
        return folder
    kept = home / "state" / "s3" / Template(project_root() / "template.yaml", None).physical("DataLakeBucket")
    if kept.is_dir():
        return kept
    raise UsageError("no local stack running and no kept lake: `thera run daily` builds one")


def cmd_sql(args: argparse.Namespace) -> int:
    if args.list:
        for q in QUERIES:
            print(f"{q.name:<36} {'check' if q.is_check else 'report'}  {q.description}")
        return 0
    if sum(map(bool, (args.query, args.named, args.checks))) != 1:
        raise UsageError("sql takes a query, --named NAME or --checks (one of them); --list names the queries")
    if args.named and args.named not in BY_NAME:
        raise UsageError(f"no named query {args.named!r}; known: {', '.join(BY_NAME)}")
    con = lake_sql.connect(lake_folder(args))
    if args.checks:
        return _checks(con)
    sql = BY_NAME[args.named].sql if args.named else args.query
    try:
        result = lake_sql.query(con, sql)
    except duckdb.Error as exc:
        raise UsageError(f"sql: {str(exc).strip().splitlines()[0]}") from None
    if args.json:
        print(lake_sql.as_json(result))
    elif args.csv:
        print(lake_sql.as_csv(result), end="")
    else:
        print(lake_sql.as_table(result))
    return 0


def _checks(con: duckdb.DuckDBPyConnection) -> int:
    results = lake_sql.run_checks(con)
    for r in results:
        if r.passed:
            print(f"PASS {r.check.name}: {r.check.description}")
            continue
        rows = len(r.result.rows)
        print(f"FAIL {r.check.name}: {rows} row{'s' if rows != 1 else ''}; {r.check.failing_means}")
        print("  " + lake_sql.as_table(r.result, limit=SHOWN_FAILURES).replace("\n", "\n  "))
    failed = [r.check.name for r in results if not r.passed]
    summary = f"{len(results) - len(failed)} of {len(results)} checks passed"
    print(summary + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
