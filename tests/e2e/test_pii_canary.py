"""PII canaries planted in the company file never reach the public table or any log."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from tests.conftest import SAMPLE
from thera_local.emulator import aws_client
from thera_local.stack import StackInfo

EMAIL = "maria.canary@example-startup.com"
PHONE = "+55 (81) 99876-5432"
COMPANY_PHONE = "+1 415 555 0100"


def test_canaries_stay_out_of_public_rows_and_logs_and_reach_private_rows_masked(make_cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "canary.jsonl"
    lines = SAMPLE.read_text().splitlines()[:30]
    with data.open("w") as fh:
        for line in lines:
            company = json.loads(line)
            company["long_description"] = f"{company['long_description']} Talk to {EMAIL} or call {PHONE}."
            company["phone"] = COMPANY_PHONE
            fh.write(json.dumps(company) + "\n")
    cli = make_cli()
    done = cli.run("run", "daily", "--data", str(data))
    info = StackInfo.read(cli.home)
    assert info is not None
    template = info.template_obj()
    ddb = aws_client("dynamodb", info.endpoint)
    public = ddb.scan(TableName=template.physical("PublicStartupsTable"))["Items"]
    private = ddb.scan(TableName=template.physical("PrivateStartupsTable"))["Items"]
    assert len(public) == len(private) >= 25
    canaries = (EMAIL, "maria.canary", "99876", "5432", "555 0100", "4150100")
    public_text = json.dumps(public)
    assert not [c for c in canaries if c in public_text]
    logs = "".join(p.read_text() for p in (cli.home / "logs").glob("*.log")) + done.stdout + done.stderr
    assert "gold part published" in logs  # the logs are the pipeline's, not empty
    assert not [c for c in canaries if c in logs]
    masked = {v["S"] for row in private for v in row.get("phones", {"L": []})["L"]}
    assert "+1 ******0100" in masked  # the company's phone, masked, in the private table only
    emails = {v["S"] for row in private for v in row.get("emails", {"L": []})["L"]}
    assert "m***********@example-startup.com" in emails
    # the canary did go in: the raw landing keeps what the source said
    s3 = aws_client("s3", info.endpoint)
    bucket = template.physical("DataLakeBucket")
    raw_key = s3.list_objects_v2(Bucket=bucket, Prefix="raw/apollo/")["Contents"][0]["Key"]
    assert EMAIL in gzip.decompress(s3.get_object(Bucket=bucket, Key=raw_key)["Body"].read()).decode()
