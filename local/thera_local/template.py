"""Reads template.yaml for the local runtime: resources, functions, their events and environment.

Only what the local runtime needs is resolved: Ref, Fn::GetAtt, Fn::Sub, Fn::Join and
Fn::Select over parameters, pseudo parameters and the physical ids this runtime gives
each resource. Anything else raises, so a template change the runtime cannot follow
is noticed instead of silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
STACK_NAME = "thera-local"  # the local stack's name in the emulator's CloudFormation
# resource type -> (service, resource prefix) of its ARN: arn:aws:<service>:<region>:<account>:<prefix><name>
ARNS = {
    "AWS::SQS::Queue": ("sqs", ""),
    "AWS::DynamoDB::Table": ("dynamodb", "table/"),
    "AWS::SecretsManager::Secret": ("secretsmanager", "secret:"),
    "AWS::SNS::Topic": ("sns", ""),
    "AWS::Serverless::Function": ("lambda", "function:"),
}


class TemplateError(ValueError):
    pass


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short in ("Ref", "Condition"):
    _CfnLoader.add_constructor(f"!{_short}", _tag(_short))
for _fn in (
    "GetAtt",
    "Sub",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Cidr",
):
    _CfnLoader.add_constructor(f"!{_fn}", _tag(f"Fn::{_fn}"))


def load_yaml(path: Path) -> dict[str, Any]:
    return parse_yaml(path.read_text(), str(path))


def parse_yaml(text: str, source: str = "the text") -> dict[str, Any]:
    doc = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict):
        raise TemplateError(f"{source} is not a template")
    return doc


@dataclass
class SqsEvent:
    name: str
    queue: str  # logical id
    batch_size: int
    batching_window: float
    max_concurrency: int | None
    report_failures: bool


@dataclass
class ScheduleEvent:
    name: str
    expression: str
    timezone: str
    input: str | None


@dataclass(frozen=True)
class HttpRoute:
    name: str
    method: str
    path: str


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    sqs_events: list[SqsEvent] = field(default_factory=list)
    schedules: list[ScheduleEvent] = field(default_factory=list)
    http_routes: list[HttpRoute] = field(default_factory=list)

    @property
    def handler_file(self) -> Path:
        module, _ = self.handler.rsplit(".", 1)
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_attr(self) -> str:
        return self.handler.rsplit(".", 1)[1]


class Template:
    """A resolved view of template.yaml for one set of parameter values."""

    def __init__(self, path: Path, overrides: dict[str, str] | None = None) -> None:
        self.path = path
        self.root = path.parent
        self.doc = load_yaml(path)
        self.resources: dict[str, dict[str, Any]] = self.doc.get("Resources", {})
        self.params: dict[str, str] = {}
        for name, spec in self.doc.get("Parameters", {}).items():
            if "Default" in spec:
                self.params[name] = str(spec["Default"])
        for name, value in (overrides or {}).items():
            if name not in self.doc.get("Parameters", {}):
                raise TemplateError(f"unknown parameter override {name}")
            self.params[name] = value
        self.conditions = {name: self._holds(spec) for name, spec in self.doc.get("Conditions", {}).items()}
        # a resource whose condition is false is not created, as CloudFormation leaves it out
        self.resources = {k: v for k, v in self.resources.items() if self.conditions.get(v.get("Condition"), True)}
        self._physical: dict[str, str] = {}
        for logical, res in self.resources.items():
            self._physical[logical] = self._physical_id(logical, res)

    def _holds(self, spec: Any) -> bool:
        """A condition of the Conditions section: Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition."""
        ((key, arg),) = spec.items()
        if key == "Fn::Equals":
            return bool(str(self.resolve(arg[0])) == str(self.resolve(arg[1])))
        if key == "Fn::Not":
            return not self._holds(arg[0])
        if key == "Fn::And":
            return all(self._holds(a) for a in arg)
        if key == "Fn::Or":
            return any(self._holds(a) for a in arg)
        if key == "Condition":
            return self._holds(self.doc["Conditions"][arg])
        raise TemplateError(f"{key} in a condition is not supported by the local runtime")

    # ------------------------------------------------------------ physical ids
    def _physical_id(self, logical: str, res: dict[str, Any]) -> str:
        props = res.get("Properties", {})
        kind = res["Type"]
        name_prop = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Serverless::StateMachine": "Name",
            "AWS::SNS::Topic": "TopicName",
            "AWS::Logs::LogGroup": "LogGroupName",
        }.get(kind)
        if name_prop and name_prop in props and "LogGroup" not in kind:
            return str(self.resolve(props[name_prop]))
        return f"thera-local-{logical}"

    def physical(self, logical: str) -> str:
        return self._physical[logical]

    def set_physical(self, logical: str, physical: str) -> None:
        """The id the emulator gave a resource the runtime created itself (a user pool's generated id)."""
        self._physical[logical] = physical

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == kind}

    def queue_url(self, logical: str, endpoint: str) -> str:
        return f"{endpoint}/{ACCOUNT_ID}/{self.physical(logical)}"

    def arn(self, logical: str) -> str:
        kind = self.resources[logical]["Type"]
        name = self.physical(logical)
        if kind == "AWS::S3::Bucket":  # bucket ARNs hold no region and no account
            return f"arn:{PARTITION}:s3:::{name}"
        if kind not in ARNS:
            return f"arn:{PARTITION}:local:{REGION}:{ACCOUNT_ID}:{logical}"
        service, resource = ARNS[kind]
        return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT_ID}:{resource}{name}"

    # ------------------------------------------------------------ intrinsics
    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK_NAME,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.resources:
            kind = self.resources[name]["Type"]
            if kind == "AWS::SNS::Topic":
                return self.arn(name)
            if kind == "AWS::SQS::Queue":
                return self.queue_url(name, "{sqs_endpoint}")
            return self.physical(name)
        raise TemplateError(f"Ref to unknown name {name!r}")

    def _getatt(self, logical: str, attr: str) -> str:
        if logical not in self.resources:
            raise TemplateError(f"GetAtt on unknown resource {logical!r}")
        if attr == "Arn":
            return self.arn(logical)
        if attr in ("QueueName", "TopicName"):
            return self.physical(logical)
        if attr == "QueueUrl":
            return self.queue_url(logical, "{sqs_endpoint}")
        raise TemplateError(f"GetAtt {logical}.{attr} is not supported by the local runtime")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self._getatt(str(parts[0]), str(parts[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(i)) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.conditions[str(name)] else otherwise)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"{key} is not supported by the local runtime")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, extra = str(arg[0]), {k: str(self.resolve(v)) for k, v in arg[1].items()}
        else:
            text, extra = str(arg), {}

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return extra[name]
            if "." in name:
                logical, attr = name.split(".", 1)
                return self._getatt(logical, attr)
            return self._ref(name)

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    # ------------------------------------------------------------ functions
    def functions(self) -> dict[str, FunctionSpec]:
        glob = self.doc.get("Globals", {}).get("Function", {})
        base_env = glob.get("Environment", {}).get("Variables", {})
        out: dict[str, FunctionSpec] = {}
        for logical, res in self.of_type("AWS::Serverless::Function").items():
            props = res.get("Properties", {})
            if "InlineCode" in props:  # a custom resource's handler: provisioning does its work locally
                continue
            env = {**base_env, **props.get("Environment", {}).get("Variables", {})}
            spec = FunctionSpec(
                logical_id=logical,
                name=self.physical(logical),
                code_dir=self.root / str(props["CodeUri"]),
                handler=str(props["Handler"]),
                timeout=int(self.resolve(props.get("Timeout", glob.get("Timeout", 3)))),
                memory=int(self.resolve(props.get("MemorySize", glob.get("MemorySize", 128)))),
                environment={k: str(self.resolve(v)) for k, v in env.items()},
            )
            for ev_name, ev in props.get("Events", {}).items():
                ev_props = ev.get("Properties", {})
                if ev["Type"] == "SQS":
                    queue_arn = ev_props["Queue"]
                    if not (isinstance(queue_arn, dict) and "Fn::GetAtt" in queue_arn):
                        raise TemplateError(f"{logical}.{ev_name}: Queue must be !GetAtt <Queue>.Arn")
                    queue_logical = queue_arn["Fn::GetAtt"][0]
                    scaling = ev_props.get("ScalingConfig", {})
                    spec.sqs_events.append(
                        SqsEvent(
                            name=ev_name,
                            queue=str(queue_logical),
                            batch_size=int(self.resolve(ev_props.get("BatchSize", 10))),
                            batching_window=float(self.resolve(ev_props.get("MaximumBatchingWindowInSeconds", 0))),
                            max_concurrency=(
                                int(self.resolve(scaling["MaximumConcurrency"]))
                                if "MaximumConcurrency" in scaling
                                else None
                            ),
                            report_failures="ReportBatchItemFailures" in ev_props.get("FunctionResponseTypes", []),
                        )
                    )
                elif ev["Type"] == "HttpApi":
                    spec.http_routes.append(
                        HttpRoute(ev_name, str(ev_props.get("Method", "ANY")).upper(), str(ev_props.get("Path", "/")))
                    )
                elif ev["Type"] == "ScheduleV2":
                    spec.schedules.append(
                        ScheduleEvent(
                            name=ev_name,
                            expression=str(self.resolve(ev_props["ScheduleExpression"])),
                            timezone=str(self.resolve(ev_props.get("ScheduleExpressionTimezone", "UTC"))),
                            input=self.resolve(ev_props.get("Input")),
                        )
                    )
            out[logical] = spec
        return out
