"""The local stack as a CloudFormation stack in the emulator, so SAM CLI's stack commands work on it.

template.yaml is translated with samtranslator, as ``sam deploy`` has it translated before
CloudFormation sees it, and created as stack ``thera-local`` on moto's CloudFormation. The
functions, log groups, roles, layers, queues, tables, bucket, key and topic are the stack's
resources under the template's physical names: ``sam list resources --stack-name thera-local``
lists them and ``sam logs -n FUNCTION --stack-name thera-local`` finds a function's log group.

Left out of the stack, each for a reason:

- ``AWS::Lambda::EventSourceMapping``: moto would consume the queues itself (one message per
  invoke, ``batchItemFailures`` ignored, its stub Lambda swallowing the messages); the runtime's
  pollers are the mappings.
- the custom resource that sets the Cognito client's URLs (ApiAuth=Cognito), with its function and
  role: moto's CloudFormation has no Cognito resources (it passes over the pool, its domain and
  client, as over the HTTP API) and refuses the role's ``Fn::GetAtt`` of the pool;
  ``emulator.provision`` creates the pool and the client through moto's cognito-idp API and sets
  the URLs itself.
- ``AWS::S3::BucketPolicy``: moto enforces it, and the TLS-only policy would refuse every call
  over the emulator's plain-HTTP loopback endpoint.
- the bucket's ``NotificationConfiguration``: ``emulator.provision`` sets it after restoring saved
  objects, so that putting them back does not trigger the stages again.

What moto's CloudFormation does not create (secrets, queue policies, schedules, alarms, the HTTP
API, the budget) or drops (TTL, versioning, public access block) ``provision`` applies or the
runtime emulates. Function code goes to an artifacts bucket first, as ``sam package`` uploads it:
the source folders, not the build (nothing runs it: the runtime invokes the handlers itself).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import logging
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

from thera_local.template import PARTITION, REGION, STACK_NAME, Template, load_yaml

ARTIFACTS_BUCKET = "thera-local-artifacts"
LEFT_OUT = ("AWS::Lambda::EventSourceMapping", "AWS::S3::BucketPolicy")
COGNITO_CONDITION = "UseCognito"
_CODE_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


class _Unsupported(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No Moto CloudFormation support for ")


def quiet_left_out() -> None:
    """moto warns once per resource it does not create; the docstring above says which and why."""
    moto_log = logging.getLogger("moto")
    if not any(isinstance(f, _Unsupported) for f in moto_log.filters):
        moto_log.addFilter(_Unsupported())
    warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto's CloudFormation")


def translate(path: Path, cache: Path | None = None) -> dict[str, Any]:
    """template.yaml as CloudFormation, each local code folder as an object of the artifacts bucket.

    Translating takes about 2 s (samtranslator's import included), so the result is kept for the
    process and in ``cache`` (the stack's home) under the template's digest and samtranslator's
    version."""
    from importlib.metadata import version

    digest = hashlib.sha256(path.read_bytes() + version("aws-sam-translator").encode()).hexdigest()[:16]
    saved = cache / f"translated-{digest}.json" if cache else None
    if saved is not None and saved.exists():
        return dict(json.loads(saved.read_text()))
    doc = copy.deepcopy(_translated(path, digest))
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        for old in saved.parent.glob("translated-*.json"):
            old.unlink()
        saved.write_text(json.dumps(doc))
    return doc


@functools.cache
def _translated(path: Path, digest: str) -> dict[str, Any]:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    doc = load_yaml(path)
    for res in doc.get("Resources", {}).values():
        props = res.get("Properties", {})
        for name in _CODE_PROPERTIES:
            if isinstance(props.get(name), str) and not props[name].startswith("s3://"):
                props[name] = f"s3://{ARTIFACTS_BUCKET}/{props[name]}"

    session = boto3.session.Session(region_name=REGION)  # for the pseudo parameters only: no call is made
    translator = Translator(None, Parser(), boto_session=session)
    pseudo = {"AWS::Region": REGION, "AWS::Partition": PARTITION}
    # no managed-policy map: samtranslator then uses its bundled one for policy names
    return dict(translator.translate(doc, parameter_values=pseudo, get_managed_policy_map=dict))


def stack_template(template: Template, cache: Path | None = None) -> dict[str, Any]:
    """What the emulator's CloudFormation creates: the translation without what is left out."""
    doc = translate(template.path, cache)
    doc["Resources"] = {
        k: v
        for k, v in doc["Resources"].items()
        if v.get("Type") not in LEFT_OUT
        and not (v.get("Condition") == COGNITO_CONDITION and not str(v.get("Type")).startswith("AWS::Cognito::"))
    }
    for res in doc["Resources"].values():
        if res["Type"] == "AWS::S3::Bucket":
            res.get("Properties", {}).pop("NotificationConfiguration", None)
    return doc


def code_keys(doc: dict[str, Any]) -> set[str]:
    """The artifacts-bucket keys the stack's functions and layers read their code from."""
    keys = set()
    for res in doc["Resources"].values():
        props = res.get("Properties", {})
        location = props.get("Code") or props.get("Content")
        if isinstance(location, dict) and location.get("S3Bucket") == ARTIFACTS_BUCKET:
            keys.add(str(location["S3Key"]))
    return keys


def zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                zf.write(file, file.relative_to(folder).as_posix())
    return buf.getvalue()


def create_stack(template: Template, cloudformation: Any, s3: Any, cache: Path | None = None) -> dict[str, Any]:
    """Upload the code folders, then create the stack; its description once CREATE_COMPLETE."""
    doc = stack_template(template, cache)
    s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
    for key in sorted(code_keys(doc)):
        s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=key, Body=zipped(template.root / key))
    declared = doc.get("Parameters", {})
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(doc, separators=(",", ":")),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in template.params.items() if k in declared],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {STACK_NAME}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    return dict(stack)


def sam_environment(endpoint: str) -> dict[str, str]:
    """The variables SAM CLI needs to reach the local stack (it reads the region from AWS_DEFAULT_REGION)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }


def sam_hint(endpoint: str, function: str = "ApolloPullFunction") -> str:
    """The two SAM CLI commands, ready to paste (SAM CLI is in the project's virtual environment)."""
    venv_sam = Path(sys.executable).parent / "sam"
    sam = str(venv_sam) if venv_sam.exists() else "sam"
    env = " ".join(f"{k}={v}" for k, v in sam_environment(endpoint).items())
    return (
        f"SAM CLI on this stack:\n  {env} {sam} logs -n {function} --stack-name {STACK_NAME} --tail\n"
        f"  {env} {sam} list resources --stack-name {STACK_NAME}"
    )


def publish_api_url(url: str) -> str:
    """Give stack ``thera-local`` the HTTP API's outputs (MatcherApiUrl, ExplorerUrl) at the local API.

    moto's CloudFormation creates no HTTP API, so the outputs that name one keep ``${MatcherApi}``
    unresolved; ``thera --stack thera-local match`` reads MatcherApiUrl as it would in AWS. Runs in
    the emulator's process; returns ``url``."""
    from moto.cloudformation.models import cloudformation_backends

    from thera_local.template import ACCOUNT_ID

    for stack in cloudformation_backends[ACCOUNT_ID][REGION].stacks.values():
        if stack.name != STACK_NAME:
            continue
        for key in stack.output_map:
            output = stack.output_map[key]
            if output is not None and "${MatcherApi}" in str(output.value):
                output.value = f"{url}/"
    return url
