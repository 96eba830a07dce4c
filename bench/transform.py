"""Benchmark the bronze → silver companies transform at scale: thera (pyarrow) next to DuckDB SQL and polars.

Run as ``python bench/transform.py [--rows N] [--data PATH] [--with-python] [--repeat R] [--threads T]``.
It prints and never asserts: the numbers are for comparing peers measured in the same run on the same
machine.

The bronze input is the YC company file mapped the way ``thera.lake.companies.bronze_record`` maps an
Apollo organization, replicated to N rows with distinct domains, ~10% duplicate domains and ~2%
invalid rows. It is cached under ``bench/out/`` (git-ignored) and rebuilt when its inputs change.
Each peer runs in its own fresh subprocess, so its peak RSS is its own.

Every peer does the same work: Parquet file in, the same rules (same regexes, same reason
precedence, same newest row per domain), silver and quarantine Parquet files out, zstd at level 1
(pyarrow's default level, set explicitly for DuckDB and polars). Each writer keeps its own
encoding choices, so file sizes differ: the descriptions of the replicated input repeat every few
thousand rows, which a writer with a large dictionary page (DuckDB, polars) turns into a much
smaller file than pyarrow's 1 MiB dictionary page limit does; real data, where every description
is different, would not reward that. Each peer's output files are compared with thera's row by
row (domain, name, team size and lineage in silver; reason, detail and lineage in quarantine).

Threads: every peer uses the threads it uses by default, which is one per core for all three:
pyarrow's CPU pool (thera reads Parquet and filters the wide columns on it; its other kernels run
on one thread), DuckDB's ``threads`` setting and polars' thread pool. That is the fair default:
the same cores for everyone. ``--threads T`` pins all of them to T (pyarrow's CPU pool, ``SET
threads``, ``POLARS_MAX_THREADS``); ``--threads 1`` compares single-core efficiency. The threads
row and the CPU seconds (user + system, all threads of the peer's process) show what each peer used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from common import REPO, default_data, own_cpu_seconds, peak_rss_mb, print_header

from thera.kernel import keys, schemas
from thera.kernel.tables import to_parquet
from thera.lake import silver as thera_silver
from thera.lake.companies import Lineage, bronze_record
from thera.lake.silver import _HOST, _VALID_DOMAIN, REASONS, QualityRules

OUT = REPO / "bench" / "out"
INPUT = OUT / "bronze.parquet"
INPUT_META = OUT / "bronze.json"
GENERATOR_VERSION = 1  # bump when the generated data changes, so caches are rebuilt
ROW_GROUP = 100_000  # several row groups, so readers can work in parallel
ROWS_PER_PAGE, PAGES_PER_SWEEP = 100, 500  # Apollo's per_page and page ceiling: one sweep = 50,000 rows
LAST_SWEEP = date(2026, 6, 2)
BRONZE_KEY = keys.bronze_companies_page("2026-06-02", "2026-06-02", 1)
RULES = QualityRules()
# The characters pyarrow's utf8_trim_whitespace strips are exactly Python's str.isspace ones.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
PEERS = {"thera": "thera (pyarrow)", "duckdb": "DuckDB SQL", "polars": "polars", "python": "pure Python"}
ZSTD_LEVEL = 1  # pyarrow's default zstd level, which thera.kernel.tables.to_parquet writes with
U64 = pa.uint64()


# ----------------------------------------------------------------------------- input generation
def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value & 0xFFFF_FFFF_FFFF_FFFF, U64)


def _mix(index: pa.Array, seed: int) -> pa.Array:
    """splitmix64 of index+seed: a repeatable pseudo-random uint64 per row, vectorized (no numpy here)."""
    z = pc.add(index.cast(U64), _u64((seed + 1) * 0x9E3779B97F4A7C15))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, _u64(30))), _u64(0xBF58476D1CE4E5B9))
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, _u64(27))), _u64(0x94D049BB133111EB))
    return pc.bit_wise_xor(z, pc.shift_right(z, _u64(31)))


def _mod(values: pa.Array, m: int) -> pa.Array:
    """values mod m as int64 (pyarrow has no modulo kernel); a uint64 hash is first cut to 62 bits."""
    v = values if values.type == pa.int64() else pc.bit_wise_and(values, _u64(2**62 - 1)).cast(pa.int64())
    return pc.subtract(v, pc.multiply(pc.divide(v, m), m))


def _uniform(index: pa.Array, seed: int, m: int) -> pa.Array:
    return _mod(_mix(index, seed), m)


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; null when any part is null."""
    return pc.binary_join_element_wise(*parts, "")


