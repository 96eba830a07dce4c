"""Invariants of template.yaml that every later stage relies on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOT
from thera.kernel.config import LOCAL_AWS_ENDPOINT_URL, AwsSettings
from thera.kernel.lease import lease_key
from thera_local.template import Template

TEMPLATE = Template(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.functions()


def props(logical: str) -> dict[str, Any]:
    return dict(TEMPLATE.resources[logical].get("Properties", {}))


@pytest.mark.parametrize("spec", [f for f in FUNCTIONS.values() if f.sqs_events], ids=lambda f: f.logical_id)
def test_every_sqs_consumer_reports_partial_failures_and_its_queue_has_dlq_and_long_enough_visibility(
    spec: Any,
) -> None:
    for event in spec.sqs_events:
        assert event.report_failures, f"{spec.logical_id}.{event.name} lacks ReportBatchItemFailures"
        queue = props(event.queue)
        assert int(queue["VisibilityTimeout"]) >= 6 * spec.timeout
        redrive = queue["RedrivePolicy"]
        assert int(redrive["maxReceiveCount"]) >= 5
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert TEMPLATE.resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_apollo_pull_runs_daily_at_one_in_sao_paulo() -> None:
    (schedule,) = FUNCTIONS["ApolloPullFunction"].schedules
    assert schedule.expression == "cron(0 1 * * ? *)"
    assert schedule.timezone == "America/Sao_Paulo"
    assert props("ApolloPullFunction")["Events"]["DailyPull"]["Type"] == "ScheduleV2"


def test_apollo_key_comes_from_secrets_manager_never_a_literal() -> None:
    env = props("ApolloPullFunction")["Environment"]["Variables"]
    assert env["APOLLO_SECRET_ID"] == {"Ref": "ApolloApiKeySecret"}
    secret = props("ApolloApiKeySecret")
    assert "SecretString" not in secret
    assert not any("api_key" in k.lower() for k in env if k != "APOLLO_SECRET_ID")


def test_buckets_are_encrypted_private_and_tls_only() -> None:
    for logical, res in TEMPLATE.of_type("AWS::S3::Bucket").items():
        p = res["Properties"]
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(p["PublicAccessBlockConfiguration"].values())
        policies = [
            r
            for r in TEMPLATE.of_type("AWS::S3::BucketPolicy").values()
            if r["Properties"]["Bucket"] == {"Ref": logical}
        ]
        statements = [s for pol in policies for s in pol["Properties"]["PolicyDocument"]["Statement"]]
        assert any(
            s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in statements
        )


def test_tables_have_ttl_and_encryption() -> None:
    for res in TEMPLATE.of_type("AWS::DynamoDB::Table").values():
        p = res["Properties"]
        assert p["TimeToLiveSpecification"]["Enabled"] is True
        assert p["SSESpecification"]["SSEEnabled"] is True


# the tables that hold people's decisions (saved shortlists and who accepted or rejected what); the
# lake's feedback/ and shortlists/ logs are kept by its lifecycle (tests/unit/test_alarms.py)
DECISION_TABLES = ("ShortlistsTable",)


@pytest.mark.parametrize("logical", DECISION_TABLES)
def test_a_table_of_decisions_outlives_a_stack_delete_and_a_replacement(logical: str) -> None:
    table = TEMPLATE.resources[logical]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    assert props(logical)["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_matcher_writes_no_table_of_decisions_but_those_kept() -> None:
    """A new table the matcher writes (where decisions go) must be named in DECISION_TABLES, and so kept."""
    written = {
        r["Fn::GetAtt"][0]
        for policy in TEMPLATE.resources["MatcherFunction"]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
        for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
        if isinstance(r, dict)
        and "Fn::GetAtt" in r
        and TEMPLATE.resources.get(r["Fn::GetAtt"][0], {}).get("Type") == "AWS::DynamoDB::Table"
        and any(
            a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem") for a in statement["Action"]
        )
    }
    assert written == set(DECISION_TABLES)


def test_pyarrow_ships_in_its_own_layer_only() -> None:
    core = (ROOT / "layers" / "thera" / "requirements.txt").read_text()
    assert "pyarrow" not in core
    assert "pyarrow" in (ROOT / "layers" / "pyarrow" / "requirements.txt").read_text()


def test_lake_notifications_feed_each_stage_its_own_prefix() -> None:
    configs = props("DataLakeBucket")["NotificationConfiguration"]["QueueConfigurations"]
    wired = {
        config["Queue"]["Fn::GetAtt"][0]: {r["Name"]: r["Value"] for r in config["Filter"]["S3Key"]["Rules"]}
        for config in configs
    }
    assert wired == {
        "BronzeQueue": {"prefix": "bronze/companies/", "suffix": ".parquet"},
        "ProfileQueue": {"prefix": "silver/firecrawl/", "suffix": ".parquet"},
        "EmbedQueue": {"prefix": "gold/profiles/", "suffix": ".parquet"},
    }
    allowed = {
        queue["Fn::GetAtt"][0]
        for res in TEMPLATE.of_type("AWS::SQS::QueuePolicy").values()
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
        for queue in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    }
    assert set(wired) <= allowed  # S3 may send to every notified queue


def _stage(logical_id: str) -> str:
    name = logical_id.removesuffix("Function")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _task_functions() -> dict[str, str]:
    """Functions the state machine invokes, by the DefinitionSubstitutions name of their ARN."""
    out = {}
    for machine in TEMPLATE.of_type("AWS::Serverless::StateMachine").values():
        for name, value in machine["Properties"].get("DefinitionSubstitutions", {}).items():
            if isinstance(value, dict) and value.get("Fn::GetAtt", [""])[0] in FUNCTIONS:
                out[name] = value["Fn::GetAtt"][0]
    return out


@pytest.mark.parametrize("spec", list(FUNCTIONS.values()), ids=lambda f: f.logical_id)
def test_every_function_and_trigger_has_a_sample_event(spec: Any) -> None:
    """One file per queue event, schedule, HTTP API route and state machine task (`sam local invoke -e`)."""
    names = {p.name for p in (ROOT / "events").glob("*.json")}
    stage = _stage(spec.logical_id)
    if spec.sqs_events:
        assert f"{stage}_sqs.json" in names
    if spec.schedules:
        assert f"{stage}_schedule.json" in names
    for route in spec.http_routes:
        name = f"{stage}_http_{_snake(route.name)}.json"
        assert name in names, f"{spec.logical_id} route {route.method} {route.path} has no events/{name}"
    if spec.logical_id in _task_functions().values():
        assert any(n.startswith(f"{stage}_task") for n in names), f"{spec.logical_id} has no events/{stage}_task*.json"
    assert any(n.startswith(f"{stage}_") for n in names), f"{spec.logical_id} has no sample event at all"


def test_each_http_sample_is_an_http_api_v2_request_for_its_route_on_the_stage() -> None:
    import json

    stage = TEMPLATE.params["Stage"]
    for spec in FUNCTIONS.values():
        for route in spec.http_routes:
            event = json.loads(
                (ROOT / "events" / f"{_stage(spec.logical_id)}_http_{_snake(route.name)}.json").read_text()
            )
            key = f"{route.method} {route.path}"
            context = event["requestContext"]
            assert event["version"] == "2.0" and event["routeKey"] == context["routeKey"] == key
            assert context["stage"] == stage and context["http"]["method"] == route.method
            path = route.path.format_map(event.get("pathParameters") or {})  # /shortlists/{id} with its sample id
            assert event["rawPath"] == context["http"]["path"] == f"/{stage}{path}"  # a named stage prefixes it
            assert ("body" in event) == (route.method == "POST")


def test_each_task_sample_carries_what_the_state_machine_passes_that_task() -> None:
    """The keys of a task's sample event are the Parameters its Task states give it (the ``.$`` dropped)."""
    import json

    machine = next(iter(TEMPLATE.of_type("AWS::Serverless::StateMachine").values()))
    asl = json.loads((ROOT / machine["Properties"]["DefinitionUri"]).read_text())
    passed: dict[str, list[set[str]]] = {}

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            for branch in state.get("Branches", []):
                walk(branch["States"])
            resource = str(state.get("Resource", ""))
            if state["Type"] == "Task" and resource.startswith("${"):
                logical = _task_functions()[resource[2:-1]]
                passed.setdefault(logical, []).append({k.removesuffix(".$") for k in state["Parameters"]})

    walk(asl["States"])
    assert set(passed) == set(_task_functions().values())
    for logical, shapes in passed.items():
        samples = sorted((ROOT / "events").glob(f"{_stage(logical)}_task*.json"))
        keys = [set(json.loads(p.read_text())) for p in samples]
        assert sorted(map(sorted, keys)) == sorted(map(sorted, shapes)), logical  # one sample per Task state


