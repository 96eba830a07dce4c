"""The lake's Glue tables, Athena named queries and analyst role in template.yaml, generated from the catalog.

``thera.lake.catalog`` (tables) and ``thera.lake.queries`` (named queries) are the one source; this module
renders the CloudFormation resources they imply and keeps them between two marker lines of template.yaml's
Resources, so the template cannot drift from them. The analyst role is generated too: it may read exactly
the catalog's prefixes, and a new table must widen it in the same change.

    python -m thera_local.catalog_template --write   # rewrite the block (make catalog)
    python -m thera_local.catalog_template --check   # exit 1 if template.yaml differs
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from thera.lake import catalog, queries
from thera_local import template_block

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BEGIN = "  # BEGIN generated lake catalog: python -m thera_local.catalog_template --write"
END = "  # END generated lake catalog"
RESULTS_PREFIX = "athena-results/"  # the workgroup's query results, in the lake bucket
DATABASE = "LakeDatabase"  # the hand-written resources the generated ones name
WORKGROUP = "LakeWorkGroup"
ROLE = "LakeAnalystRole"
PRINCIPAL_PARAMETER = "LakeAnalystPrincipal"

_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
_JSON = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
}


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def table_logical_id(table: catalog.Table) -> str:
    return f"LakeTable{_camel(table.name)}"


def query_logical_id(query: queries.NamedQuery) -> str:
    return f"LakeQuery{_camel(query.name)}"


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def glue_table(table: catalog.Table) -> dict[str, Any]:
    """An external table over ``<prefix>date=YYYY-MM-DD/``, its days projected rather than registered."""
    *columns, (partition, _) = table.columns
    assert partition == catalog.PARTITION
    storage = _PARQUET if table.format == "parquet" else _JSON
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": _ref("AWS::AccountId"),
            "DatabaseName": _ref(DATABASE),
            "TableInput": {
                "Name": table.name,
                "Description": table.description,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "EXTERNAL": "TRUE",
                    "classification": table.format,
                    "projection.enabled": "true",
                    f"projection.{partition}.type": "date",
                    f"projection.{partition}.format": "yyyy-MM-dd",
                    f"projection.{partition}.range": f"{catalog.PROJECTION_START},NOW",
                    f"projection.{partition}.interval": "1",
                    f"projection.{partition}.interval.unit": "DAYS",
                    # a Join, not a Sub with ${!dt}: LocalStack's engine takes ${!dt} for a resource to resolve
                    "storage.location.template": {
                        "Fn::Join": ["", ["s3://", _ref("DataLakeBucket"), f"/{table.prefix}date=${{{partition}}}/"]]
                    },
                },
                "PartitionKeys": [
                    {"Name": partition, "Type": "string", "Comment": "the business day of the date= folder"}
                ],
                "StorageDescriptor": {
                    "Location": _sub(f"s3://${{DataLakeBucket}}/{table.prefix}"),
                    **storage,
                    "Columns": [{"Name": name, "Type": catalog.glue_type(t)} for name, t in columns],
                },
            },
        },
    }


def named_query(query: queries.NamedQuery) -> dict[str, Any]:
    description = query.description
    if query.is_check:
        description += f" A check: fails when it returns rows: {query.failing_means}."
    return {
        "Type": "AWS::Athena::NamedQuery",
        "Properties": {
            "Name": query.name,
            "Description": description,
            "Database": _ref(DATABASE),
            "WorkGroup": _ref(WORKGROUP),
            "QueryString": query.sql,
        },
    }


def analyst_role() -> dict[str, Any]:
    """Read-only on the catalog's tables, writes only under the workgroup's results prefix."""
    prefixes = sorted({t.prefix for t in catalog.TABLES})
    glue = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": _sub("Thera ${Stage}: queries the lake's tables in its Athena workgroup, read-only"),
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": _sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:${{{PRINCIPAL_PARAMETER}}}")
                        },
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "query-the-lake",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "RunQueriesInTheWorkGroup",
                                "Effect": "Allow",
                                "Action": [
                                    "athena:StartQueryExecution",
                                    "athena:GetQueryExecution",
                                    "athena:GetQueryResults",
                                    "athena:StopQueryExecution",
                                    "athena:GetWorkGroup",
                                    "athena:ListNamedQueries",
                                    "athena:GetNamedQuery",
                                    "athena:BatchGetNamedQuery",
                                ],
                                "Resource": _sub(
                                    f"arn:${{AWS::Partition}}:athena:${{AWS::Region}}:${{AWS::AccountId}}"
                                    f":workgroup/${{{WORKGROUP}}}"
                                ),
                            },
                            {
                                "Sid": "ReadTheCatalog",
                                "Effect": "Allow",
                                "Action": [
                                    "glue:GetDatabase",
                                    "glue:GetDatabases",
                                    "glue:GetTable",
                                    "glue:GetTables",
                                    "glue:GetPartition",
                                    "glue:GetPartitions",
                                ],
                                "Resource": [
                                    _sub(f"{glue}:catalog"),
                                    _sub(f"{glue}:database/${{{DATABASE}}}"),
                                    _sub(f"{glue}:table/${{{DATABASE}}}/*"),
                                ],
                            },
                            {
                                "Sid": "ReadTheTables",
                                "Effect": "Allow",
                                "Action": "s3:GetObject",
                                "Resource": [_sub(f"${{DataLakeBucket.Arn}}/{p}*") for p in prefixes],
                            },
                            {
                                "Sid": "ListTheTablesAndResults",
                                "Effect": "Allow",
                                "Action": "s3:ListBucket",
                                "Resource": {"Fn::GetAtt": ["DataLakeBucket", "Arn"]},
                                "Condition": {
                                    "StringLike": {"s3:prefix": [f"{p}*" for p in [*prefixes, RESULTS_PREFIX]]}
                                },
                            },
                            {
                                "Sid": "LocateTheBucket",
                                "Effect": "Allow",
                                "Action": "s3:GetBucketLocation",
                                "Resource": {"Fn::GetAtt": ["DataLakeBucket", "Arn"]},
                            },
                            {
                                "Sid": "WriteAndReadQueryResults",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                                "Resource": _sub(f"${{DataLakeBucket.Arn}}/{RESULTS_PREFIX}*"),
                            },
                            {
                                "Sid": "EncryptAndDecryptQueryResults",
                                "Effect": "Allow",
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]},
                                "Condition": {
                                    "StringEquals": {"kms:ViaService": _sub("s3.${AWS::Region}.amazonaws.com")}
                                },
                            },
                        ],
                    },
                }
            ],
        },
    }


def resources() -> dict[str, dict[str, Any]]:
    """The generated resources by logical ID, as template.yaml parses (short tags as Fn:: mappings)."""
    out = {table_logical_id(t): glue_table(t) for t in catalog.TABLES}
    out.update({query_logical_id(q): named_query(q) for q in queries.QUERIES})
    out[ROLE] = analyst_role()
    return out


def render() -> str:
    """The block between (and including) the marker lines, newline-terminated."""
    return template_block.render_block(
        BEGIN, "From thera.lake.catalog and thera.lake.queries; edit those, not these lines.", END, resources()
    )


def current_block(text: str) -> str:
    """The block template.yaml holds now, marker lines included."""
    return template_block.current_block(text, BEGIN, END)


def rewritten(text: str) -> str:
    return text.replace(current_block(text), render(), 1)


def main(argv: list[str] | None = None) -> int:
    return template_block.main(argv, __doc__.splitlines()[0], TEMPLATE, rewritten, "lake catalog", "make catalog")


if __name__ == "__main__":
    sys.exit(main())