def load_base(data: Path) -> pa.Table:
    """The source companies as bronze rows, through the real organization → bronze mapping."""
    from thera_local.standins.apollo import load_companies, organization_from_company

    pulled_at = datetime(2026, 1, 1, tzinfo=UTC)
    lineage = Lineage(run_id="base", sweep="base", raw_key="base", page=1, pulled_at=pulled_at)
    companies = load_companies(data)
    records = [bronze_record(organization_from_company(c), i, lineage) for i, c in enumerate(companies)]
    return pa.Table.from_pylist(records, schema=schemas.BRONZE)


def _domain_parts(base: pa.Table) -> dict[str, pa.Array]:
    """Per company: first label and rest of its domain, and its website around that label.

    Replica k of ``stripe.com`` becomes ``stripe-k.com``; its website keeps the original's scheme,
    ``www.`` and path (or is ``https://`` + domain when the company had none).
    """
    labels: list[str | None] = []
    rests: list[str | None] = []
    pres: list[str | None] = []
    posts: list[str | None] = []
    domains, websites = base["primary_domain"].to_pylist(), base["website_url"].to_pylist()
    for domain, website in zip(domains, websites, strict=True):
        if not domain:
            labels.append(None)
            rests.append(None)
            pres.append(None)
            posts.append(None)
            continue
        label, dot, rest = domain.partition(".")
        at = website.lower().find(domain.lower()) if website else -1
        labels.append(label)
        rests.append(dot + rest)
        pres.append(website[:at] if website and at >= 0 else "https://")
        posts.append(website[at + len(label) :] if website and at >= 0 else dot + rest)
    return {
        k: pa.array(v, pa.string()) for k, v in {"label": labels, "rest": rests, "pre": pres, "post": posts}.items()
    }


def _lineage(index: pa.Array) -> dict[str, pa.Array]:
    """Lineage as the puller writes it: one sweep a day of 500 pages x 100, two pages pulled per second."""
    rows_per_sweep = ROWS_PER_PAGE * PAGES_PER_SWEEP
    n_sweeps = max(1, math.ceil(len(index) / rows_per_sweep))
    days = [(LAST_SWEEP - timedelta(days=n_sweeps - 1 - s)).isoformat() for s in range(n_sweeps)]
    sweep_no = pc.divide(index, rows_per_sweep)
    in_sweep = _mod(index, rows_per_sweep)
    page = pc.add(pc.divide(in_sweep, ROWS_PER_PAGE), 1)
    prefixes = [keys.raw_apollo_page(d, d, 0).rsplit("page=", 1)[0] + "page=" for d in days]
    starts = [int(datetime.fromisoformat(d).replace(hour=6, tzinfo=UTC).timestamp() * 1000) for d in days]
    second = pc.divide(pc.subtract(page, 1), 2)
    pulled_ms = pc.add(pc.take(pa.array(starts, pa.int64()), sweep_no), pc.multiply(second, 1000))
    run_ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"thera-bench/{d}")) for d in days]
    return {
        "run_id": pc.take(pa.array(run_ids), sweep_no),
        "sweep": pc.take(pa.array(days), sweep_no),
        "raw_key": _join(
            pc.take(pa.array(prefixes), sweep_no), pc.utf8_lpad(page.cast(pa.string()), 5, "0"), ".jsonl.gz"
        ),
        "source_page": page.cast(pa.int32()),
        "source_position": _mod(index, ROWS_PER_PAGE).cast(pa.int32()),
        "pulled_at": pulled_ms.cast(schemas.TIMESTAMP),
    }


