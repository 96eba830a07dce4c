"""The template's stack created in the emulator, with what moto's CloudFormation leaves out."""

from __future__ import annotations

import json
from pathlib import Path

from thera_local.cloudformation import create_stack
from thera_local.cognito import UserPool, provision_user_pool
from thera_local.emulator.clients import aws_client
from thera_local.emulator.persistence import restore, restore_users
from thera_local.stepfunctions import deploy as deploy_state_machines
from thera_local.template import Template


def provision(
    template: Template,
    endpoint: str,
    secret_values: dict[str, str],
    restore_from: Path | None = None,
    cache: Path | None = None,
) -> UserPool | None:
    """Create the template's stack in the emulator's CloudFormation, then what moto's CloudFormation
    leaves out: the functions' environment variables it cannot resolve, secret values, queue
    policies, TTL, versioning, public access blocks, notifications, state machines in moto's
    executing Step Functions engine, the user pool (ApiAuth=Cognito; it is returned, None otherwise)
    with the users saved with it.

    Objects and items saved by ``snapshot`` are put back before the bucket
    notifications are wired, so restoring state does not re-trigger the stages. ``cache`` keeps
    the template's translation between starts.
    """
    s3, sqs, ddb = aws_client("s3", endpoint), aws_client("sqs", endpoint), aws_client("dynamodb", endpoint)
    secrets = aws_client("secretsmanager", endpoint)
    create_stack(template, aws_client("cloudformation", endpoint), s3, cache)
    lam = aws_client("lambda", endpoint)
    for spec in template.functions().values():  # moto's CloudFormation drops the variables it cannot resolve
        lam.update_function_configuration(FunctionName=spec.name, Environment={"Variables": spec.environment})
    deploy_state_machines(template, endpoint, aws_client("stepfunctions", endpoint))

    for res in template.of_type("AWS::SQS::QueuePolicy").values():
        props = template.resolve(res["Properties"])
        for url in props["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=url.replace("{sqs_endpoint}", endpoint),
                Attributes={"Policy": json.dumps(props["PolicyDocument"])},
            )

    for logical, res in template.of_type("AWS::DynamoDB::Table").items():
        ttl = template.resolve(res["Properties"]).get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(
                TableName=template.physical(logical),
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
            )

    for logical in template.of_type("AWS::SecretsManager::Secret"):
        name = template.physical(logical)
        if logical not in secret_values:
            raise ValueError(f"no local value for secret {logical}")
        secrets.create_secret(Name=name, SecretString=secret_values[logical])

    # Bucket policies are not applied: moto enforces them, and the TLS-only policy would refuse
    # every call over the emulator's plain-HTTP loopback endpoint.
    if restore_from is not None:
        restore(restore_from, endpoint)

    for logical, res in template.of_type("AWS::S3::Bucket").items():
        props = template.resolve(res.get("Properties", {}))
        name = template.physical(logical)
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        notif = props.get("NotificationConfiguration", {})
        queue_configs = [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                "Filter": {"Key": {"FilterRules": q.get("Filter", {}).get("S3Key", {}).get("Rules", [])}},
            }
            for q in notif.get("QueueConfigurations", [])
        ]
        if queue_configs:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"QueueConfigurations": queue_configs}
            )

    idp = aws_client("cognito-idp", endpoint)
    pool = provision_user_pool(template, idp)
    if pool is not None and restore_from is not None:  # the pool's ids are its ids of before (stable_cognito_ids)
        restore_users(restore_from, idp, pool.pool_id)
    return pool
