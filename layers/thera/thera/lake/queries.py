"""Named queries over the lake's tables (``thera.lake.catalog``): reports, and checks that fail when they return a row.

Each is written once, in SQL that Athena (Trino) and DuckDB both run: ``count_if``, ``cardinality``,
``sequence`` (which the local engine defines as ``generate_series``), casts to double before dividing.
"""

from __future__ import annotations

from dataclasses import dataclass

QUARANTINE_SHARE = 0.10  # more of a day's pulled rows quarantined than this: the source or the refiner changed
NO_PASS_AFTER = 20  # a day that checked at least this many domains and passed none: the checker, not the web


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str
    failing_means: str = ""  # a check: any row it returns is a failure, and this says what that means

    @property
    def is_check(self) -> bool:
        return bool(self.failing_means)


def _counts(table: str, what: str = "count(*)") -> str:
    return f"SELECT dt, {what} AS n FROM {table} GROUP BY dt"


QUERIES = (
    NamedQuery(
        "rows_per_layer_and_day",
        "Rows each layer holds per business day.",
        "\nUNION ALL\n".join(
            f"SELECT dt, '{t}' AS layer, count(*) AS row_count FROM {t} GROUP BY dt"
            for t in (
                "bronze_companies",
                "silver_companies",
                "quarantine_companies",
                "domain_health",
                "crawled_pages",
                "gold_profiles",
                "embeddings",
            )
        )
        + "\nORDER BY dt, layer",
    ),
    NamedQuery(
        "daily_funnel",
        "Per day: companies pulled, refined, quarantined, checked, passing, crawled, profiled and embedded.",
        f"""WITH pulled AS ({_counts("bronze_companies")}),
refined AS ({_counts("silver_companies")}),
quarantined AS ({_counts("quarantine_companies")}),
health AS (SELECT dt, count(*) AS checked, count_if(passed) AS passed FROM domain_health GROUP BY dt),
crawled AS ({_counts("crawled_pages", "count(DISTINCT domain)")}),
profiled AS ({_counts("gold_profiles", "count(DISTINCT domain)")}),
embedded AS ({_counts("embeddings", "count(DISTINCT domain)")}),
days AS (
  SELECT dt FROM pulled UNION SELECT dt FROM refined UNION SELECT dt FROM health
  UNION SELECT dt FROM profiled UNION SELECT dt FROM embedded
)
SELECT d.dt, coalesce(p.n, 0) AS pulled, coalesce(r.n, 0) AS silver, coalesce(q.n, 0) AS quarantined,
  coalesce(h.checked, 0) AS health_checked, coalesce(h.passed, 0) AS health_passed, coalesce(c.n, 0) AS crawled,
  coalesce(g.n, 0) AS profiles, coalesce(e.n, 0) AS embedded
FROM days d
LEFT JOIN pulled p ON p.dt = d.dt
LEFT JOIN refined r ON r.dt = d.dt
LEFT JOIN quarantined q ON q.dt = d.dt
LEFT JOIN health h ON h.dt = d.dt
LEFT JOIN crawled c ON c.dt = d.dt
LEFT JOIN profiled g ON g.dt = d.dt
LEFT JOIN embedded e ON e.dt = d.dt
ORDER BY d.dt""",
    ),
    NamedQuery(
        "quarantine_reasons_per_day",
        "Why rows were quarantined, per day.",
        "SELECT dt, reason, count(*) AS row_count FROM quarantine_companies GROUP BY dt, reason "
        "ORDER BY dt, row_count DESC, reason",
    ),
    NamedQuery(
        "health_score_distribution",
        "Domains per band of ten health points, and how many of them passed, per day.",
        "SELECT dt, cast(floor(score / 10.0) * 10 AS integer) AS score_from, count(*) AS domains, "
        "count_if(passed) AS passed FROM domain_health GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    NamedQuery(
        "ams_trend",
        "The Average Match Score per day, over the challenges with decisions.",
        "SELECT dt, count(*) AS challenges, round(avg(ams), 4) AS mean_ams, sum(matches) AS matches, "
        "sum(accepted) AS accepted, sum(rejected) AS rejected FROM ams GROUP BY dt ORDER BY dt",
    ),
    NamedQuery(
        "shortlists_with_feedback",
        "Every shortlisted startup with the decision taken on it, if any.",
        """SELECT s.dt AS shortlisted_on, s.challenge_id, s.model_version, s.matches[i].rank AS rank,
  s.matches[i].domain AS domain, round(s.matches[i].score, 4) AS score, f.decision, f.at AS decided_at
FROM (SELECT * FROM shortlists WHERE cardinality(matches) > 0) s
CROSS JOIN UNNEST(sequence(1, cardinality(s.matches))) AS t(i)
LEFT JOIN feedback f ON f.challenge_id = s.challenge_id AND f.domain = s.matches[i].domain
ORDER BY s.dt, s.challenge_id, rank""",
    ),
    NamedQuery(
        "model_runs",
        "Each weekly training run's models: validation PR-AUC, train/validation gap, labels used.",
        "SELECT dt, run_id, model, kind, role, validation_pr_auc, validation_roc_auc, gap, labels "
        "FROM model_metrics ORDER BY dt, run_id, role, model",
    ),
    NamedQuery(
        "check_bronze_accounted",
        "Every day's pulled rows land in silver or quarantine.",
        f"""WITH pulled AS ({_counts("bronze_companies")}),
landed AS (
  SELECT dt, count(*) AS n FROM (
    SELECT dt FROM silver_companies UNION ALL SELECT dt FROM quarantine_companies
  ) rows_landed GROUP BY dt
)
SELECT p.dt, p.n AS pulled, coalesce(l.n, 0) AS landed FROM pulled p LEFT JOIN landed l ON l.dt = p.dt
WHERE coalesce(l.n, 0) = 0 OR l.n > p.n
ORDER BY p.dt""",
        failing_means="a day's bronze was not refined (its messages wait or sit in a DLQ), or rows came from nowhere",
    ),
    NamedQuery(
        "check_required_columns",
        "Share of nulls in each column the stages require.",
        "SELECT table_name, column_name, row_count, nulls, round(cast(nulls AS double) / row_count, 4) AS null_share\n"
        "FROM (\n"
        + "\nUNION ALL\n".join(
            f"  SELECT '{t}' AS table_name, '{c}' AS column_name, count(*) AS row_count, "
            f"count_if({c} IS NULL) AS nulls FROM {t}"
            for t, c in (
                ("silver_companies", "domain"),
                ("silver_companies", "name"),
                ("silver_companies", "bronze_key"),
                ("domain_health", "domain"),
                ("domain_health", "score"),
                ("domain_health", "passed"),
                ("crawled_pages", "domain"),
                ("crawled_pages", "url"),
                ("gold_profiles", "domain"),
                ("gold_profiles", "name"),
                ("gold_profiles", "embedding_text"),
                ("gold_profiles", "text_hash"),
                ("embeddings", "domain"),
                ("embeddings", "vector"),
            )
        )
        + "\n) counted\nWHERE nulls > 0\nORDER BY table_name, column_name",
        failing_means="a stage wrote a row without a value it must have: a bug in that stage, not bad input",
    ),
    NamedQuery(
        "check_duplicate_domains_silver",
        "Each silver object holds a domain once (a domain on two pages of a day is in both; readers keep the newest).",
        "SELECT dt, bronze_key, domain, count(*) AS copies FROM silver_companies GROUP BY dt, bronze_key, domain "
        "HAVING count(*) > 1 ORDER BY dt, bronze_key, domain",
        failing_means="deduplication failed: a startup would be profiled, embedded and matched twice",
    ),
    NamedQuery(
        "check_quarantine_share",
        f"At most {QUARANTINE_SHARE:.0%} of a day's pulled rows are quarantined.",
        f"""WITH pulled AS ({_counts("bronze_companies")}),
quarantined AS ({_counts("quarantine_companies")})
SELECT p.dt, p.n AS pulled, q.n AS quarantined, round(cast(q.n AS double) / p.n, 4) AS share
FROM pulled p JOIN quarantined q ON q.dt = p.dt
WHERE cast(q.n AS double) / p.n > {QUARANTINE_SHARE}
ORDER BY p.dt""",
        failing_means="the source's data changed or got worse (quarantine_reasons_per_day says how)",
    ),
    NamedQuery(
        "check_health_scores",
        "Health scores lie in 0-100, and a day with many checks has some that pass.",
        f"""SELECT dt, 'score outside 0-100' AS problem, count(*) AS domains FROM domain_health
WHERE score < 0 OR score > 100 GROUP BY dt
UNION ALL
SELECT dt, 'no domain passed' AS problem, count(*) AS domains FROM domain_health
GROUP BY dt HAVING count(*) >= {NO_PASS_AFTER} AND count_if(passed) = 0
ORDER BY dt, problem""",
        failing_means="the health checker is broken or cut off (DNS, network), so nothing was crawled that day",
    ),
    NamedQuery(
        "check_profiles_without_embeddings",
        "Every profile's latest text has a vector.",
        """WITH latest AS (SELECT domain, max(version) AS version FROM gold_profiles GROUP BY domain)
SELECT g.dt, g.domain, g.text_hash
FROM gold_profiles g
JOIN latest l ON l.domain = g.domain AND l.version = g.version
LEFT JOIN (SELECT DISTINCT domain, text_hash FROM embeddings) e ON e.domain = g.domain AND e.text_hash = g.text_hash
WHERE e.domain IS NULL
ORDER BY g.dt, g.domain""",
        failing_means="the matcher cannot find these startups: embedding parked (budget) or failed (EmbedDLQ)",
    ),
)
BY_NAME = {q.name: q for q in QUERIES}
CHECKS = tuple(q for q in QUERIES if q.is_check)