def test_read_models_keep_versions_and_expire() -> None:
    for logical in ("PublicStartupsTable", "PrivateStartupsTable"):
        p = props(logical)
        assert p["KeySchema"] == [{"AttributeName": "domain", "KeyType": "HASH"}]
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert p["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def test_only_the_publisher_writes_the_read_models_and_it_cannot_read_them() -> None:
    writers: dict[str, set[str]] = {}
    for logical, res in TEMPLATE.of_type("AWS::Serverless::Function").items():
        for policy in res["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for r in resources:
                    if isinstance(r, dict) and r.get("Fn::GetAtt", [""])[0] in {
                        "PublicStartupsTable",
                        "PrivateStartupsTable",
                    }:
                        writers.setdefault(logical, set()).update(
                            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                        )
    assert writers == {"PublisherFunction": {"dynamodb:PutItem"}}


def test_the_weekly_training_is_the_only_state_machine_and_every_substitution_is_provided() -> None:
    import re

    (logical,) = TEMPLATE.of_type("AWS::Serverless::StateMachine")
    machine = props(logical)
    asl = (ROOT / machine["DefinitionUri"]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", asl)) == set(machine["DefinitionSubstitutions"])
    (event,) = machine["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert TEMPLATE.resolve(event["Properties"]["ScheduleExpression"]) == "cron(0 3 ? * MON *)"
    assert TEMPLATE.resolve(event["Properties"]["ScheduleExpressionTimezone"]) == "America/Sao_Paulo"
    assert not list(TEMPLATE.of_type("AWS::StepFunctions::StateMachine"))


def test_scikit_learn_ships_only_with_the_train_function() -> None:
    with_sklearn = [
        name
        for name, f in TEMPLATE.of_type("AWS::Serverless::Function").items()
        if {"Ref": "SklearnLayer"} in f["Properties"].get("Layers", [])
    ]
    assert with_sklearn == ["TrainFunction"]


@pytest.mark.parametrize(
    ("stage", "also", "absent"),
    [
        ("matcher", "", {"sklearn", "scipy", "aiohttp", "matplotlib"}),
        ("index_builder", "", {"sklearn", "scipy", "aiohttp", "matplotlib"}),
        ("weekly_training", "", {"pyarrow", "aiohttp", "sklearn", "scipy", "matplotlib"}),  # build set, promote
        ("weekly_training", "thera.training.trainers", {"pyarrow", "aiohttp", "matplotlib"}),  # train
        ("weekly_training", "thera.training.report", {"pyarrow", "aiohttp", "sklearn", "scipy"}),  # evaluate
        ("apollo_pull", "", {"numpy", "sklearn", "scipy", "matplotlib"}),
        ("ams", "", {"numpy", "sklearn", "scipy", "matplotlib"}),
    ],
)
def test_each_handler_loads_with_only_the_packages_its_layers_hold(stage: str, also: str, absent: set[str]) -> None:
    """A fresh interpreter in which the packages its layers lack cannot be imported loads the handler (and,
    for the training steps, what their task imports): an optional import may be tried, a hard one fails."""
    import subprocess
    import sys

    extra = f"import {also}" if also else ""
    code = (
        "import sys, importlib.abc, importlib.util\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {sorted(absent)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not in this function s layers)')\n"
        "sys.meta_path.insert(0, Absent())\n"
        f"spec = importlib.util.spec_from_file_location('app', '{ROOT}/functions/{stage}/app.py')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"{extra}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _alarms_on(metric: str) -> list[dict[str, Any]]:
    out = []
    for res in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        p = res["Properties"]
        names = [p.get("MetricName")] + [
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in p.get("Metrics", [])
        ]
        if metric in names:
            out.append(p)
    return out


def _dimension_refs(alarm: dict[str, Any]) -> set[str]:
    dims = list(alarm.get("Dimensions", []))
    for m in alarm.get("Metrics", []):
        dims += m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    refs = set()
    for d in dims:
        value = d["Value"]
        refs.add(value.get("Ref") or value.get("Fn::GetAtt", [""])[0])
    return refs


def test_every_dlq_function_and_source_queue_has_an_alarm_that_notifies() -> None:
    dlqs = {q for q in TEMPLATE.of_type("AWS::SQS::Queue") if q.endswith("DLQ")}
    depth_alarmed = set().union(*(_dimension_refs(a) for a in _alarms_on("ApproximateNumberOfMessagesVisible")))
    assert dlqs <= depth_alarmed
    assert set(FUNCTIONS) <= set().union(*(_dimension_refs(a) for a in _alarms_on("Errors")))
    sources = {q for q in TEMPLATE.of_type("AWS::SQS::Queue") if not q.endswith("DLQ")}
    assert sources <= set().union(*(_dimension_refs(a) for a in _alarms_on("ApproximateAgeOfOldestMessage")))
    assert _alarms_on("BreakerOpenSeconds") and _alarms_on("ExecutionsFailed")
    for res in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        assert res["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_budget_notifies_at_80_90_and_100_percent() -> None:
    (budget,) = TEMPLATE.of_type("AWS::Budgets::Budget").values()
    notes = budget["Properties"]["NotificationsWithSubscribers"]
    assert sorted(n["Notification"]["Threshold"] for n in notes) == [80, 90, 100]
    subscriber = {"SubscriptionType": "SNS", "Address": {"Ref": "AlarmTopic"}}
    assert all(n["Subscribers"] == [subscriber] for n in notes)


def test_the_dashboard_is_valid_json_covering_every_function_queue_and_business_metric() -> None:
    import json
    import re

    (dashboard,) = TEMPLATE.of_type("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    refs = set(re.findall(r"\$\{([\w:.]+)\}", body))
    doc = json.loads(re.sub(r"\$\{[\w:.]+\}", "x", body))
    assert len(doc["widgets"]) >= 10
    assert set(FUNCTIONS) <= refs
    assert {f"{q}.QueueName" for q in TEMPLATE.of_type("AWS::SQS::Queue")} <= refs
    for metric in ("BreakerOpenSeconds", "ApolloQuotaLeft_day", "EmbeddingCostMicroUSD", "AverageMatchScore"):
        assert metric in body


def test_every_checkov_skip_says_why_and_data_at_rest_uses_the_customer_key() -> None:
    for logical, res in TEMPLATE.resources.items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) >= 40, f"{logical} skips {skip['id']} without a reason"
    for res in TEMPLATE.of_type("AWS::SQS::Queue").values():
        assert res["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    for res in TEMPLATE.of_type("AWS::DynamoDB::Table").values():
        assert res["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}
    for res in TEMPLATE.of_type("AWS::Logs::LogGroup").values():
        assert res["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert props("DataKey")["EnableKeyRotation"] is True


def _schedules() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for logical, res in TEMPLATE.resources.items():
        for name, event in res.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") == "ScheduleV2":
                found.append((logical, name, event["Properties"]))
    return found


def test_every_schedule_has_a_stage_scoped_name_so_two_stages_can_share_an_account() -> None:
    schedules = _schedules()
    assert len(schedules) == 5
    names = []
    for logical, event, p in schedules:
        name = p.get("Name")
        assert name, f"{logical}.{event} has no Name: SAM names it after the logical ID, the same in every stage"
        assert isinstance(name, dict) and "${Stage}" in name["Fn::Sub"], f"{logical}.{event}: {name!r}"
        names.append(name["Fn::Sub"])
    assert len(set(names)) == len(names)


def test_the_budget_waits_for_the_topic_policy_that_lets_budgets_publish() -> None:
    (logical,) = TEMPLATE.of_type("AWS::Budgets::Budget")
    depends = TEMPLATE.resources[logical].get("DependsOn", [])
    assert "AlarmTopicPolicy" in ([depends] if isinstance(depends, str) else depends)
    topic_policy = props("AlarmTopicPolicy")["PolicyDocument"]["Statement"]
    assert any("budgets.amazonaws.com" in s["Principal"]["Service"] for s in topic_policy)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _encrypted_queues() -> set[str]:
    return {q for q, r in TEMPLATE.of_type("AWS::SQS::Queue").items() if r["Properties"].get("KmsMasterKeyId")}


def test_no_kms_service_statement_relies_on_the_source_account_alone() -> None:
    """S3 -> encrypted queues and CloudWatch/Budgets -> encrypted topic are scoped by the encryption context
    each service sends (AWS documents no aws:SourceAccount on those KMS calls)."""
    statements = props("DataKey")["KeyPolicy"]["Statement"]
    by_service: dict[str, dict[str, Any]] = {}
    for s in statements:
        services = _as_list(s["Principal"].get("Service", []))
        for service in services:
            service_name = service if isinstance(service, str) else service["Fn::Sub"]
            by_service[service_name] = s
            conditions = {key for op in s.get("Condition", {}).values() for key in op}
            assert conditions - {"aws:SourceAccount", "aws:SourceArn"}, f"{service_name}: {s.get('Condition')}"
    s3 = by_service["s3.amazonaws.com"]["Condition"]
    queues = set(TEMPLATE.resolve(_as_list(s3["ArnEquals"]["kms:EncryptionContext:aws:sqs:arn"])))
    configs = props("DataLakeBucket")["NotificationConfiguration"]["QueueConfigurations"]
    notified = {c["Queue"]["Fn::GetAtt"][0] for c in configs}
    assert notified <= _encrypted_queues()
    assert queues == {TEMPLATE.arn(q) for q in notified}
    for service in ("cloudwatch.amazonaws.com", "budgets.amazonaws.com"):
        topics = TEMPLATE.resolve(
            _as_list(by_service[service]["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:sns:topicArn"])
        )
        assert topics == [TEMPLATE.arn("AlarmTopic")]


def test_every_notified_queue_has_its_own_policy_naming_only_its_own_arn() -> None:
    configs = props("DataLakeBucket")["NotificationConfiguration"]["QueueConfigurations"]
    notified = [c["Queue"]["Fn::GetAtt"][0] for c in configs]
    policies = {}
    for logical, res in TEMPLATE.of_type("AWS::SQS::QueuePolicy").items():
        (queue,) = res["Properties"]["Queues"]
        for statement in res["Properties"]["PolicyDocument"]["Statement"]:
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [queue["Ref"], "Arn"]}], logical
        policies[queue["Ref"]] = logical
    assert set(notified) <= set(policies)
    depends = _as_list(TEMPLATE.resources["DataLakeBucket"]["DependsOn"])
    assert sorted(depends) == sorted(policies[q] for q in notified)  # S3 validates every destination on create


def test_deployed_functions_call_aws_itself_the_local_endpoint_stays_empty() -> None:
    """LOCAL_AWS_ENDPOINT_URL reaches every function (sam local invoke passes only declared variables), and what
    a deploy gives it, the parameter's default (neither samconfig environment overrides it), names no endpoint."""
    assert TEMPLATE.doc["Parameters"]["LocalAwsEndpointUrl"]["Default"] == ""
    assert TEMPLATE.doc["Globals"]["Function"]["Environment"]["Variables"][LOCAL_AWS_ENDPOINT_URL] == {
        "Ref": "LocalAwsEndpointUrl"
    }
    assert "LocalAwsEndpointUrl" not in (ROOT / "samconfig.toml").read_text()
    for spec in FUNCTIONS.values():
        assert spec.environment[LOCAL_AWS_ENDPOINT_URL] == "", spec.logical_id
        assert AwsSettings.from_env(spec.environment).endpoint_url is None, spec.logical_id


def test_the_matcher_url_ends_with_a_slash_so_relative_calls_stay_inside_the_stage() -> None:
    url = TEMPLATE.doc["Outputs"]["MatcherApiUrl"]["Value"]["Fn::Sub"]
    assert url.endswith("/${Stage}/")


@pytest.mark.parametrize(
    "source",
    [q for q, r in TEMPLATE.of_type("AWS::SQS::Queue").items() if "RedrivePolicy" in r["Properties"]],
)
def test_every_dlq_keeps_messages_longer_than_its_source_queue(source: str) -> None:
    """SQS keeps a message's first enqueue time when it moves to the DLQ: a DLQ that keeps messages
    no longer than its source drops a late failure soon after it lands."""
    queue = props(source)
    dlq = props(queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
    assert int(dlq["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])
    assert int(dlq["MessageRetentionPeriod"]) <= 1209600  # SQS's maximum, 14 days


def test_no_function_reserves_concurrency_and_the_single_writers_hold_a_lease_instead() -> None:
    """Reserved concurrency fails to deploy on accounts with a small quota ("decreases account's
    UnreservedConcurrentExecution below its minimum value"); the pull and the index builder run alone
    under a lease in the state table, which they may read and update under their own key only."""
    from thera.stages.apollo_pull import PULL_JOB
    from thera.stages.index_builder import INDEX_JOB

    for logical, res in TEMPLATE.of_type("AWS::Serverless::Function").items():
        assert "ReservedConcurrentExecutions" not in res["Properties"], logical
    for logical, job in (("ApolloPullFunction", PULL_JOB), ("IndexBuilderFunction", INDEX_JOB)):
        assert props(logical)["Environment"]["Variables"]["STATE_TABLE"] == {"Ref": "StateTable"}
        statements = [s for p in props(logical)["Policies"] if isinstance(p, dict) for s in p.get("Statement", [])]
        (lease,) = [s for s in statements if s["Sid"] == "RunAloneUnderTheLease"]
        assert lease["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
        assert set(lease["Action"]) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
        assert lease["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == [lease_key(job)]


def _statements(logical: str) -> list[dict[str, Any]]:
    return [s for p in props(logical).get("Policies", []) if isinstance(p, dict) for s in p.get("Statement", [])]


def _refs(resource: Any) -> set[str]:
    """The logical ids a statement's Resource names (GetAtt X.Arn, Ref X, ${X.Arn}/... in a Sub)."""
    import re

    out = set()
    for r in _as_list(resource):
        if isinstance(r, dict) and "Fn::GetAtt" in r:
            out.add(r["Fn::GetAtt"][0])
        elif isinstance(r, dict) and "Ref" in r:
            out.add(r["Ref"])
        elif isinstance(r, dict) and "Fn::Sub" in r:
            out |= set(re.findall(r"\$\{(\w+)\.Arn\}", str(r["Fn::Sub"])))
    return out


def _dynamodb_calls(adapter: type) -> set[str]:
    """The DynamoDB actions an adapter class calls, read from its source (``self._ddb.get_item`` -> GetItem)."""
    import inspect
    import re

    source = inspect.getsource(adapter)
    ops = set(re.findall(r"self\._ddb\.(\w+)\(", source))
    ops |= {"batch_get_item"} if "_batch_get(" in source else set()
    ops |= {"batch_write_item"} if "_batch_put(" in source else set()
    return {"dynamodb:" + "".join(word.title() for word in op.split("_")) for op in ops}


def test_the_embeddings_and_profiles_tables_grant_exactly_what_their_adapters_call() -> None:
    from thera.adapters.aws import DynamoEmbeddingIndex, DynamoProfileRegistry

    for adapter, table in ((DynamoEmbeddingIndex, "EmbeddingsTable"), (DynamoProfileRegistry, "ProfilesTable")):
        granted = {
            action
            for logical in FUNCTIONS
            for s in _statements(logical)
            if table in _refs(s["Resource"])
            for action in _as_list(s["Action"])
        }
        assert granted == _dynamodb_calls(adapter), table


def test_only_the_matcher_touches_saved_shortlists_with_exactly_what_its_adapter_calls() -> None:
    from thera.adapters.aws import DynamoShortlistStore

    granted = {
        (logical, action)
        for logical in FUNCTIONS
        for s in _statements(logical)
        if "ShortlistsTable" in _refs(s["Resource"])
        for action in _as_list(s["Action"])
    }
    assert granted == {("MatcherFunction", a) for a in _dynamodb_calls(DynamoShortlistStore)}
    assert props("MatcherFunction")["Environment"]["Variables"]["SHORTLISTS_TABLE"] == {"Ref": "ShortlistsTable"}


def test_only_functions_that_write_encrypted_messages_may_generate_data_keys() -> None:
    """kms:GenerateDataKey is for SendMessage to an SSE-KMS queue (a stage handing work on, or Lambda
    putting a failed asynchronous invocation - the schedules - on the encrypted async-failures DLQ).
    Reading queues, secrets, the environment and DynamoDB tables needs kms:Decrypt at most."""
    encrypted = _encrypted_queues()
    dlq = TEMPLATE.doc["Globals"]["Function"]["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
    for logical in FUNCTIONS:
        statements = _statements(logical)
        sends = any("sqs:SendMessage" in _as_list(s["Action"]) and _refs(s["Resource"]) & encrypted for s in statements)
        asynchronous = any(e["Type"] == "ScheduleV2" for e in props(logical).get("Events", {}).values())
        on_key = {a for s in statements if _refs(s["Resource"]) == {"DataKey"} for a in _as_list(s["Action"])}
        assert "kms:Decrypt" in on_key, logical  # the environment is encrypted with the key
        needs = sends or (asynchronous and dlq in encrypted)
        assert ("kms:GenerateDataKey" in on_key) == needs, f"{logical}: {sorted(on_key)}, writes encrypted: {needs}"


LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def test_the_state_machine_logs_its_executions_to_an_encrypted_group_without_their_data() -> None:
    """Executions can be read in CloudWatch Logs; their inputs and outputs (which may carry company
    data) stay out of the logs."""
    (logical,) = TEMPLATE.of_type("AWS::Serverless::StateMachine")
    logging = props(logical)["Logging"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    p = props(group)
    assert TEMPLATE.resources[group]["Type"] == "AWS::Logs::LogGroup"
    assert p["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert p["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert TEMPLATE.resolve(p["LogGroupName"]).startswith("/aws/vendedlogs/states/")  # keeps the resource policy small
    granted = {a for s in _statements(logical) for a in _as_list(s["Action"])}
    assert granted >= LOG_DELIVERY_ACTIONS


def test_functions_run_python_3_13_and_layers_build_for_it_without_a_matching_interpreter() -> None:
    """python3.11 runs on Amazon Linux 2, past its end of life; the layers pick their wheels with pip's
    --platform/--python-version (layers/layer.mk), for the Architecture parameter's processor."""
    function_globals = TEMPLATE.doc["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == [{"Ref": "Architecture"}]
    assert TEMPLATE.doc["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    for logical in FUNCTIONS:
        assert "Runtime" not in props(logical) and "Architectures" not in props(logical), logical
    layers = TEMPLATE.of_type("AWS::Serverless::LayerVersion")
    assert layers
    for logical, res in layers.items():
        assert res["Properties"]["CompatibleRuntimes"] == ["python3.13"], logical
        assert res["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}], logical
        assert res["Metadata"]["BuildMethod"] == "makefile", logical
        makefile = (ROOT / res["Properties"]["ContentUri"] / "Makefile").read_text()
        assert f"build-{logical}:" in makefile and "layer.mk" in makefile, logical


# ---------------------------------------------------------------- the lake as SQL
def _lake_tables() -> dict[str, Any]:
    from thera.lake import catalog

    by_name = {r["Properties"]["TableInput"]["Name"]: r for r in TEMPLATE.of_type("AWS::Glue::Table").values()}
    assert set(by_name) == {t.name for t in catalog.TABLES}
    return {name: (catalog.BY_NAME[name], res) for name, res in by_name.items()}


def test_every_glue_table_projects_its_days_from_the_date_folders_under_its_catalog_prefix() -> None:
    """No partition is ever registered: Athena computes each day's folder, so a new day is queryable at once."""
    from thera.lake import catalog

    bucket = TEMPLATE.physical("DataLakeBucket")
    (database,) = TEMPLATE.of_type("AWS::Glue::Database")
    for name, (table, res) in _lake_tables().items():
        p = res["Properties"]
        assert p["DatabaseName"] == {"Ref": database}, name
        table_input = p["TableInput"]
        assert [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]] == [("dt", "string")], name
        params = TEMPLATE.resolve(table_input["Parameters"])
        assert params["projection.enabled"] == "true"
        assert params["projection.dt.type"] == "date"
        assert params["projection.dt.format"] == "yyyy-MM-dd"
        assert params["projection.dt.range"] == f"{catalog.PROJECTION_START},NOW"
        assert (params["projection.dt.interval"], params["projection.dt.interval.unit"]) == ("1", "DAYS")
        assert params["storage.location.template"] == f"s3://{bucket}/{table.prefix}date=${{dt}}/", name
        assert TEMPLATE.resolve(table_input["StorageDescriptor"]["Location"]) == f"s3://{bucket}/{table.prefix}"


def test_the_glue_database_and_workgroup_are_named_per_stage_so_two_stages_can_share_an_account() -> None:
    assert TEMPLATE.doc["Parameters"]["Stage"]["AllowedValues"] == ["dev", "prod"]
    (database,) = TEMPLATE.of_type("AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == {"Fn::Sub": "thera_${Stage}"}
    assert props("LakeWorkGroup")["Name"] == {"Fn::Sub": "thera-${Stage}"}
    for stage in ("dev", "prod"):
        name = Template(ROOT / "template.yaml", {"Stage": stage}).resolve(
            database["Properties"]["DatabaseInput"]["Name"]
        )
        assert name == f"thera_{stage}"  # Athena takes no hyphen in a database name unquoted


def test_the_workgroup_binds_every_query_to_a_scan_cutoff_and_encrypted_results_that_expire() -> None:
    (logical,) = TEMPLATE.of_type("AWS::Athena::WorkGroup")
    p = props(logical)
    assert p["RecursiveDeleteOption"] is True  # the stack can be deleted with named queries in it
    config = p["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    cutoff = TEMPLATE.doc["Parameters"][config["BytesScannedCutoffPerQuery"]["Ref"]]
    assert cutoff["MinValue"] >= 10_000_000 and cutoff["Default"] >= cutoff["MinValue"]
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert TEMPLATE.resolve(results["OutputLocation"]) == f"s3://{TEMPLATE.physical('DataLakeBucket')}/athena-results/"
    rules = {r["Id"]: r for r in props("DataLakeBucket")["LifecycleConfiguration"]["Rules"]}
    assert "expire-noncurrent-versions" in rules
    expiring = [r for r in rules.values() if r.get("Prefix") == "athena-results/" and r["Status"] == "Enabled"]
    assert len(expiring) == 1 and int(TEMPLATE.resolve(expiring[0]["ExpirationInDays"])) <= 30


def _analyst_statements() -> list[dict[str, Any]]:
    (policy,) = props("LakeAnalystRole")["Policies"]
    return [TEMPLATE.resolve(s) for s in policy["PolicyDocument"]["Statement"]]


def _granted(action: str) -> list[str]:
    """The resources the analyst role is granted ``action`` on."""
    return [r for s in _analyst_statements() if action in _as_list(s["Action"]) for r in _as_list(s["Resource"])]


def test_the_analyst_role_reads_the_catalogs_tables_but_not_raw_and_writes_only_query_results() -> None:
    from fnmatch import fnmatchcase

    from thera.kernel import keys
    from thera.lake import catalog

    lake = TEMPLATE.arn("DataLakeBucket")
    for s in _analyst_statements():
        assert s["Effect"] == "Allow"
        for action in _as_list(s["Action"]):
            assert "*" not in action, action
            if action.startswith("s3:") and not action.startswith(("s3:Get", "s3:List")):
                assert _as_list(s["Resource"]) == [f"{lake}/athena-results/*"], action  # the only writable prefix
        assert all(r != "*" for r in _as_list(s["Resource"]))
    readable = _granted("s3:GetObject")
    day = "date=2026-12-05/"

    def can_read(key: str) -> bool:
        return any(fnmatchcase(f"{lake}/{key}", r) for r in readable)

    for table in catalog.TABLES:
        assert can_read(f"{table.prefix}{day}deeper/part-0{table.suffix}"), table.name
    for prefix in (keys.RAW_APOLLO, keys.RAW_FIRECRAWL, keys.QUARANTINE_FIRECRAWL, "models/", ""):
        assert not can_read(f"{prefix}{day}x.json"), prefix
    (listing,) = [s for s in _analyst_statements() if "s3:ListBucket" in _as_list(s["Action"])]
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    assert sorted(prefixes) == sorted({f"{t.prefix}*" for t in catalog.TABLES} | {"athena-results/*"})
    (kms,) = [s for s in _analyst_statements() if any(a.startswith("kms:") for a in _as_list(s["Action"]))]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_the_analyst_role_queries_only_its_workgroup_and_database_and_is_assumed_from_this_account() -> None:
    statements = _analyst_statements()
    athena = {
        r for s in statements for a in _as_list(s["Action"]) if a.startswith("athena:") for r in _as_list(s["Resource"])
    }
    assert athena == {f"arn:aws:athena:us-east-1:123456789012:workgroup/{TEMPLATE.physical('LakeWorkGroup')}"}
    glue = {
        r for s in statements for a in _as_list(s["Action"]) if a.startswith("glue:") for r in _as_list(s["Resource"])
    }
    database = TEMPLATE.physical("LakeDatabase")
    prefix = "arn:aws:glue:us-east-1:123456789012:"
    assert glue == {f"{prefix}catalog", f"{prefix}database/{database}", f"{prefix}table/{database}/*"}
    assert all(
        a.split(":")[1].startswith(("Get", "List", "BatchGet", "Start", "Stop"))
        for s in statements
        for a in _as_list(s["Action"])
        if a.startswith(("athena:", "glue:"))
    )
    (trust,) = TEMPLATE.resolve(props("LakeAnalystRole")["AssumeRolePolicyDocument"]["Statement"])
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Action"] == "sts:AssumeRole"
    outputs = TEMPLATE.doc["Outputs"]
    assert outputs["LakeAnalystRoleArn"]["Value"] == {"Fn::GetAtt": ["LakeAnalystRole", "Arn"]}
    assert outputs["LakeWorkGroupName"]["Value"] == {"Ref": "LakeWorkGroup"}
    assert outputs["LakeDatabaseName"]["Value"] == {"Ref": "LakeDatabase"}
