"""What the rehearsal expects of a deployed stack and how it judges one: pure, no I/O.

The plans come from samconfig.toml, the expectations from the SAM-transformed template, the
verdicts from CloudFormation's resource summaries and events.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_ENVS = ("default", "prod")
FALLBACK_MARK = "is not supported but was deployed as a fallback"


class RehearsalError(Exception):
    """A step failed; the message is the one line the user sees."""


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value Other="a b"` (samconfig's parameter_overrides) as a dict."""
    values: dict[str, str] = {}
    for token in shlex.split(text):
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise RehearsalError(f"parameter override {token!r} is not Key=Value")
        values[key] = value
    return values


@dataclass(frozen=True)
class StackPlan:
    config_env: str
    stack_name: str
    parameters: dict[str, str]
    overridden: bool = False  # parameters differ from samconfig's: sam deploy is given them all

    def with_parameters(self, **extra: str) -> StackPlan:
        return StackPlan(self.config_env, self.stack_name, {**self.parameters, **extra}, overridden=True)

    @property
    def api_auth(self) -> str:
        return self.parameters.get("ApiAuth", "IAM")


def stack_plan(samconfig: Mapping[str, Any], config_env: str) -> StackPlan:
    """The stack name and parameter overrides `sam deploy --config-env ENV` would use."""
    env = samconfig.get(config_env)
    if not isinstance(env, Mapping):
        raise RehearsalError(f"samconfig.toml has no [{config_env}] environment")
    deploy = env.get("deploy", {}).get("parameters", {})
    merged = {**env.get("global", {}).get("parameters", {}), **deploy}
    name = merged.get("stack_name")
    if not name:
        raise RehearsalError(f"samconfig.toml [{config_env}] names no stack_name")
    overrides = merged.get("parameter_overrides", "")
    if isinstance(overrides, list):
        overrides = " ".join(overrides)
    return StackPlan(config_env, str(name), parse_overrides(str(overrides)))


def expected_resources(transformed: Mapping[str, Any]) -> tuple[dict[str, str], set[str]]:
    """Logical ID -> type of every resource of a transformed template, and those under a Condition."""
    resources = transformed.get("Resources", {})
    types = {logical: str(res.get("Type", "")) for logical, res in resources.items()}
    conditional = {logical for logical, res in resources.items() if "Condition" in res}
    return types, conditional