def generate(base: pa.Table, n: int) -> tuple[pa.Table, dict[str, Any]]:
    """N bronze rows from the base companies, column-wise with pyarrow (no per-row Python)."""
    b = base.num_rows
    index = pa.array(range(n), pa.int64())
    # Roles: 0 normal, 1 duplicate of an earlier/later normal row, 2 invalid (reason chosen below).
    u = _uniform(index, 1, 10_000)
    role = pc.if_else(pc.less(u, 1_000), 1, pc.if_else(pc.less(u, 1_150), 2, 0)).cast(pa.int8())
    # A duplicate copies the company of row j: nearby (same page or pulled in the same second, so the
    # page/position tie-breaks matter) or ~1-5 sweeps away (so pulled_at decides), wrapping around.
    h = _mix(index, 2)
    near = pc.equal(_mod(h, 2), 0)
    offset = pc.if_else(near, pc.add(_uniform(index, 3, 300), 1), pc.add(_uniform(index, 4, 200_000), 50_000))
    j = _mod(pc.add(pc.subtract(index, _mod(offset, n)), n), n)
    for _ in range(8):  # walk back to a normal row
        j = pc.if_else(pc.equal(pc.take(role, j), 0), j, _mod(pc.add(j, n - 1), n))
    role = pc.if_else(pc.and_(pc.equal(role, 1), pc.not_equal(pc.take(role, j), 0)), 0, role).cast(pa.int8())
    is_dup = pc.equal(role, 1)
    ident = pc.if_else(is_dup, j, index)
    company, replica = _mod(ident, b), pc.divide(ident, b)

    rows = base.take(company)
    parts = {k: pc.take(v, company) for k, v in _domain_parts(base).items()}
    k_str = replica.cast(pa.string())
    first = pc.equal(replica, 0)
    domain = pc.if_else(first, rows["primary_domain"], _join(parts["label"], "-", k_str, parts["rest"]))
    replica_site = _join(parts["pre"], parts["label"], "-", k_str, parts["post"])
    website = pc.if_else(first, rows["website_url"], replica_site)

    # Noise for the normalizer: 65% clean, then 5% each of seven spellings of the same host.
    upper = pc.utf8_upper(domain)
    null = pa.nulls(n, pa.string())
    noise = pc.max_element_wise(pc.subtract(_uniform(index, 5, 20), 12), 0).cast(pa.int8())
    primary = pc.choose(
        noise,
        domain,
        upper,
        _join("https://www.", domain, "/"),
        _join("HTTP://", upper, "/about?ref=yc"),
        _join(domain, "."),
        null,
        null,
        null,
    )
    website = pc.choose(
        noise,
        website,
        website,
        website,
        website,
        website,
        _join("HTTPS://WWW.", upper, "/careers#jobs"),
        _join(domain, ":8080/path"),
        _join("https://team@", domain, "/"),
    )

    # Invalid rows, spread over the reasons; some break two rules, to check the reason precedence.
    bad = pc.equal(role, 2)
    reason = _uniform(index, 6, len(REASONS))
    variant = _uniform(index, 7, 6)
    odd = pc.equal(_mod(variant, 2), 1)

    def hit(r: int, extra: pa.Array | None = None) -> pa.Array:
        mask = pc.and_(bad, pc.equal(reason, r))
        return pc.and_(mask, extra) if extra is not None else mask

    issue = pa.scalar(["estimated_num_employees: not an integer: 'lots'"], pa.list_(pa.string()))
    issues = pc.if_else(hit(0), issue, rows["issues"])
    name = pc.if_else(pc.or_(hit(0, odd), hit(1, pc.invert(odd))), pa.scalar(None, pa.string()), rows["name"])
    name = pc.if_else(hit(1, odd), "   ", name)
    primary = pc.if_else(hit(2), pa.scalar(None, pa.string()), primary)
    website = pc.if_else(hit(2), pc.if_else(odd, pa.scalar("http://"), pa.scalar(None, pa.string())), website)
    garbage = pc.choose(_mod(variant, 3).cast(pa.int8()), "not a domain", "localhost", "exa_mple.com")
    primary = pc.if_else(hit(3), garbage, primary)
    employees = pc.if_else(hit(0), pa.scalar(None, pa.int64()), rows["employees"])
    employees = pc.if_else(pc.or_(hit(3, odd), hit(4, pc.invert(odd))), -5, employees)
    employees = pc.if_else(hit(4, odd), 10**9, employees)
    year = pc.if_else(pc.or_(hit(1, pc.equal(_mod(variant, 3), 0)), hit(5)), 2999, rows["founded_year"])

    columns = {
        **{f.name: rows[f.name] for f in schemas.BRONZE},
        **_lineage(index),
        "name": name,
        "website_url": website,
        "primary_domain": primary,
        "employees": employees,
        "founded_year": year,
        "issues": issues,
    }
    table = pa.Table.from_arrays([columns[f.name] for f in schemas.BRONZE], schema=schemas.BRONZE)
    injected = {r: pc.sum(hit(i)).as_py() or 0 for i, r in enumerate(REASONS)}
    facts = {
        "duplicate_rows": pc.sum(is_dup).as_py() or 0,
        "invalid_injected": injected,
        "no_domain_in_source": pc.sum(pc.and_(pc.invert(bad), pc.is_null(domain))).as_py() or 0,
        "noisy_domains": pc.sum(pc.greater(noise, 0)).as_py() or 0,
    }
    return table, facts


def ensure_input(data: Path, n: int) -> dict[str, Any]:
    """The cached bronze file for (data, n), built when missing or stale."""
    stat = data.stat()
    key = {
        "rows": n,
        "data": str(data),
        "size": stat.st_size,
        "mtime": stat.st_mtime_ns,
        "generator": GENERATOR_VERSION,
    }
    if INPUT.exists() and INPUT_META.exists():
        meta: dict[str, Any] = json.loads(INPUT_META.read_text())
        if meta.get("key") == key:
            meta["cached"] = True
            return meta
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = load_base(data)
    table, facts = generate(base, n)
    tmp = INPUT.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP)
    tmp.replace(INPUT)
    seconds = round(time.perf_counter() - t0, 2)
    meta = {"key": key, "base_companies": base.num_rows, "seconds": seconds, **facts}
    INPUT_META.write_text(json.dumps(meta, indent=1))
    meta["cached"] = False
    return meta


# ----------------------------------------------------------------------------- peers (child processes)


def run_thera(src: Path, out: Path) -> dict[str, float]:
    """thera as the refine stage runs it; step times come from wrapping silver's own functions."""
    steps: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    for attr, label in (
        ("normalize_domains", "normalize"),
        ("_reason_codes", "reasons"),
        ("_newest_mask", "dedupe"),
    ):
        setattr(thera_silver, attr, timed(label, getattr(thera_silver, attr)))
    t0 = time.perf_counter()
    bronze = thera_silver.read_bronze(src.read_bytes())
    t1 = time.perf_counter()
    result = thera_silver.transform(bronze, BRONZE_KEY, RULES)
    t2 = time.perf_counter()
    (out / "silver.parquet").write_bytes(to_parquet(result.silver))
    (out / "quarantine.parquet").write_bytes(to_parquet(result.quarantine))
    t3 = time.perf_counter()
    inner = steps.get("normalize", 0) + steps.get("reasons", 0) + steps.get("dedupe", 0)
    return {
        "read": t1 - t0,
        "normalize": steps.get("normalize", 0.0),
        "reasons": steps.get("reasons", 0.0),
        "filter+assemble": t2 - t1 - inner,
        "dedupe": steps.get("dedupe", 0.0),
        "write": t3 - t2,
    }


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_sql(src: Path, out: Path) -> list[tuple[str, str]]:
    """silver.py's rules in SQL: same regexes, same reason precedence, same newest-per-domain."""
    ws = " || ".join(f"chr({ord(c)})" for c in WHITESPACE)
    primary, website = f"trim(primary_domain, {ws})", f"trim(website_url, {ws})"
    source = f"CASE WHEN coalesce(length({primary}), 0) > 0 THEN {primary} ELSE {website} END"
    domain = f"nullif(rtrim(regexp_extract(lower({source}), {_sql_str(_HOST)}, 1), '.'), '')"
    valid = f"regexp_matches(domain, {_sql_str(_VALID_DOMAIN)}) AND length(domain) <= 253"
    rules = {  # reason -> (fails, detail)
        "malformed_field": ("coalesce(len(issues), 0) > 0", "array_to_string(issues, '; ')"),
        "missing_name": ("coalesce(length(trim(name, " + ws + ")), 0) = 0", "NULL"),
        "missing_domain": ("domain IS NULL", "website_url"),
        "invalid_domain": (f"NOT coalesce({valid}, false)", "domain"),
        "implausible_team_size": (
            f"coalesce(employees < 1 OR employees > {RULES.max_team_size}, false)",
            "CAST(employees AS VARCHAR)",
        ),
        "implausible_founded_year": (
            f"coalesce(founded_year < {RULES.min_founded_year} OR founded_year > year(pulled_at) + 1, false)",
            "CAST(founded_year AS VARCHAR)",
        ),
    }
    reason = "CASE " + " ".join(f"WHEN {rules[r][0]} THEN '{r}'" for r in REASONS) + " END"
    detail = "CASE reason " + " ".join(f"WHEN '{r}' THEN {rules[r][1]}" for r in REASONS) + " END"
    bronze_cols = ", ".join(f.name for f in schemas.BRONZE)
    lineage = ", ".join(f.name for f in schemas.LINEAGE_FIELDS)
    key = _sql_str(BRONZE_KEY)
    options = f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {ZSTD_LEVEL})"
    return [
        (
            "classify",
            f"""
            CREATE TEMP TABLE classified AS
            WITH normalized AS (
                SELECT *, {domain} AS domain FROM read_parquet({_sql_str(str(src))}, file_row_number = true))
            SELECT *, {detail} AS detail FROM (SELECT *, {reason} AS reason FROM normalized)""",
        ),
        (
            "quarantine",
            f"""
            COPY (SELECT reason, detail, {key} AS bronze_key, {bronze_cols}
                  FROM classified WHERE reason IS NOT NULL)
            TO {_sql_str(str(out / "quarantine.parquet"))} {options}""",
        ),
        (
            "dedupe+silver",
            f"""
            COPY (SELECT domain, trim(name, {ws}) AS name, website_url, description, industries, keywords,
                         city, state, country, employees AS team_size, founded_year, apollo_id, linkedin_url, phone,
                         {lineage}, {key} AS bronze_key
                  FROM classified WHERE reason IS NULL
                  QUALIFY row_number() OVER (PARTITION BY domain ORDER BY pulled_at DESC, source_page DESC,
                                             source_position DESC, file_row_number DESC) = 1)
            TO {_sql_str(str(out / "silver.parquet"))} {options}""",
        ),
    ]