def _alarm_metrics(resources: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every metric an alarm of the template watches: its own, and those of its metric-math queries."""
    found: list[Mapping[str, Any]] = []
    for res in resources.values():
        if res.get("Type") == "AWS::CloudWatch::Alarm":
            props = res.get("Properties", {})
            found.append(props)
            found += [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
    return found


def _watched(metrics: list[Mapping[str, Any]], name: str, dimension: str, value: Any) -> bool:
    return any(
        m.get("MetricName") == name and {"Name": dimension, "Value": value} in m.get("Dimensions", []) for m in metrics
    )


def monitoring_gaps(transformed: Mapping[str, Any]) -> list[str]:
    """What issue 20 asks of a stack and its transformed template lacks: a duration alarm per function, a
    throttling alarm per table, a dead-letter queue per schedule with an alarm on its depth. A stack that
    holds every resource of a template without gaps holds them all."""
    resources = transformed.get("Resources", {})
    metrics = _alarm_metrics(resources)
    gaps = []
    for logical, res in sorted(resources.items()):
        kind = res.get("Type")
        if "Condition" in res:
            continue
        if kind == "AWS::Lambda::Function" and not _watched(metrics, "Duration", "FunctionName", {"Ref": logical}):
            gaps.append(f"{logical} has no duration alarm")
        elif kind == "AWS::DynamoDB::Table" and not _watched(
            metrics, "WriteThrottleEvents", "TableName", {"Ref": logical}
        ):
            gaps.append(f"{logical} has no throttling alarm")
        elif kind == "AWS::Scheduler::Schedule":
            arn = res.get("Properties", {}).get("Target", {}).get("DeadLetterConfig", {}).get("Arn")
            queue = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, Mapping) else None
            if resources.get(queue, {}).get("Type") != "AWS::SQS::Queue":
                gaps.append(f"{logical} has no dead-letter queue")
            elif not _watched(
                metrics, "ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}
            ):
                gaps.append(f"{logical}'s dead-letter queue {queue} has no depth alarm")
    return gaps


@dataclass
class Comparison:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_type: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_type or self.incomplete)

    def describe(self) -> str:
        parts = []
        for label, items in (
            ("missing", self.missing),
            ("not in the template", self.unexpected),
            ("of another type", self.wrong_type),
            ("not CREATE_COMPLETE", self.incomplete),
        ):
            if items:
                parts.append(f"{len(items)} {label}: {', '.join(items[:5])}{' …' if len(items) > 5 else ''}")
        return "; ".join(parts)


def compare_resources(
    expected: Mapping[str, str], conditional: set[str], deployed: Iterable[Mapping[str, Any]]
) -> Comparison:
    """Expected (logical ID -> type) against a stack's resource summaries."""
    result = Comparison()
    seen: dict[str, Mapping[str, Any]] = {r["LogicalResourceId"]: r for r in deployed}
    for logical, rtype in sorted(expected.items()):
        summary = seen.get(logical)
        if summary is None:
            if logical not in conditional:
                result.missing.append(logical)
            continue
        if summary.get("ResourceType") != rtype:
            result.wrong_type.append(f"{logical} ({summary.get('ResourceType')}, expected {rtype})")
        if summary.get("ResourceStatus") != "CREATE_COMPLETE":
            result.incomplete.append(f"{logical} ({summary.get('ResourceStatus')})")
    result.unexpected = sorted(set(seen) - set(expected))
    return result


def fallback_resources(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(logical ID, type) of the resources LocalStack only pretended to create."""
    return sorted(
        {
            (e["LogicalResourceId"], e["ResourceType"])
            for e in events
            if FALLBACK_MARK in (e.get("ResourceStatusReason") or "")
        }
    )


def faked_lines(faked: Iterable[tuple[str, str]]) -> list[str]:
    """One line per faked type: its resource alone, or how many and which (the lake's tables and queries are many)."""
    by_type: dict[str, list[str]] = {}
    for logical, rtype in sorted(set(faked)):
        by_type.setdefault(rtype, []).append(logical)
    return [
        f"{names[0]} ({rtype})" if len(names) == 1 else f"{len(names)} {rtype}: {', '.join(names)}"
        for rtype, names in sorted(by_type.items())
    ]


def fallback_types_in_log(lines: Iterable[str]) -> list[str]:
    """Resource types LocalStack's log says it has no provider for (`No resource provider found for "T"`)."""
    mark = 'No resource provider found for "'
    found = set()
    for line in lines:
        start = line.find(mark)
        if start >= 0:
            rest = line[start + len(mark) :]
            found.add(rest.split('"', 1)[0])
    return sorted(found)


def first_failure(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The earliest resource failure of a stack's events (describe_stack_events lists newest first)."""
    failures = [
        e
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("_FAILED")
        and e.get("ResourceType") != "AWS::CloudFormation::Stack"
    ]
    if not failures:
        return None
    e = min(failures, key=lambda ev: ev["Timestamp"])
    reason = " ".join(str(e.get("ResourceStatusReason") or "no reason given").split())
    return f"{e['LogicalResourceId']} ({e['ResourceType']}) {e['ResourceStatus']}: {reason}"


def find_java_home(java_home_env: str | None, java_on_path: str | None) -> Path:
    """JAVA_HOME if it holds bin/java, else the JDK that `java` on PATH belongs to."""
    if java_home_env and (Path(java_home_env) / "bin" / "java").exists():
        return Path(java_home_env)
    if java_on_path:
        return Path(java_on_path).resolve().parent.parent
    raise RehearsalError("no Java found (JAVA_HOME unset, no java on PATH): install a JDK 17 or newer")


# ---------------------------------------------------------------------------------- the API's sign-in

# With ApiAuth=Cognito only the explorer page and how it signs in answer without a token.
OPEN_ROUTES = frozenset({"GET /", "GET /config"})


@dataclass(frozen=True)
class ApiAuthState:
    """What the deployed stack's services say about the matcher API's authorization."""

    routes: dict[str, tuple[str, str | None]]  # route key -> (authorization type, authorizer id)
    authorizers: dict[str, Mapping[str, Any]]  # authorizer id -> GetAuthorizer's answer
    explorer_url: str | None  # the MatcherApiUrl output
    pool: Mapping[str, Any] | None = None  # DescribeUserPool's UserPool
    client: Mapping[str, Any] | None = None  # DescribeUserPoolClient's UserPoolClient
    domain: Mapping[str, Any] | None = None  # DescribeUserPoolDomain's DomainDescription


def api_auth_problems(mode: str, state: ApiAuthState, region: str) -> list[str]:
    """What is wrong with the API's sign-in for ApiAuth=``mode``: empty when every route is guarded as meant."""
    if not state.routes:
        return ["the matcher API has no routes"]
    if mode == "IAM":
        routes = sorted(state.routes.items())
        problems = [f"{key} is {kind}, not AWS_IAM" for key, (kind, _) in routes if kind != "AWS_IAM"]
        if state.authorizers or state.pool:
            problems.append("ApiAuth=IAM yet the stack has a JWT authorizer or a user pool")
        return problems
    pool, client = state.pool, state.client
    if pool is None or client is None or not state.domain:
        return ["ApiAuth=Cognito yet the user pool, its explorer client or its hosted UI domain is missing"]
    problems = []
    if not pool.get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly"):
        problems.append("the user pool lets people sign themselves up")
    if pool.get("Policies", {}).get("PasswordPolicy", {}).get("MinimumLength", 0) < 12:
        problems.append("the user pool accepts passwords under 12 characters")
    if client.get("ClientSecret") or client.get("AllowedOAuthFlows") != ["code"]:
        problems.append("the explorer client is not a public authorization-code client")
    if state.explorer_url is None or client.get("CallbackURLs") != [state.explorer_url]:
        problems.append(f"the explorer client's callback URLs {client.get('CallbackURLs')} are not the explorer's URL")
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool.get('Id')}"
    for key, (kind, authorizer) in sorted(state.routes.items()):
        if key in OPEN_ROUTES:
            if kind != "NONE":
                problems.append(f"{key} wants {kind}: the page cannot sign in before it loads")
            continue
        config = state.authorizers.get(authorizer or "", {})
        jwt = config.get("JwtConfiguration", {})
        if kind != "JWT" or config.get("AuthorizerType") != "JWT":
            problems.append(f"{key} is {kind}, not JWT")
        elif jwt.get("Issuer") != issuer or jwt.get("Audience") != [client.get("ClientId")]:
            trusted = f"{jwt.get('Issuer')} for {jwt.get('Audience')}"
            problems.append(f"{key}'s authorizer trusts {trusted}, not this pool's client")
    return problems


def api_auth_summary(mode: str, state: ApiAuthState) -> str:
    guarded = sum(1 for kind, _ in state.routes.values() if kind != "NONE")
    if mode == "IAM":
        return f"ApiAuth=IAM: all {guarded} routes want SigV4 (AWS_IAM)"
    pool = state.pool.get("Name") if state.pool else "?"
    return (
        f"ApiAuth=Cognito: user pool {pool}, hosted UI domain, explorer client "
        f"(code grant, callback = the explorer's URL); JWT authorizer of that pool and client on {guarded} routes, "
        f"{len(state.routes) - guarded} open ({', '.join(sorted(OPEN_ROUTES))})"
    )


# ---------------------------------------------------------------------------------------- the lake's SQL


@dataclass(frozen=True)
class LakeState:
    """The stack's Glue database and Athena workgroup as Glue and Athena describe them."""

    database: str
    tables: dict[str, Mapping[str, Any]]  # name -> GetTables' Table
    work_group: Mapping[str, Any]  # GetWorkGroup's WorkGroup
    named_queries: dict[str, Mapping[str, Any]]  # name -> GetNamedQuery's NamedQuery


def declared_lake(transformed: Mapping[str, Any]) -> tuple[dict[str, list[tuple[str, str]]], set[str]]:
    """Each Glue table the template declares with its (column, type) list, and the named queries' names."""
    tables, queries = {}, set()
    for res in transformed.get("Resources", {}).values():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Glue::Table":
            table = props["TableInput"]
            tables[table["Name"]] = _columns(table)
        elif res.get("Type") == "AWS::Athena::NamedQuery":
            queries.add(props["Name"])
    return tables, queries


def _columns(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    columns = table.get("StorageDescriptor", {}).get("Columns", []) + table.get("PartitionKeys", [])
    return [(c["Name"], c["Type"]) for c in columns]


def lake_problems(
    declared: tuple[dict[str, list[tuple[str, str]]], set[str]], state: LakeState, bucket: str
) -> list[str]:
    """What the deployed catalog and workgroup lack of what the template declares: empty when Athena could query it."""
    tables, queries = declared
    problems = [f"table {name} is missing" for name in sorted(set(tables) - set(state.tables))]
    for name, table in sorted(state.tables.items()):
        if name not in tables:
            problems.append(f"table {name} is not in the template")
            continue
        if _columns(table) != tables[name]:
            problems.append(f"table {name} has columns {_columns(table)}, not the template's")
        params = table.get("Parameters", {})
        location = table.get("StorageDescriptor", {}).get("Location", "")
        if params.get("projection.enabled") != "true" or not str(
            params.get("storage.location.template", "")
        ).startswith(f"s3://{bucket}/"):
            problems.append(f"table {name} has no partition projection over the lake bucket")
        if not location.startswith(f"s3://{bucket}/"):
            problems.append(f"table {name} lies at {location}, outside the lake bucket {bucket}")
    config = state.work_group.get("Configuration", {})
    results = config.get("ResultConfiguration", {})
    if not config.get("EnforceWorkGroupConfiguration") or not config.get("BytesScannedCutoffPerQuery"):
        problems.append("the workgroup does not enforce its settings with a bytes-scanned cutoff")
    if (
        results.get("EncryptionConfiguration", {}).get("EncryptionOption") != "SSE_KMS"
        or results.get("OutputLocation") != f"s3://{bucket}/athena-results/"
    ):
        problems.append(f"the workgroup's results are not SSE_KMS under s3://{bucket}/athena-results/")
    missing = sorted(queries - set(state.named_queries))
    if missing:
        problems.append(f"{len(missing)} named queries missing: {', '.join(missing[:5])}")
    elsewhere = sorted(n for n, q in state.named_queries.items() if q.get("Database") != state.database)
    if elsewhere:
        problems.append(f"named queries on another database: {', '.join(elsewhere[:5])}")
    return problems


def lake_summary(state: LakeState) -> str:
    cutoff = state.work_group.get("Configuration", {}).get("BytesScannedCutoffPerQuery", 0)
    return (
        f"Glue database {state.database} with {len(state.tables)} tables (columns and partition projection as "
        f"declared), workgroup {state.work_group.get('Name')} (cutoff {cutoff:,} bytes, SSE_KMS results), "
        f"{len(state.named_queries)} named queries"
    )