def run_duckdb(src: Path, out: Path) -> dict[str, float]:
    """The same transform as DuckDB SQL, Parquet in and out, default settings (``--threads`` pins its threads)."""
    import duckdb

    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    con = duckdb.connect()
    if threads := os.environ.get(THREADS_ENV):
        con.execute(f"SET threads = {int(threads)}")
    for name, sql in duckdb_sql(src, out):
        t = time.perf_counter()
        con.execute(sql)
        steps[name] = time.perf_counter() - t
    con.close()
    steps["connect+close"] = time.perf_counter() - t0 - sum(steps.values())
    return steps


def run_polars(src: Path, out: Path) -> dict[str, float]:
    """The same transform in polars' eager API, written as a polars user would for speed.

    Like thera, the reason texts and details are built for the quarantined rows alone and the
    newest row per domain is chosen on small columns before the one wide filter.
    """
    import polars as pl

    def host(column: str) -> pl.Expr:
        value = pl.col(column).str.strip_chars(WHITESPACE).str.to_lowercase()
        found = value.str.extract(_HOST, 1).str.strip_chars_end(".")
        return pl.when(found.str.len_bytes() > 0).then(found)

    domain, team, year, issues = pl.col("domain"), pl.col("employees"), pl.col("founded_year"), pl.col("issues")
    breaks = [  # in the order of REASONS
        issues.list.len().fill_null(0) > 0,
        pl.col("name").str.strip_chars(WHITESPACE).str.len_chars().fill_null(0) == 0,
        domain.is_null(),
        domain.is_not_null() & ~(domain.str.contains(_VALID_DOMAIN) & (domain.str.len_chars() <= 253)).fill_null(False),
        ((team < 1) | (team > RULES.max_team_size)).fill_null(False),
        ((year < RULES.min_founded_year) | (year > pl.col("pulled_at").dt.year().cast(pl.Int64) + 1)).fill_null(False),
    ]
    details = [
        issues.list.join("; ", ignore_nulls=False),
        pl.lit(None, pl.String),
        pl.col("website_url"),
        domain,
        team.cast(pl.String),
        year.cast(pl.String),
    ]
    code: Any = pl.when(breaks[0]).then(pl.lit(0, pl.Int8))
    for i, fails in enumerate(breaks[1:], start=1):
        code = code.when(fails).then(pl.lit(i, pl.Int8))
    detail: Any = pl.when(pl.col("code") == 0).then(details[0])
    for i, text in enumerate(details[1:], start=1):
        detail = detail.when(pl.col("code") == i).then(text)
    key = pl.lit(BRONZE_KEY)

    t0 = time.perf_counter()
    df = pl.read_parquet(src)
    t1 = time.perf_counter()
    df = df.with_columns(domain=pl.coalesce(host("primary_domain"), host("website_url")))
    df = df.with_columns(code=code).with_row_index("row")
    t2 = time.perf_counter()
    quarantine = df.filter(pl.col("code").is_not_null()).select(
        pl.col("code").replace_strict(dict(enumerate(REASONS)), return_dtype=pl.String).alias("reason"),
        detail.alias("detail"),
        key.alias("bronze_key"),
        *[f.name for f in schemas.BRONZE],
    )
    t3 = time.perf_counter()
    order = ["pulled_at", "source_page", "source_position", "row"]
    good = df.filter(pl.col("code").is_null())
    newest = good.select("domain", *order).sort(order).unique("domain", keep="last")["row"]
    silver = good.filter(pl.col("row").is_in(newest.implode())).select(
        "domain",
        pl.col("name").str.strip_chars(WHITESPACE),
        team.alias("team_size"),
        *[f.name for f in schemas.CARRIED_FIELDS],
        *[f.name for f in schemas.LINEAGE_FIELDS],
        key.alias("bronze_key"),
    )
    t4 = time.perf_counter()
    quarantine.write_parquet(out / "quarantine.parquet", compression="zstd", compression_level=ZSTD_LEVEL)
    silver.write_parquet(out / "silver.parquet", compression="zstd", compression_level=ZSTD_LEVEL)
    t5 = time.perf_counter()
    return {"read": t1 - t0, "classify": t2 - t1, "quarantine": t3 - t2, "dedupe+silver": t4 - t3, "write": t5 - t4}


def run_python(src: Path, out: Path) -> dict[str, float]:
    """The same transform as a per-row loop over dicts: the baseline pyarrow compute replaces."""
    host_re, valid_re = re.compile(_HOST), re.compile(_VALID_DOMAIN)
    year_max = datetime.now(UTC).year + 1
    t0 = time.perf_counter()
    rows = pq.ParquetFile(src).read().to_pylist()
    t1 = time.perf_counter()
    quarantine: list[dict[str, Any]] = []
    newest: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
    for n, row in enumerate(rows):
        primary = (row["primary_domain"] or "").strip()
        source = primary or (row["website_url"].strip() if row["website_url"] is not None else None)
        match = host_re.match(source.lower()) if source is not None else None
        domain = (match.group("host").rstrip(".") or None) if match else None
        name = (row["name"] or "").strip()
        team, year = row["employees"], row["founded_year"]
        if row["issues"]:
            reason, detail = "malformed_field", "; ".join(row["issues"])
        elif not name:
            reason, detail = "missing_name", None
        elif domain is None:
            reason, detail = "missing_domain", row["website_url"]
        elif not (valid_re.fullmatch(domain) and len(domain) <= 253):
            reason, detail = "invalid_domain", domain
        elif team is not None and not 1 <= team <= RULES.max_team_size:
            reason, detail = "implausible_team_size", str(team)
        elif year is not None and not RULES.min_founded_year <= year <= year_max:
            reason, detail = "implausible_founded_year", str(year)
        else:
            order = (row["pulled_at"], row["source_page"], row["source_position"], n)
            held = newest.get(domain)
            if held is None or order > held[0]:
                newest[domain] = (
                    order,
                    {
                        "domain": domain,
                        "name": name,
                        "website_url": row["website_url"],
                        "description": row["description"],
                        "industries": row["industries"],
                        "keywords": row["keywords"],
                        "city": row["city"],
                        "state": row["state"],
                        "country": row["country"],
                        "team_size": team,
                        "founded_year": year,
                        "apollo_id": row["apollo_id"],
                        "linkedin_url": row["linkedin_url"],
                        "phone": row["phone"],
                        **{f.name: row[f.name] for f in schemas.LINEAGE_FIELDS},
                        "bronze_key": BRONZE_KEY,
                    },
                )
            continue
        quarantine.append({"reason": reason, "detail": detail, "bronze_key": BRONZE_KEY, **row})
    silver = [record for _, record in sorted(newest.values(), key=lambda held: held[0][3])]
    t2 = time.perf_counter()
    pq.write_table(
        pa.Table.from_pylist(silver, schema=schemas.SILVER_COMPANIES), out / "silver.parquet", compression="zstd"
    )
    pq.write_table(
        pa.Table.from_pylist(quarantine, schema=schemas.QUARANTINE_COMPANIES),
        out / "quarantine.parquet",
        compression="zstd",
    )
    return {"read": t1 - t0, "loop": t2 - t1, "write": time.perf_counter() - t2}


RUNNERS: dict[str, Callable[[Path, Path], dict[str, float]]] = {
    "thera": run_thera,
    "duckdb": run_duckdb,
    "polars": run_polars,
    "python": run_python,
}
THREADS_ENV = "THERA_BENCH_THREADS"  # set by --threads for the children


def _threads(peer: str) -> int:
    """The threads the peer's engine will use (after ``--threads`` took effect)."""
    if peer == "duckdb":
        import duckdb

        row = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
        return int(os.environ.get(THREADS_ENV) or (row[0] if row else 0))
    if peer == "polars":
        import polars as pl

        return int(pl.thread_pool_size())
    return int(pa.cpu_count())  # thera, and pyarrow's Parquet reader and writer in the python peer


def child(peer: str, src: Path, out: Path) -> None:
    """One peer in this fresh process: time file in → files out, report rows/s and own peak RSS."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.parquet"):
        old.unlink()
    rows = pq.ParquetFile(src).metadata.num_rows
    if threads := os.environ.get(THREADS_ENV):
        pa.set_cpu_count(int(threads))
    threads_used = _threads(peer)  # also imports duckdb or polars before the clock starts, like pyarrow is
    c0, t0 = own_cpu_seconds(), time.perf_counter()
    steps = RUNNERS[peer](src, out)
    seconds, cpu = time.perf_counter() - t0, own_cpu_seconds() - c0
    peak = peak_rss_mb()
    detail = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
    print(
        f"  {PEERS[peer]}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s, "
        f"{cpu:.2f} CPU s on {threads_used} thread(s), peak RSS {peak:,.0f} MB  [{detail}]",
        flush=True,
    )
    result = {"seconds": seconds, "cpu": cpu, "threads": threads_used, "peak_mb": peak, "steps": steps}
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- parent
def spawn(peer: str, src: Path, threads: int | None) -> dict[str, Any] | None:
    out = OUT / peer
    env = dict(os.environ)
    if threads:
        env[THREADS_ENV] = env["POLARS_MAX_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, __file__, "--peer", peer, "--input", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    result: dict[str, Any] | None = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
        else:
            print(line)
    if result is None:
        print(f"  {PEERS[peer]}: FAILED (exit {proc.returncode})\n{proc.stderr.strip()}")
        return None
    if proc.returncode != 0:  # e.g. pyarrow's abort at exit after reading from io.BytesIO (apache/arrow#33975)
        last = proc.stderr.strip().splitlines()[-1:] or [""]
        print(f"    (exited {proc.returncode} after reporting its result: {last[0]})")
    silver = pq.ParquetFile(out / "silver.parquet").metadata.num_rows
    reasons = pq.ParquetFile(out / "quarantine.parquet").read(columns=["reason"])["reason"].value_counts()
    result["silver"] = silver
    result["silver_mib"] = (out / "silver.parquet").stat().st_size / 2**20
    result["quarantine"] = {r["values"]: r["counts"] for r in reasons.to_pylist()}
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by time, with the largest peak RSS seen."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {
        **ordered[(len(ordered) - 1) // 2],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
    }


def compare(peer: str) -> str:
    """Row-level agreement with thera: same winners in silver, same rows and reasons in quarantine."""
    import duckdb

    ids = "domain, name, team_size, sweep, source_page, source_position"
    q_ids = "reason, detail, sweep, source_page, source_position"
    found = []
    con = duckdb.connect()
    for name, cols in (("silver", ids), ("quarantine", q_ids)):
        a, b = (_sql_str(str(OUT / p / f"{name}.parquet")) for p in ("thera", peer))
        only = "(SELECT count(*) FROM (SELECT {c} FROM {x} EXCEPT ALL SELECT {c} FROM {y}))"
        sql = f"SELECT {only.format(c=cols, x=a, y=b)} + {only.format(c=cols, x=b, y=a)}"
        diff = con.execute(sql).fetchall()[0][0]
        found.append(f"{name} rows differing: {diff:,}")
    return "; ".join(found)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=None, help="companies JSONL (yc_companies.jsonl format)")
    parser.add_argument("--with-python", action="store_true", help="also run the slow per-row Python peer")
    parser.add_argument("--repeat", type=int, default=1, help="runs per peer, interleaved; the table shows medians")
    parser.add_argument("--threads", type=int, default=None, help="pin every peer to this many threads")
    parser.add_argument("--peer", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        child(args.peer, args.input, args.out)
        return

    import duckdb
    import polars as pl

    started = time.perf_counter()
    data: Path = args.data or default_data()
    print_header(f"pyarrow {pa.__version__}, duckdb {duckdb.__version__}, polars {pl.__version__}")
    print(f"data:    {data}")

    meta = ensure_input(data, args.rows)
    size = INPUT.stat().st_size / 2**20
    how = "cached" if meta["cached"] else f"generated in {meta['seconds']:.1f} s"
    print(
        f"input:   {os.path.relpath(INPUT)} ({args.rows:,} rows, {size:,.1f} MiB, row groups of {ROW_GROUP:,}; {how})"
    )
    injected = ", ".join(f"{r} {c:,}" for r, c in meta["invalid_injected"].items())
    print(
        f"         from {meta['base_companies']:,} companies: "
        f"{meta['duplicate_rows']:,} duplicate-domain rows, "
        f"{meta['noisy_domains']:,} noisy domain spellings,"
    )
    print(
        f"         {meta['no_domain_in_source']:,} rows of companies with no domain in the source; "
        f"invalid rows injected: {injected}"
    )
    print()

    peers = ["thera", "duckdb", "polars"] + (["python"] if args.with_python else [])
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
    for _ in range(max(1, args.repeat)):  # interleaved, so a noisy neighbour hurts every peer alike
        for p in peers:
            if (got := spawn(p, INPUT, args.threads)) is not None:
                runs[p].append(got)
    done = {p: summarize(r) for p, r in runs.items() if r}

    print()
    if args.repeat > 1:
        print(f"median of {args.repeat} runs per peer (peak MB: the largest)")
    width = 26
    print(f"{'':{width}}" + "".join(f"{PEERS[p]:>18}" for p in done))
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("seconds", lambda r: f"{r['seconds']:.2f}"),
        ("rows/s", lambda r: f"{args.rows / r['seconds']:,.0f}"),
        ("vs thera (rows/s)", lambda r: f"{done['thera']['seconds'] / r['seconds']:.2f}x" if "thera" in done else "-"),
        ("threads", lambda r: f"{r['threads']}"),
        ("CPU s (user+sys)", lambda r: f"{r['cpu']:.2f}"),
        ("peak MB", lambda r: f"{r['peak_mb']:,.0f}"),
        ("silver file MiB", lambda r: f"{r['silver_mib']:,.1f}"),
        ("silver rows", lambda r: f"{r['silver']:,}"),
        ("duplicates dropped", lambda r: f"{args.rows - sum(r['quarantine'].values()) - r['silver']:,}"),
        ("quarantined rows", lambda r: f"{sum(r['quarantine'].values()):,}"),
    ]

    def count(reason: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: f"{r['quarantine'].get(reason, 0):,}"

    lines += [(f"  {reason}", count(reason)) for reason in REASONS]
    for label, cell in lines:
        print(f"{label:{width}}" + "".join(f"{cell(r):>18}" for r in done.values()))

    print()
    base = done.get("thera")
    for peer, r in done.items():
        if peer == "thera" or base is None:
            continue
        same_silver = "equal" if r["silver"] == base["silver"] else "DIFFERENT"
        same_quarantine = "equal" if r["quarantine"] == base["quarantine"] else "DIFFERENT"
        print(
            f"cross-check {PEERS[peer]} vs thera: silver row count {same_silver}, "
            f"quarantine counts by reason {same_quarantine}"
        )
        print(f"  same rows? {compare(peer)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"total wall time {time.perf_counter() - started:.1f} s; load average at the end {load}")


if __name__ == "__main__":
    main()
